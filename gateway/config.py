"""TOML configuration: the section and key names are part of the operator contract (design.md).

Every secret may be written as ``env:NAME``; it is resolved when the file is loaded, so a
missing variable is reported like any other bad key. Unknown keys are errors, because an
operator's typo (``auth_tokn``) must never silently disable signature checking.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONFIG_ENV = "LAPOR_GATEWAY_CONFIG"


class ConfigError(Exception):
    """A config file that cannot be used; the message names the bad key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = Field(
        default=None, description="Public base URL, used to rebuild signed URLs behind a reverse proxy."
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_header_bytes: int = Field(default=16_384, ge=1024)

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value


class StorageConfig(_Section):
    path: Path = Path("var/outbox.sqlite3")
    attachments_dir: Path = Path("var/attachments")
    synchronous: Literal["FULL", "NORMAL", "EXTRA"] = "FULL"
    max_attachment_bytes: int = Field(default=10 * 1_048_576, ge=1)
    max_message_attachment_bytes: int = Field(default=25 * 1_048_576, ge=1)
    attachment_types: list[str] = Field(
        default_factory=lambda: [
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
            "image/heic",
            "application/pdf",
            "audio/*",
            "video/*",
            "text/plain",
        ]
    )


class BrokerConfig(_Section):
    url: str = "amqp://guest:guest@localhost:5672/"
    exchange: str = "lapor.reports"
    declare_topology: bool = True
    queue: str = "lapor.reports"
    connection_name: str = "lapor-gateway"
    max_in_flight: int = Field(default=256, ge=1)
    confirm_timeout: float = Field(default=30.0, gt=0)
    retry_initial: float = Field(default=0.5, gt=0)
    retry_max: float = Field(default=30.0, gt=0)


class RoutingConfig(_Section):
    default_agency: str | None = None
    addresses: dict[str, str] = Field(default_factory=dict)


class WebChannelConfig(_Section):
    enabled: bool = True
    csrf_secret: str | None = Field(
        default=None, description="Signs the form's CSRF tokens; generated per process when absent (one process only)."
    )
    csrf_ttl: float = Field(default=4 * 3600.0, gt=0, description="Seconds a form's CSRF token stays valid.")
    # Indonesian mobile carriers put many citizens behind one address (CGNAT): generous by default.
    rate_limit: int = Field(default=30, ge=0, description="Form submissions per client address per window; 0: off.")
    rate_limit_window: float = Field(default=600.0, gt=0)
    trusted_proxies: list[str] = Field(
        default_factory=list, description="Reverse proxies whose X-Forwarded-For names the client for the rate limit."
    )
    max_form_bytes: int = Field(default=26 * 1_048_576, ge=65_536, description="Cap on one form POST, files included.")
    max_files: int = Field(default=5, ge=0, le=20)
    max_file_bytes: int = Field(default=5 * 1_048_576, ge=1024)


class TokenProviderConfig(_Section):
    token: str


class TwilioConfig(_Section):
    auth_token: str
    # Sending (acknowledgements): without account_sid, SMS that came in through Twilio get no reply.
    account_sid: str | None = None
    messaging_service_sid: str | None = Field(default=None, description="Send from this service, not the short code.")
    api_url: str = "https://api.twilio.com"


class VonageConfig(_Section):
    signature_secret: str
    signature_method: Literal["md5hash", "md5", "sha1", "sha256", "sha512"] = "sha256"
    # Sending (acknowledgements) through the SMS API; without api_key no reply is sent.
    api_key: str | None = None
    api_secret: str | None = None
    api_url: str = "https://rest.nexmo.com"


class KannelConfig(TokenProviderConfig):
    # Sending (acknowledgements) through Kannel's sendsms interface; without sendsms_url no reply is sent.
    sendsms_url: str | None = Field(default=None, description="e.g. http://127.0.0.1:13013/cgi-bin/sendsms")
    username: str | None = None
    password: str | None = None


class GenericSmsConfig(TokenProviderConfig):
    # Sending (acknowledgements) to any HTTP SMS gateway: a JSON body built from send_body, whose string
    # values may use {to} {from} {text} {tracking_code} {idempotency_key}; an Idempotency-Key header is sent.
    send_url: str | None = None
    send_token: str | None = Field(default=None, description="Sent as Authorization: Bearer.")
    send_body: dict[str, str] = Field(default_factory=lambda: {"to": "{to}", "from": "{from}", "text": "{text}"})


class SmsChannelConfig(_Section):
    short_code: str = "1708"
    default_region: str = "ID"
    multipart_timeout: float = Field(default=600.0, gt=0)
    twilio: TwilioConfig | None = None
    vonage: VonageConfig | None = None
    kannel: KannelConfig | None = None
    generic: GenericSmsConfig | None = None


class WhatsAppChannelConfig(_Section):
    verify_token: str
    app_secret: str
    access_token: str
    api_url: str = "https://graph.facebook.com/v21.0"
    media_timeout: float = Field(default=300.0, gt=0)


class TelegramChannelConfig(_Section):
    bot_token: str
    secret_token: str | None = None
    mode: Literal["webhook", "polling"] = "webhook"
    api_url: str = "https://api.telegram.org"
    allow_groups: bool = False
    media_timeout: float = Field(default=300.0, gt=0)
    bot_username: str | None = Field(
        default=None, description="The bot's username (inbound_address); asked with getMe at start when absent."
    )
    poll_timeout: int = Field(default=30, ge=0, le=50, description="getUpdates long-poll seconds (polling mode).")

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> TelegramChannelConfig:
        # Without the secret anyone who finds the URL could file reports in a citizen's name.
        if self.mode == "webhook" and not self.secret_token:
            raise ValueError("secret_token is required when mode is \"webhook\"")
        return self


class ImapConfig(_Section):
    host: str
    port: int = 993
    tls: bool = True
    username: str
    password: str
    folder: str = "INBOX"
    processed_folder: str | None = None
    idle: bool = True
    poll_interval: float = Field(default=60.0, gt=0)
    # RFC 2177: servers may drop an IDLE after 30 minutes; re-issuing it well before keeps the session alive.
    idle_renew: float = Field(default=600.0, gt=0, le=1500)
    reconnect_initial: float = Field(default=1.0, gt=0)
    reconnect_max: float = Field(default=300.0, gt=0)
    timeout: float = Field(default=60.0, gt=0, description="Socket timeout for every IMAP command.")
    max_message_bytes: int = Field(
        default=26_214_400, ge=1024, description="Larger messages are quarantined with their headers only."
    )


class SmtpConfig(_Section):
    host: str = "127.0.0.1"
    port: int = 2525
    domains: list[str]
    max_message_bytes: int = Field(default=26_214_400, ge=1024)
    max_recipients: int = Field(default=50, ge=1)
    hostname: str | None = Field(default=None, description="Name in the greeting; default: the host name.")
    tls_cert: Path | None = None
    tls_key: Path | None = None
    require_tls: bool = Field(default=False, description="Refuse mail until the client issued STARTTLS.")
    auth_users: dict[str, str] = Field(default_factory=dict, description="SMTP AUTH user name -> password.")
    auth_required: bool = False
    auth_require_tls: bool = Field(default=True, description="Offer AUTH only on a STARTTLS connection.")

    @model_validator(mode="after")
    def _tls_and_auth_complete(self) -> SmtpConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        if self.require_tls and self.tls_cert is None:
            raise ValueError("require_tls needs tls_cert and tls_key")
        if self.auth_required and not self.auth_users:
            raise ValueError("auth_required needs auth_users")
        return self


class EmailChannelConfig(_Section):
    own_domains: list[str] = Field(
        default_factory=list,
        description="Message-ID domains of mail the gateway or the agency sends; such mail is a loop, never a report.",
    )
    imap: ImapConfig | None = None
    smtp: SmtpConfig | None = None


class ChannelsConfig(_Section):
    web: WebChannelConfig | None = WebChannelConfig()
    sms: SmsChannelConfig | None = None
    whatsapp: WhatsAppChannelConfig | None = None
    telegram: TelegramChannelConfig | None = None
    email: EmailChannelConfig | None = None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> float:
    """Seconds in "90s", "30m", "12h", "14d", "2w"; ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration like 14d, 12h or 30m: {text!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


class DedupConfig(_Section):
    enabled: bool = True
    window: str = "14d"  # how far back a resend by the same person is looked for
    threshold: float = Field(default=0.8, gt=0, le=1)
    cluster_threshold: float = Field(default=0.6, gt=0, le=1)  # same event, different reporters
    cluster_window: str = "3d"
    # In-memory cluster index slots, about 260 bytes each (the default: 17 MB once full); the oldest
    # entry is forgotten when a new one needs its slot. Size it to the reports of one cluster_window
    # at peak: 65,536 is 21,000 a day for 3 days, against 558 a day in one province.
    # lapor_dedup_index_forgotten_inside_window_total counts what a too-small index forgets.
    cluster_capacity: int = Field(default=65_536, ge=1024, le=100_000_000)

    @field_validator("window", "cluster_window")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def window_seconds(self) -> float:
        return parse_duration(self.window)

    @property
    def cluster_window_seconds(self) -> float:
        return parse_duration(self.cluster_window)


class LoggingConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console", "auto"] = "auto"


class AckTemplatesConfig(_Section):
    """One language's acknowledgement texts; {tracking_code} is the code the citizen keeps."""

    received: str
    duplicate: str  # a near duplicate: {tracking_code} is the earlier report's code
    subject: str  # email subject line

    @field_validator("received", "duplicate", "subject")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        try:
            value.format_map({"tracking_code": "LPR-XXXXXXXX"})
        except (KeyError, ValueError, IndexError) as error:
            raise ValueError(f"only {{tracking_code}} may be used: {error}") from None
        return value

    @field_validator("received", "duplicate")
    @classmethod
    def _shows_code(cls, value: str) -> str:
        if "{tracking_code}" not in value:
            raise ValueError("the text must contain {tracking_code}")
        return value


# Indonesian SMS text within one 160-character GSM-7 segment (tests/acks check it).
DEFAULT_ACK_TEMPLATES = {
    "id": AckTemplatesConfig(
        received="LAPOR! 1708: Laporan Anda kami terima. Kode lacak: {tracking_code}. "
        "Diverifikasi paling lambat 3 hari kerja. Simpan kode ini untuk cek status.",
        duplicate="LAPOR! 1708: Laporan ini sudah kami terima dengan kode {tracking_code}. "
        "Tidak perlu mengirim ulang. Diverifikasi paling lambat 3 hari kerja.",
        subject="Laporan diterima: {tracking_code}",
    ),
    "en": AckTemplatesConfig(
        received="LAPOR! 1708: We received your report. Tracking code: {tracking_code}. "
        "Verified within 3 working days. Keep this code to check its status.",
        duplicate="LAPOR! 1708: We already have your report {tracking_code}. "
        "No need to send it again. Verified within 3 working days.",
        subject="Report received: {tracking_code}",
    ),
}


class AckEmailConfig(_Section):
    """The SMTP relay that carries email auto-replies (RFC 3834)."""

    relay_host: str = "127.0.0.1"
    relay_port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    from_address: str | None = Field(default=None, description="Default: the mailbox the citizen wrote to.")
    interval: float = Field(default=3600.0, ge=0, description="At most one auto-reply per address per interval (s).")


class AcksConfig(_Section):
    """Acknowledgements: the tracking code sent back on the channel a report came in on."""

    enabled: bool = True
    default_language: str = "id"
    templates: dict[str, AckTemplatesConfig] = Field(default_factory=lambda: dict(DEFAULT_ACK_TEMPLATES))
    concurrency: int = Field(default=16, ge=1, le=1024)
    timeout: float = Field(default=15.0, gt=0)
    retry_initial: float = Field(default=5.0, gt=0)
    retry_max: float = Field(default=600.0, gt=0)
    max_attempts: int = Field(default=20, ge=1)  # with the default backoff: about 2 hours of trying
    # Intake first: while reports are being accepted, acknowledgements are written and sent in a quiet
    # moment (no report accepted for 50 ms), at most this many seconds after the report (0: at once).
    max_defer: float = Field(default=60.0, ge=0)
    email: AckEmailConfig = AckEmailConfig()

    @field_validator("templates")
    @classmethod
    def _has_defaults(cls, value: dict[str, AckTemplatesConfig]) -> dict[str, AckTemplatesConfig]:
        return {**DEFAULT_ACK_TEMPLATES, **value}

    @model_validator(mode="after")
    def _default_language_has_templates(self) -> AcksConfig:
        if self.default_language not in self.templates:
            raise ValueError(f"default_language {self.default_language!r} has no [acks.templates] entry")
        return self


class Config(_Section):
    http: HttpConfig = HttpConfig()
    storage: StorageConfig = StorageConfig()
    broker: BrokerConfig = BrokerConfig()
    routing: RoutingConfig = RoutingConfig()
    channels: ChannelsConfig = ChannelsConfig()
    dedup: DedupConfig = DedupConfig()
    acks: AcksConfig = AcksConfig()
    logging: LoggingConfig = LoggingConfig()


def resolve_env(value: Any, path: tuple[str, ...] = ()) -> Any:
    """Replace every ``env:NAME`` string with the variable's value; a missing one names its key."""
    if isinstance(value, Mapping):
        return {key: resolve_env(item, (*path, str(key))) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_env(item, (*path, str(index))) for index, item in enumerate(value)]
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ConfigError(f"{'.'.join(path)}: environment variable {name} is not set")
        return os.environ[name]
    return value


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        reason = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        lines.append(f"{key}: {reason}")
    return "; ".join(lines)


def parse_config(data: Mapping[str, Any]) -> Config:
    try:
        return Config.model_validate(resolve_env(data))
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def load_config(path: str | Path | None = None) -> Config:
    """Load FILE, else $LAPOR_GATEWAY_CONFIG, else the embedded defaults."""
    chosen = path or os.environ.get(CONFIG_ENV)
    if not chosen:
        return Config()
    try:
        with open(chosen, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{chosen}: no such config file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{chosen}: not valid TOML: {error}") from None
    return parse_config(data)

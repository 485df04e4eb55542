"""TOML configuration: the section and key names are part of the operator contract (design.md).

Every secret may be written as ``env:NAME``; it is resolved when the file is loaded, so a
missing variable is reported like any other bad key. Unknown keys are errors, because an
operator's typo (``auth_tokn``) must never silently disable signature checking.
"""

from __future__ import annotations

import os
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


class TokenProviderConfig(_Section):
    token: str


class TwilioConfig(_Section):
    auth_token: str


class VonageConfig(_Section):
    signature_secret: str
    signature_method: Literal["md5hash", "md5", "sha1", "sha256", "sha512"] = "sha256"


class SmsChannelConfig(_Section):
    short_code: str = "1708"
    default_region: str = "ID"
    multipart_timeout: float = Field(default=600.0, gt=0)
    twilio: TwilioConfig | None = None
    vonage: VonageConfig | None = None
    kannel: TokenProviderConfig | None = None
    generic: TokenProviderConfig | None = None


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


class SmtpConfig(_Section):
    host: str = "127.0.0.1"
    port: int = 2525
    domains: list[str]
    max_message_bytes: int = Field(default=26_214_400, ge=1024)


class EmailChannelConfig(_Section):
    imap: ImapConfig | None = None
    smtp: SmtpConfig | None = None


class ChannelsConfig(_Section):
    web: WebChannelConfig | None = WebChannelConfig()
    sms: SmsChannelConfig | None = None
    whatsapp: WhatsAppChannelConfig | None = None
    telegram: TelegramChannelConfig | None = None
    email: EmailChannelConfig | None = None


class DedupConfig(_Section):
    window: str = "14d"
    threshold: float = Field(default=0.8, gt=0, le=1)


class LoggingConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console", "auto"] = "auto"


class Config(_Section):
    http: HttpConfig = HttpConfig()
    storage: StorageConfig = StorageConfig()
    broker: BrokerConfig = BrokerConfig()
    routing: RoutingConfig = RoutingConfig()
    channels: ChannelsConfig = ChannelsConfig()
    dedup: DedupConfig = DedupConfig()
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

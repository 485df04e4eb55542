"""What every SMS provider webhook shares: parameter parsing, tokens, text decoding, the request flow.

A provider module only knows its own field names, how its requests are signed and how it wants to
be answered; everything else (reading the capped body, form/query/JSON parsing at the byte level so
a declared charset can still be honoured, refusing with 403, committing before answering) is here.
"""

from __future__ import annotations

import binascii
import codecs
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol
from urllib.parse import unquote_to_bytes

import structlog
from aiohttp import web
from multidict import CIMultiDictProxy

from adapters.common import constant_time_equal, decode_utf8, json_object_body, read_body
from gateway.config import TokenProviderConfig
from gateway.http import RequestError
from gateway.metrics import Metrics
from normalizer.contact import to_e164

log = structlog.get_logger("sms")

MAX_FIELDS = 100
MAX_TOKEN_CHARS = 200
MAX_TEXT_CHARS = 20_000  # 255 concatenated UCS-2 parts are ~17k characters; more is not an SMS
FORM = "application/x-www-form-urlencoded"
# Charsets an SMS gateway may declare for the text it forwards (Kannel %C); anything else is refused
# rather than guessed, so a citizen's words are never silently mangled.
CHARSETS = {
    "utf-8": "utf-8", "utf8": "utf-8", "utf-16be": "utf-16-be", "utf-16": "utf-16", "ucs-2": "utf-16-be",
    "ucs2": "utf-16-be", "iso-8859-1": "latin-1", "latin1": "latin-1", "windows-1252": "cp1252",
    "us-ascii": "ascii", "ascii": "ascii",
}


class Params:
    """Request parameters in arrival order, values kept as bytes until their charset is known."""

    def __init__(self, pairs: Iterable[tuple[str, bytes]] = ()) -> None:
        self.pairs = list(pairs)

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        return iter(self.pairs)

    def raw(self, key: str) -> bytes | None:
        for name, value in self.pairs:
            if name == key:
                return value
        return None

    def text(self, key: str, charset: str = "utf-8") -> str | None:
        value = self.raw(key)
        if value is None:
            return None
        if charset == "utf-8":
            return decode_utf8(value, key)
        try:
            return value.decode(charset)
        except UnicodeDecodeError:
            raise RequestError(400, "invalid_encoding", f"{key} is not valid {charset}", field=key) from None

    def token(self, key: str) -> str | None:
        """A number, short code or message id: one printable line, bounded (it ends up in keys and URNs)."""
        value = (self.text(key) or "").strip()
        if not value:
            return None
        if len(value) > MAX_TOKEN_CHARS or not value.isprintable():
            raise RequestError(422, "invalid_fields", f"{key}: not a usable address or id", field=key)
        return value

    def required(self, key: str) -> str:
        value = self.token(key)
        if value is None:
            raise RequestError(422, "invalid_fields", f"{key}: required", field=key)
        return value

    def decoded(self) -> list[tuple[str, str]]:
        """Every parameter as UTF-8 text: what signatures are computed over."""
        return [(name, decode_utf8(value, name)) for name, value in self.pairs]


def parse_urlencoded(data: bytes, where: str) -> Params:
    """application/x-www-form-urlencoded at the byte level (``+`` is a space, %XX a byte)."""
    pairs: list[tuple[str, bytes]] = []
    for chunk in data.split(b"&"):
        if not chunk:
            continue
        key, _, value = chunk.partition(b"=")
        name = decode_utf8(unquote_to_bytes(key.replace(b"+", b" ")), where)
        if not name or not name.isprintable():
            raise RequestError(400, "malformed_form", f"{where} has a parameter without a usable name", field=where)
        pairs.append((name, unquote_to_bytes(value.replace(b"+", b" "))))
        if len(pairs) > MAX_FIELDS:
            raise RequestError(400, "malformed_form", f"{where} has more than {MAX_FIELDS} parameters", field=where)
    return Params(pairs)


def parse_json_object(data: bytes) -> Params:
    """A flat JSON object (Vonage POST-JSON, generic JSON) as parameters; scalars as their text."""
    value = json_object_body(data)
    if len(value) > MAX_FIELDS:
        raise RequestError(400, "malformed_json", f"request body has more than {MAX_FIELDS} fields")
    return Params((str(key), _json_text(item).encode()) for key, item in value.items() if item is not None)


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One provider request, read and parsed once; ``params`` are the body's (POST) or the query's (GET)."""

    method: str
    url: str  # as received: scheme://host + raw path and query
    raw_path: str
    headers: CIMultiDictProxy[str]
    query: Params
    params: Params
    body: bytes
    content_type: str

    @classmethod
    async def read(cls, request: web.Request) -> WebhookRequest:
        body = await read_body(request)
        raw_query = request.raw_path.partition("?")[2].encode("utf-8", "surrogateescape")
        query = parse_urlencoded(raw_query, "query")
        content_type = request.content_type
        if request.method == "GET":
            params = query
        elif not body:
            params = Params()
        elif content_type == FORM:
            params = parse_urlencoded(body, "body")
        elif content_type == "application/json":
            params = parse_json_object(body)
        else:
            raise RequestError(415, "unsupported_media_type", f"send {FORM} or application/json")
        url = f"{request.scheme}://{request.host}{request.raw_path}"
        return cls(request.method, url, request.raw_path, request.headers, query, params, body, content_type)

    def archive(self) -> tuple[bytes, str]:
        """The original to store beside the report: the body, or for GET the query without its token."""
        if self.method != "GET" and self.body:
            return self.body, self.content_type
        kept = [part for part in self.raw_path.partition("?")[2].split("&") if not part.startswith("token=")]
        return "&".join(kept).encode("utf-8", "surrogateescape"), FORM


@dataclass(frozen=True, slots=True)
class ConcatInfo:
    """Where one part of a concatenated (multipart) SMS belongs."""

    ref: str
    total: int
    number: int


@dataclass(frozen=True, slots=True)
class InboundSms:
    """What a provider adapter extracts from its request."""

    sender: str
    text: str
    message_id: str | None
    to: str | None  # the number or short code the citizen texted, when the provider says
    raw: bytes
    raw_content_type: str
    concat: ConcatInfo | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a webhook's message, for the provider's answer."""

    status: str  # accepted | duplicate | part_stored
    id: str | None = None
    tracking_code: str | None = None


class Provider(Protocol):
    name: str
    methods: tuple[str, ...]
    summary: str

    @property
    def fields(self) -> Mapping[str, str]:
        """The message fields it reads, with their meaning (for /openapi.json)."""

    @property
    def required_fields(self) -> tuple[str, ...]: ...

    @property
    def auth(self) -> Mapping[str, Any]:
        """The OpenAPI parameter that authenticates it."""

    def verify(self, request: WebhookRequest) -> None:
        """Raise Forbidden unless the request provably comes from the provider."""

    def parse(self, request: WebhookRequest) -> InboundSms: ...

    def answer(self, outcome: Outcome) -> web.Response:
        """The success answer the provider expects, given once the message (or part) is committed."""

    def responses(self) -> dict[str, Any]:
        """The OpenAPI responses of the success answer."""


class Forbidden(RequestError):
    """A missing or wrong signature or token: 403, logged without the body, nothing stored."""

    def __init__(self, reason: str) -> None:
        super().__init__(403, "forbidden", "the request could not be authenticated")
        self.reason = reason


def refuse(metrics: Metrics, provider: str, error: RequestError) -> None:
    """Count and log a refused webhook: what was wrong, never the body (it holds a citizen's words)."""
    if isinstance(error, Forbidden):
        metrics.rejected.labels("sms", "signature").inc()
        log.warning("sms webhook refused", provider=provider, reason=error.reason)
    else:
        metrics.rejected.labels("sms", error.code).inc()
        log.info("sms webhook refused", provider=provider, status=error.status, error=error.code, field=error.field)


def check_token(request: WebhookRequest, expected: str) -> None:
    """A shared secret as the ``token`` query parameter or ``Authorization: Bearer``."""
    given = request.query.raw("token")
    authorization = request.headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if given is None and scheme.lower() == "bearer":
        given = credentials.strip().encode()
    if given is None:
        raise Forbidden("token missing")
    if not constant_time_equal(given, expected):
        raise Forbidden("token wrong")


class TokenProvider:
    """A provider that proves itself with a shared token (Kannel, generic): the part they share."""

    auth: ClassVar[dict[str, Any]] = {
        "name": "token", "in": "query", "required": False, "schema": {"type": "string"},
        "description": "The shared token (channels.sms.<provider>.token); or send Authorization: Bearer <token>.",
    }

    def __init__(self, config: TokenProviderConfig) -> None:
        self.token = config.token

    def verify(self, request: WebhookRequest) -> None:
        check_token(request, self.token)


def decode_text(params: Params, key: str, charset: str | None) -> str:
    """The message text in its declared charset (Kannel %C), UTF-8 when none is declared."""
    if charset is None:
        return params.text(key) or ""
    codec = CHARSETS.get(charset.strip().lower())
    if codec is None:
        raise RequestError(422, "invalid_fields", f"charset: {charset!r} is not supported", field="charset")
    return params.text(key, codec) or ""


def decode_ucs2_hex(value: str, field: str) -> str:
    """UCS-2/UTF-16BE text written as hex digits, as SMS gateways pass unicode messages."""
    try:
        data = binascii.unhexlify(value.strip())
        return codecs.decode(data, "utf-16-be")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise RequestError(400, "invalid_encoding", f"{field} is not hex-encoded UCS-2", field=field) from None


def international_msisdn(msisdn: str) -> str:
    """A number the provider documents as international without '+', with its '+' when that is valid.

    Otherwise it is passed on exactly as given, so an alphanumeric sender is kept, not altered.
    """
    candidate = "+" + msisdn
    if msisdn.isdigit() and to_e164(candidate) is not None:
        return candidate
    return msisdn


def concat_info(params: Params, ref_key: str, total_key: str, part_key: str) -> ConcatInfo | None:
    """The concatenation fields, when present; a single-part 'concat' is just an SMS."""
    ref, total, part = (params.token(key) for key in (ref_key, total_key, part_key))
    if ref is None and total is None and part is None:
        return None
    if not ref or not total or not part:
        raise RequestError(422, "invalid_fields", f"{ref_key}, {total_key} and {part_key} go together",
                           field=ref_key)
    try:
        total_number, part_number = int(total), int(part)
    except ValueError:
        raise RequestError(422, "invalid_fields", f"{total_key} and {part_key} must be numbers",
                           field=total_key) from None
    if not 1 <= part_number <= total_number <= 255:
        raise RequestError(422, "invalid_fields", f"{part_key} must be within 1..{total_key} (at most 255)",
                           field=part_key)
    if total_number == 1:
        return None
    return ConcatInfo(ref, total_number, part_number)


def checked_text(text: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        raise RequestError(422, "invalid_fields", f"text: longer than {MAX_TEXT_CHARS} characters", field="text")
    return text

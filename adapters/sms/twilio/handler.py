"""Twilio Programmable Messaging: form POST signed with X-Twilio-Signature, answered with empty TwiML."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from adapters.common import constant_time_equal
from adapters.sms.webhook import Forbidden, InboundSms, Outcome, WebhookRequest, checked_text
from gateway.config import TwilioConfig

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
DEFAULT_PORTS = {"https": 443, "http": 80}


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """base64(HMAC-SHA1(token, url + every name+value, names sorted, a name's values sorted))."""
    grouped: dict[str, set[str]] = {}
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    payload = url + "".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """The URL as given, with its default port added or removed: Twilio's own validator tries both."""
    parts = urlsplit(url)
    default = DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    variants = [url]
    if default is not None and parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{_userinfo(parts.netloc)}{host}:{default}")))
    elif default is not None and parts.port == default:
        variants.append(urlunsplit(parts._replace(netloc=f"{_userinfo(parts.netloc)}{host}")))
    return variants


def _userinfo(netloc: str) -> str:
    userinfo, at, _ = netloc.rpartition("@")
    return f"{userinfo}{at}"


def valid_signature(auth_token: str, url: str, params: list[tuple[str, str]], given: str | None) -> bool:
    # Every variant is computed and compared, so the time taken does not tell which one matched.
    matches = [constant_time_equal(given, signature(auth_token, variant, params)) for variant in url_variants(url)]
    return any(matches)


class Twilio:
    name = "twilio"
    methods: tuple[str, ...] = ("GET", "POST")
    summary = "Twilio inbound SMS (form POST or GET, X-Twilio-Signature over http.public_url + path)"
    fields: ClassVar[dict[str, str]] = {
        "MessageSid": "Twilio's message id (its retries repeat it)", "From": "Sender, E.164",
        "To": "The number or short code texted", "Body": "The message text"}
    required_fields: ClassVar[tuple[str, ...]] = ("MessageSid", "From")
    auth: ClassVar[dict[str, Any]] = {
        "name": "X-Twilio-Signature", "in": "header", "required": True, "schema": {"type": "string"},
        "description": "base64 HMAC-SHA1 over http.public_url + path and query (+ the sorted form fields)",
    }

    def __init__(self, config: TwilioConfig, public_url: str | None) -> None:
        self.auth_token = config.auth_token
        self.public_url = public_url

    def signed_url(self, request: WebhookRequest) -> str:
        """The URL Twilio signed: behind a reverse proxy only the configured public URL is right."""
        if self.public_url:
            return self.public_url + request.raw_path
        return request.url

    def verify(self, request: WebhookRequest) -> None:
        given = request.headers.get("X-Twilio-Signature")
        if given is None:
            raise Forbidden("X-Twilio-Signature missing")
        # A GET is signed over its URL alone (the query is in it); a POST over the URL and the form fields.
        params = request.params.decoded() if request.method == "POST" else []
        if not valid_signature(self.auth_token, self.signed_url(request), params, given):
            raise Forbidden("X-Twilio-Signature wrong")

    def parse(self, request: WebhookRequest) -> InboundSms:
        params = request.params
        raw, raw_type = request.archive()
        return InboundSms(
            sender=params.required("From"),
            text=checked_text(params.text("Body") or ""),
            message_id=params.token("MessageSid") or params.token("SmsSid") or params.required("MessageSid"),
            to=params.token("To"),
            raw=raw,
            raw_content_type=raw_type,
        )

    def answer(self, outcome: Outcome) -> web.Response:
        return web.Response(text=EMPTY_TWIML, content_type="text/xml", charset="utf-8")

    def responses(self) -> dict[str, Any]:
        return {"200": {"description": "Stored; empty TwiML so Twilio sends no reply",
                        "content": {"text/xml": {"schema": {"type": "string", "example": EMPTY_TWIML}}}}}

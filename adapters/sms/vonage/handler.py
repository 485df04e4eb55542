"""Vonage (Nexmo) inbound SMS: GET query, POST form or POST JSON; signed webhooks carry ``sig``."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any, ClassVar

from aiohttp import web

from adapters.common import constant_time_equal
from adapters.sms.webhook import (
    Forbidden,
    InboundSms,
    Outcome,
    WebhookRequest,
    checked_text,
    concat_info,
    international_msisdn,
)
from gateway.config import VonageConfig

HMAC_HASHES = {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def signature(secret: str, method: str, params: Iterable[tuple[str, str]]) -> str:
    """Vonage's signed-SMS digest: every parameter but ``sig``, sorted by name, '&' and '=' in values as '_'."""
    payload = "".join(
        f"&{name}={value.replace('&', '_').replace('=', '_')}"
        for name, value in sorted((name, value) for name, value in params if name != "sig")
    )
    if method == "md5hash":
        return hashlib.md5((payload + secret).encode()).hexdigest()
    return hmac.new(secret.encode(), payload.encode(), HMAC_HASHES[method]).hexdigest()


class Vonage:
    name = "vonage"
    methods: tuple[str, ...] = ("GET", "POST")
    summary = "Vonage inbound SMS (GET query, POST form or JSON; signed with `sig`)"
    fields: ClassVar[dict[str, str]] = {
        "messageId": "Vonage's message id (its retries repeat it)", "msisdn": "Sender, international",
        "to": "The number or short code texted", "text": "The message text",
        "concat-ref": "Long SMS: the parts' shared reference", "concat-total": "Long SMS: number of parts",
        "concat-part": "Long SMS: this part's number (from 1)", "timestamp": "Signed-webhook time"}
    required_fields: ClassVar[tuple[str, ...]] = ("messageId", "msisdn", "sig")
    auth: ClassVar[dict[str, Any]] = {
        "name": "sig", "in": "query", "required": False, "schema": {"type": "string"},
        "description": "Signature (channels.sms.vonage.signature_method); a field of the body in a POST",
    }

    def __init__(self, config: VonageConfig) -> None:
        self.secret = config.signature_secret
        self.method = config.signature_method

    def verify(self, request: WebhookRequest) -> None:
        params = request.params.decoded()
        given = dict(params).get("sig")
        if given is None:
            raise Forbidden("sig missing")
        expected = signature(self.secret, self.method, params)
        if not constant_time_equal(given.lower(), expected):
            raise Forbidden("sig wrong")

    def parse(self, request: WebhookRequest) -> InboundSms:
        params = request.params
        raw, raw_type = request.archive()
        return InboundSms(
            sender=international_msisdn(params.required("msisdn")),
            text=checked_text(params.text("text") or ""),
            message_id=params.required("messageId"),
            to=params.token("to"),
            raw=raw,
            raw_content_type=raw_type,
            concat=concat_info(params, "concat-ref", "concat-total", "concat-part"),
        )

    def answer(self, outcome: Outcome) -> web.Response:
        return web.Response(status=204)

    def responses(self) -> dict[str, Any]:
        return {"204": {"description": "Stored (a part: stored until its message is complete); Vonage stops "
                                       "retrying"}}

"""Kannel sms-service get-url: the citizen's SMS as query parameters, authenticated by a shared token.

Configure Kannel with, e.g.:
    get-url = "https://gateway/webhooks/sms/kannel?token=SECRET&sender=%p&to=%P&text=%a&id=%I&coding=%c&charset=%C"
    max-messages = 0   (the gateway answers with an empty 200, which must not become a reply SMS)
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiohttp import web

from adapters.sms.webhook import InboundSms, Outcome, TokenProvider, WebhookRequest, checked_text, decode_text
from gateway.http import RequestError

UCS2 = "2"  # Kannel's %c for a UCS-2 message; its %a is then UTF-16BE bytes unless %C says otherwise


class Kannel(TokenProvider):
    name = "kannel"
    methods: tuple[str, ...] = ("GET", "POST")
    summary = "Kannel sms-service (get-url query or form POST; token as `token` parameter or Bearer)"
    fields: ClassVar[dict[str, str]] = {
        "sender": "%p, the sender", "to": "%P, the number or short code texted", "text": "%a, the text",
        "message": "The text, when the get-url names it so", "id": "%I, Kannel's message id",
        "coding": "%c (2: UCS-2)", "charset": "%C, the text's charset (e.g. UTF-16BE)"}
    required_fields: ClassVar[tuple[str, ...]] = ("sender",)

    def parse(self, request: WebhookRequest) -> InboundSms:
        params = request.params
        key = "text" if params.raw("text") is not None else "message"
        if params.raw(key) is None:
            raise RequestError(422, "invalid_fields", "text: required (Kannel %a)", field="text")
        charset = params.text("charset") or ("UTF-16BE" if params.text("coding") == UCS2 else None)
        raw, raw_type = request.archive()
        return InboundSms(
            sender=params.required("sender"),
            text=checked_text(decode_text(params, key, charset)),
            message_id=params.token("id"),
            to=params.token("to"),
            raw=raw,
            raw_content_type=raw_type,
        )

    def answer(self, outcome: Outcome) -> web.Response:
        return web.Response(text="", content_type="text/plain", charset="utf-8")

    def responses(self) -> dict[str, Any]:
        return {"200": {"description": "Stored; an empty text body (no reply SMS)",
                        "content": {"text/plain": {"schema": {"type": "string"}}}}}

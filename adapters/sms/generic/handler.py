"""The generic SMS webhook: for any gateway that can call a URL (Gammu, Jasmin, an operator's own).

Fields (GET query, form POST or JSON): ``from``, ``to``, ``text``, ``id`` (the gateway's message id,
so its retries are recognised), ``coding=ucs2`` when ``text`` is UCS-2 written as hex, and for a
long SMS sent as parts ``concat-ref``, ``concat-total``, ``concat-part`` (as Vonage names them).
Authenticated by a shared token: ``token`` query parameter or ``Authorization: Bearer``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiohttp import web

from adapters.sms.webhook import (
    InboundSms,
    Outcome,
    TokenProvider,
    WebhookRequest,
    checked_text,
    concat_info,
    decode_ucs2_hex,
)
from gateway.http import RequestError, json_answer

ANSWER_SCHEMA = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string", "enum": ["accepted", "duplicate", "part_stored"]},
        "id": {"type": "string", "description": "Report id (absent while a multipart message is incomplete)."},
        "tracking_code": {"type": "string", "description": "For the citizen, e.g. in a reply SMS."},
    },
}


class Generic(TokenProvider):
    name = "generic"
    methods: tuple[str, ...] = ("GET", "POST")
    summary = "Any SMS gateway (GET query, form POST or JSON; token as `token` parameter or Bearer)"
    fields: ClassVar[dict[str, str]] = {
        "from": "Sender, as the gateway has it", "to": "The number or short code texted",
        "text": "The message text", "id": "The gateway's message id (its retries must repeat it)",
        "coding": "ucs2 when text is UTF-16BE written as hex", "concat-ref": "Long SMS: shared reference",
        "concat-total": "Long SMS: number of parts", "concat-part": "Long SMS: this part's number (from 1)"}
    required_fields: ClassVar[tuple[str, ...]] = ("from",)

    def parse(self, request: WebhookRequest) -> InboundSms:
        params = request.params
        coding = (params.text("coding") or "").strip().lower()
        if coding in ("ucs2", "ucs-2", "utf-16be"):
            text = decode_ucs2_hex(params.text("text") or "", "text")
        elif coding in ("", "utf-8", "utf8", "gsm", "text"):
            text = params.text("text") or ""
        else:
            raise RequestError(422, "invalid_fields", "coding: use utf-8 or ucs2", field="coding")
        raw, raw_type = request.archive()
        return InboundSms(
            sender=params.required("from"),
            text=checked_text(text),
            message_id=params.token("id"),
            to=params.token("to"),
            raw=raw,
            raw_content_type=raw_type,
            concat=concat_info(params, "concat-ref", "concat-total", "concat-part"),
        )

    def answer(self, outcome: Outcome) -> web.Response:
        body = {"status": outcome.status, "id": outcome.id, "tracking_code": outcome.tracking_code}
        return json_answer({key: value for key, value in body.items() if value is not None})

    def responses(self) -> dict[str, Any]:
        return {"200": {"description": "Stored (a part: stored until its message is complete)",
                        "content": {"application/json": {"schema": ANSWER_SCHEMA}}}}

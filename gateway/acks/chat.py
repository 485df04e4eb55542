"""WhatsApp Cloud API and Telegram Bot API acknowledgements: a reply to the citizen's own message."""

from __future__ import annotations

import sqlite3
from typing import Any

import aiohttp

from gateway.acks.base import AckMessage, Skip, Target, json_object, request
from gateway.config import TelegramChannelConfig, WhatsAppChannelConfig
from schemas import Report

# Graph API error codes that clear up by themselves: rate limits, pair rate limit, temporary errors.
_WHATSAPP_MOMENTARY = frozenset({1, 2, 4, 17, 341, 80007, 130429, 131000, 131016, 131056})


def _whatsapp_momentary(body: dict[str, Any]) -> bool:
    error = body.get("error")
    return isinstance(error, dict) and error.get("code") in _WHATSAPP_MOMENTARY


class WhatsAppSender:
    def __init__(self, config: WhatsAppChannelConfig) -> None:
        self.config = config

    def target(self, _conn: sqlite3.Connection, report: Report) -> Target | Skip:
        wa_id = report.reporter.whatsapp_id or (report.reporter.phone or "").lstrip("+")
        if not wa_id:
            return Skip("no_recipient")
        # inbound_address is the business phone_number_id the citizen wrote to; the reply leaves from it.
        return Target(wa_id, {"to": wa_id, "phone_number_id": report.source.inbound_address,
                              "context": report.source.message_id})

    async def send(self, http: aiohttp.ClientSession, message: AckMessage) -> str | None:
        fields = message.fields
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": fields["to"],
            "type": "text",
            "text": {"preview_url": False, "body": message.text},
            "context": {"message_id": fields["context"]},
        }
        url = f"{self.config.api_url.rstrip('/')}/{fields['phone_number_id']}/messages"
        body = await request(http, "POST", url, what="whatsapp", json=payload, momentary=_whatsapp_momentary,
                             headers={"Authorization": f"Bearer {self.config.access_token}"})
        messages = json_object(body).get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict) and messages[0].get("id"):
            return str(messages[0]["id"])
        return None


class TelegramSender:
    def __init__(self, config: TelegramChannelConfig) -> None:
        self.config = config

    def target(self, _conn: sqlite3.Connection, report: Report) -> Target | Skip:
        # message_id is "<chat id>:<message id>" (an edit appends ":edit:<date>"): reply in that chat.
        chat, _, rest = report.source.message_id.partition(":")
        message = rest.split(":", 1)[0]
        chat = chat or report.reporter.telegram_id or ""
        if not chat.lstrip("-").isdigit():
            return Skip("no_recipient")
        fields = {"chat_id": chat}
        if message.isdigit():
            fields["reply_to"] = message
        return Target(chat, fields)

    async def send(self, http: aiohttp.ClientSession, message: AckMessage) -> str | None:
        payload: dict[str, Any] = {"chat_id": int(message.fields["chat_id"]), "text": message.text}
        if "reply_to" in message.fields:
            # The original may have been deleted meanwhile; the code still matters more than the thread.
            payload["reply_parameters"] = {"message_id": int(message.fields["reply_to"]),
                                           "allow_sending_without_reply": True}
        url = f"{self.config.api_url.rstrip('/')}/bot{self.config.bot_token}/sendMessage"
        body = await request(http, "POST", url, what="telegram", json=payload)
        result = json_object(body).get("result")
        if isinstance(result, dict) and result.get("message_id") is not None:
            return str(result["message_id"])
        return None

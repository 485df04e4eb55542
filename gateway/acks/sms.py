"""SMS acknowledgements through the provider the citizen's message came in by (same short code)."""

from __future__ import annotations

import base64
import json
import sqlite3
from abc import ABC, abstractmethod

import aiohttp

from gateway.acks.base import AckMessage, SendFailed, Skip, Target, json_object, request
from gateway.acks.text import gsm7_length
from gateway.config import GenericSmsConfig, KannelConfig, SmsChannelConfig, TwilioConfig, VonageConfig
from schemas import Report


class SmsSender(ABC):
    """Addressing shared by every SMS provider: reply to the sender's number from the inbound address."""

    def target(self, _conn: sqlite3.Connection, report: Report) -> Target | Skip:
        # A number the normalizer could not parse is kept as given: the provider may still deliver to it.
        number = report.reporter.phone or report.reporter.address_as_given
        if not number:
            return Skip("no_recipient")
        return Target(number, {"to": number, "from": report.source.inbound_address})

    @abstractmethod
    async def send(self, http: aiohttp.ClientSession, message: AckMessage) -> str | None: ...


class TwilioSender(SmsSender):
    """Messages API; Twilio offers no idempotency key for message creation."""

    def __init__(self, config: TwilioConfig, account_sid: str) -> None:
        self.config = config
        self.account_sid = account_sid

    async def send(self, http: aiohttp.ClientSession, message: AckMessage) -> str | None:
        form = {"To": message.fields["to"], "Body": message.text}
        if self.config.messaging_service_sid:
            form["MessagingServiceSid"] = self.config.messaging_service_sid
        else:
            form["From"] = message.fields["from"]
        url = f"{self.config.api_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        credentials = base64.b64encode(f"{self.account_sid}:{self.config.auth_token}".encode()).decode()
        body = await request(http, "POST", url, what="twilio", data=form,
                             headers={"Authorization": f"Basic {credentials}"})
        sid = json_object(body).get("sid")
        return str(sid) if sid else None


# Vonage answers 200 with a per-message status; these codes are momentary (throttled, internal error,
# quota, too many binds), every other non-zero one will fail again.
_VONAGE_RETRYABLE = frozenset({"1", "5", "9", "10"})


class VonageSender(SmsSender):
    def __init__(self, config: VonageConfig, api_key: str, api_secret: str) -> None:
        self.config = config
        self.api_key = api_key
        self.api_secret = api_secret

    async def send(self, http: aiohttp.ClientSession, message: AckMessage) -> str | None:
        form = {
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "from": message.fields["from"],
            "to": message.fields["to"].lstrip("+"),
            "text": message.text,
            "client-ref": message.idempotency_key,  # shows up on delivery receipts, for reconciliation
        }
        if gsm7_length(message.text) is None:
            form["type"] = "unicode"
        body = await request(http, "POST", f"{self.config.api_url.rstrip('/')}/sms/json", what="vonage",
                                   data=form)
        messages = json_object(body).get("messages")
        first = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], dict) else {}
        status = str(first.get("status", ""))
        if status != "0":
            raise SendFailed(f"vonage: status {status or 'missing'}", permanent=status not in _VONAGE_RETRYABLE)
        reference = first.get("message-id")
        return str(reference) if reference else None


class KannelSender(SmsSender):
    def __init__(self, config: KannelConfig, sendsms_url: str) -> None:
        self.config = config
        self.sendsms_url = sendsms_url

    async def send(self, http: aiohttp.ClientSession, message: AckMessage) -> str | None:
        params = {
            "username": self.config.username or "",
            "password": self.config.password or "",
            "from": message.fields["from"],
            "to": message.fields["to"],
            "text": message.text,
            "charset": "UTF-8",
        }
        if gsm7_length(message.text) is None:
            params["coding"] = "2"  # UCS-2 on the air
        await request(http, "GET", self.sendsms_url, what="kannel", params=params)
        return None


class GenericSender(SmsSender):
    """Any HTTP SMS gateway: a JSON body from a template, with an Idempotency-Key header."""

    def __init__(self, config: GenericSmsConfig, send_url: str) -> None:
        self.config = config
        self.send_url = send_url

    async def send(self, http: aiohttp.ClientSession, message: AckMessage) -> str | None:
        values = {
            "to": message.fields["to"],
            "from": message.fields["from"],
            "text": message.text,
            "tracking_code": message.tracking_code,
            "idempotency_key": message.idempotency_key,
        }
        body = {key: template.format_map(values) for key, template in self.config.send_body.items()}
        headers = {"Idempotency-Key": message.idempotency_key, "Content-Type": "application/json"}
        if self.config.send_token:
            headers["Authorization"] = f"Bearer {self.config.send_token}"
        answer = await request(http, "POST", self.send_url, what="generic", data=json.dumps(body),
                                     headers=headers)
        reference = json_object(answer).get("id")
        return str(reference) if reference else None


def sms_senders(config: SmsChannelConfig) -> dict[str, SmsSender]:
    """Senders per provider, for the providers whose send credentials are configured."""
    senders: dict[str, SmsSender] = {}
    if config.twilio is not None and config.twilio.account_sid:
        senders["twilio"] = TwilioSender(config.twilio, config.twilio.account_sid)
    vonage = config.vonage
    if vonage is not None and vonage.api_key and vonage.api_secret:
        senders["vonage"] = VonageSender(vonage, vonage.api_key, vonage.api_secret)
    if config.kannel is not None and config.kannel.sendsms_url:
        senders["kannel"] = KannelSender(config.kannel, config.kannel.sendsms_url)
    if config.generic is not None and config.generic.send_url:
        senders["generic"] = GenericSender(config.generic, config.generic.send_url)
    return senders

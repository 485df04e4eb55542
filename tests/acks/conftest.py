"""Gateways wired to the provider stand-ins: every channel's send credentials point at loopback."""

from __future__ import annotations

import asyncio
import itertools
import smtplib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest

from gateway.context import ChannelContext
from gateway.daemon import Gateway
from schemas import Channel, RawMessage, Sender
from tests.acks.standin import (
    GENERIC_TOKEN,
    KANNEL_PASSWORD,
    KANNEL_USER,
    TELEGRAM_TOKEN,
    TWILIO_SID,
    TWILIO_TOKEN,
    VONAGE_KEY,
    VONAGE_SECRET,
    WHATSAPP_TOKEN,
    ProviderStandIn,
    SmtpSink,
)
from tests.support.proxy import free_port

MAILBOX = "pengaduan@lapor.example"
PHONE_NUMBER_ID = "106540352242922"
_serial = itertools.count(1)


def channels_config(api_url: str, smtp_port: int | None = None) -> dict[str, Any]:
    """Every channel with its send credentials aimed at ``api_url`` (the stand-in)."""
    config: dict[str, Any] = {
        "sms": {
            "twilio": {"auth_token": TWILIO_TOKEN, "account_sid": TWILIO_SID, "api_url": api_url},
            "vonage": {"signature_secret": "sig", "api_key": VONAGE_KEY, "api_secret": VONAGE_SECRET,
                       "api_url": api_url},
            "kannel": {"token": "in-token", "sendsms_url": f"{api_url}/cgi-bin/sendsms", "username": KANNEL_USER,
                       "password": KANNEL_PASSWORD},
            "generic": {"token": "in-token", "send_url": f"{api_url}/generic/send", "send_token": GENERIC_TOKEN},
        },
        "whatsapp": {"verify_token": "v", "app_secret": "s", "access_token": WHATSAPP_TOKEN, "api_url": api_url},
        "telegram": {"bot_token": TELEGRAM_TOKEN, "secret_token": "tg-secret", "api_url": api_url},
        "email": {"own_domains": ["lapor.example"]},
    }
    if smtp_port is not None:
        config["email"]["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "domains": ["lapor.example"]}
    return config


def acks_config(relay_port: int, **overrides: Any) -> dict[str, Any]:
    return {"retry_initial": 0.05, "retry_max": 0.2,
            "email": {"relay_host": "127.0.0.1", "relay_port": relay_port, "from_address": MAILBOX}, **overrides}


def install_web_and_email(context: ChannelContext) -> None:
    """Web and email are real (the email channel's SMTP intake and loop screen are part of what is
    tested); SMS, WhatsApp and Telegram reports are handed to Intake.accept, as their adapters would."""
    from adapters.email.channel import install as install_email
    from adapters.web.channel import install as install_web

    install_web(context)
    install_email(context)


@pytest.fixture
async def providers() -> AsyncIterator[ProviderStandIn]:
    standin = ProviderStandIn()
    await standin.start()
    yield standin
    if standin.hold is not None:
        standin.hold.set()
    await standin.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


AckGatewayFactory = Callable[..., Awaitable[Gateway]]


@pytest.fixture
def ack_gateway(make_gateway, providers, smtp_sink, monkeypatch) -> AckGatewayFactory:
    monkeypatch.setattr("gateway.daemon.install_channels", install_web_and_email)

    async def factory(*, acks: dict[str, Any] | None = None, api_url: str | None = None,
                      smtp_port: int | None = None) -> Gateway:
        return await make_gateway(
            channels=channels_config(api_url or providers.url, smtp_port or free_port()),
            acks=acks_config(smtp_sink.port, **(acks or {})),
        )

    return factory


# -- one inbound message per channel/provider, and what its acknowledgement must look like -------------
@dataclass(frozen=True)
class Case:
    name: str
    route: str  # the stand-in route (or "smtp")

    def raw(self, body: str, **extra: Any) -> RawMessage:
        serial = next(_serial)
        phone = f"0812345{serial:05d}"
        if self.route == "whatsapp":
            return RawMessage(channel=Channel.WHATSAPP, provider="cloud_api", inbound_address=PHONE_NUMBER_ID,
                              message_id=f"wamid.HBgN{serial:08d}", body=body,
                              sender=Sender(phone=phone, whatsapp_id=f"62812345{serial:05d}"), **extra)
        if self.route == "telegram":
            return RawMessage(channel=Channel.TELEGRAM, provider="bot_api", inbound_address="lapor_test_bot",
                              message_id=f"{700000 + serial}:{serial}", body=body,
                              sender=Sender(telegram_id=str(700000 + serial), name="Budi"), **extra)
        return RawMessage(channel=Channel.SMS, provider=self.route, inbound_address="1708",
                          message_id=f"{self.route}-{serial}", body=body, sender=Sender(phone=phone), **extra)


SMS_CASES = [Case("twilio", "twilio"), Case("vonage", "vonage"), Case("kannel", "kannel"), Case("generic", "generic")]
API_CASES = [*SMS_CASES, Case("whatsapp", "whatsapp"), Case("telegram", "telegram")]
CHANNEL_NAMES = [case.name for case in API_CASES] + ["email"]


def citizen_mail(body: str, *, sender: str = "warga@example.org", subject: str = "Jalan rusak",
                 headers: dict[str, str] | None = None) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = MAILBOX
    mail["Subject"] = subject
    mail["Message-ID"] = f"<citizen.{next(_serial)}@example.org>"
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(body)
    return mail


async def send_mail(port: int, mail: EmailMessage | bytes, *, mail_from: str = "warga@example.org") -> None:
    """Hand a message to the gateway's SMTP intake (the email channel), as a mail server would."""

    def deliver() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            data = mail if isinstance(mail, bytes) else mail.as_bytes()
            smtp.sendmail(mail_from, [MAILBOX], data)

    await asyncio.to_thread(deliver)


async def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def ack_rows(gateway: Gateway) -> list[dict[str, Any]]:
    with gateway.outbox.reader() as conn:
        conn.row_factory = lambda cursor, row: {col[0]: row[i] for i, col in enumerate(cursor.description)}
        return list(conn.execute("SELECT * FROM acks ORDER BY created_at").fetchall())


def smtp_port(gateway: Gateway) -> int:
    email = gateway.config.channels.email
    assert email is not None and email.smtp is not None
    return email.smtp.port

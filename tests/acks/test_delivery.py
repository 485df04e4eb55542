"""Every channel's acknowledgement reaches the provider stand-in with the right code, exactly once."""

from __future__ import annotations

import asyncio
import email
import json
from dataclasses import replace
from email import policy
from typing import Any

import pytest

from gateway.acks.text import gsm7_length
from gateway.daemon import Gateway
from tests.acks.conftest import (
    API_CASES,
    CHANNEL_NAMES,
    MAILBOX,
    PHONE_NUMBER_ID,
    Case,
    ack_rows,
    citizen_mail,
    eventually,
    send_mail,
    smtp_port,
)
from tests.acks.standin import ProviderStandIn, Received, SmtpSink
from tests.conftest import base_url

CASES = {case.name: case for case in API_CASES}


def check_addressing(case: Case, got: Received, report: dict[str, Any]) -> None:
    """The reply goes to the citizen, from the address they wrote to, threaded where the channel can."""
    data, phone = got.data, report["reporter"]["phone"]
    key = f"ack-{report['id']}"
    if case.route == "twilio":
        assert (data["To"], data["From"]) == (phone, "1708")
    elif case.route == "vonage":
        assert (data["to"], data["from"], data["client-ref"]) == (phone.lstrip("+"), "1708", key)
        assert "type" not in data  # GSM-7 text: one plain segment, not UCS-2
    elif case.route == "kannel":
        assert (data["to"], data["from"], data["charset"]) == (phone, "1708", "UTF-8")
        assert "coding" not in data
    elif case.route == "generic":
        assert (data["to"], data["from"]) == (phone, "1708")
        assert got.headers["Idempotency-Key"] == key
    elif case.route == "whatsapp":
        assert data["phone_number_id"] == PHONE_NUMBER_ID
        assert data["to"] == report["reporter"]["whatsapp_id"]
        assert data["type"] == "text" and data["messaging_product"] == "whatsapp"
        assert data["context"] == {"message_id": report["source"]["message_id"]}
    elif case.route == "telegram":
        chat, message = report["source"]["message_id"].split(":")
        assert data["chat_id"] == int(chat)
        assert data["reply_parameters"]["message_id"] == int(message)


def stored_report(gateway: Gateway, report_id: str) -> dict[str, Any]:
    with gateway.outbox.reader() as conn:
        return dict(json.loads(conn.execute("SELECT payload FROM reports WHERE id=?", (report_id,)).fetchone()[0]))


async def submit(gateway: Gateway, name: str, body: str, **extra: Any) -> dict[str, Any]:
    """One inbound message on channel ``name``; returns the stored report."""
    if name == "email":
        await send_mail(smtp_port(gateway), citizen_mail(body))
        rows = await eventually(lambda: ack_rows(gateway), what="the email report")
        return stored_report(gateway, rows[-1]["report_id"])
    accepted = await gateway.intake.accept(CASES[name].raw(body, **extra))
    assert accepted.report is not None
    return stored_report(gateway, accepted.id)


def delivered(name: str, providers: ProviderStandIn, sink: SmtpSink) -> list[Any]:
    return list(sink.mails) if name == "email" else providers.routes(CASES[name].route)


def check_email(mail: Any, report: dict[str, Any]) -> str:
    message = email.message_from_bytes(mail.content, policy=policy.default)
    assert mail.mail_from == "<>"  # null reverse-path: a bounce of the auto-reply goes nowhere
    assert mail.rcpt_tos == ["warga@example.org"]
    assert message["Auto-Submitted"] == "auto-replied"
    original = f"<{report['source']['message_id']}>"
    assert message["In-Reply-To"] == original
    assert original in message["References"]
    assert message["From"] == MAILBOX
    assert report["tracking_code"] in message["Subject"]
    return str(message.get_content())


@pytest.mark.parametrize("name", CHANNEL_NAMES)
async def test_acknowledgement_arrives_with_the_reports_code(name, ack_gateway, providers, smtp_sink):
    gateway = await ack_gateway()
    report = await submit(gateway, name, "Jalan di depan pasar rusak parah dan belum diperbaiki")
    got = await eventually(lambda: delivered(name, providers, smtp_sink), what=f"{name} acknowledgement")
    assert len(got) == 1
    if name == "email":
        text = check_email(got[0], report)
    else:
        check_addressing(CASES[name], got[0], report)
        text = got[0].text
    assert report["tracking_code"] in text
    assert "3 hari kerja" in text  # the Indonesian default, with the service standard
    # The provider has it; marking the row sent is the next step, a moment later.
    [row] = await eventually(lambda: [r for r in ack_rows(gateway) if r["state"] != 0], what="the row marked")
    assert (row["state"], row["attempts"], row["report_id"]) == (1, 1, report["id"])


@pytest.mark.parametrize("name", CHANNEL_NAMES)
async def test_exactly_once_when_the_provider_fails_the_first_two_tries(name, ack_gateway, providers, smtp_sink):
    providers.fail_first = {CASES[name].route: 2} if name != "email" else {}
    smtp_sink.fail_first = 2 if name == "email" else 0
    gateway = await ack_gateway()
    report = await submit(gateway, name, "Lampu jalan mati sejak seminggu di gang kami")
    await eventually(lambda: delivered(name, providers, smtp_sink), what=f"{name} acknowledgement")
    await asyncio.sleep(1.0)  # several retry_max periods: a repeat would show up here
    got = delivered(name, providers, smtp_sink)
    assert len(got) == 1
    attempts = smtp_sink.attempts if name == "email" else providers.attempts[CASES[name].route]
    assert attempts == 3
    [row] = ack_rows(gateway)
    assert (row["state"], row["attempts"]) == (1, 3)
    text = check_email(got[0], report) if name == "email" else got[0].text
    assert report["tracking_code"] in text


async def test_exact_repeat_gets_nothing_new(ack_gateway, providers):
    gateway = await ack_gateway()
    raw = CASES["twilio"].raw("Sampah menumpuk di pinggir kali")
    first = await gateway.intake.accept(raw)
    again = await gateway.intake.accept(raw)  # the provider's webhook retry
    assert again.duplicate and again.tracking_code == first.tracking_code
    await eventually(lambda: providers.routes("twilio"), what="the acknowledgement")
    await asyncio.sleep(0.5)
    assert len(providers.routes("twilio")) == 1
    assert len(ack_rows(gateway)) == 1


@pytest.mark.parametrize("restart", [False, True], ids=["same process", "original from before a restart"])
async def test_near_duplicate_is_told_the_original_code(ack_gateway, providers, restart):
    gateway = await ack_gateway()
    text = "Pohon tumbang menutup jalan di RT 05, mohon segera dibersihkan"
    message = CASES["telegram"].raw(text)
    first = await gateway.intake.accept(message)
    chat = message.message_id.split(":")[0]
    if restart:  # the original's code is then read from the store, not from the recent codes in memory
        await eventually(lambda: providers.routes("telegram"), what="the first acknowledgement")
        await gateway.stop()
        gateway = await ack_gateway()
    # The same person sends it again: a new Telegram message in the same chat.
    resend = await gateway.intake.accept(replace(message, message_id=f"{chat}:999"))
    assert resend.report is not None and resend.report.dedup.duplicate_of == first.id
    got = await eventually(lambda: len(providers.routes("telegram")) == 2 and providers.routes("telegram"))
    texts = {item.data["reply_parameters"]["message_id"]: item.text for item in got}
    assert first.tracking_code in texts[999] and resend.tracking_code not in texts[999]
    assert "sudah kami terima" in texts[999]


async def test_anonymous_and_confidential_reports_get_their_code(ack_gateway, providers):
    gateway = await ack_gateway()
    accepted = await gateway.intake.accept(
        CASES["generic"].raw("Ada pungutan liar di kantor kelurahan", anonymous=True, confidential=True))
    [got] = await eventually(lambda: providers.routes("generic"), what="the acknowledgement")
    assert accepted.tracking_code in got.text


async def test_english_report_gets_the_english_text(ack_gateway, providers):
    gateway = await ack_gateway()
    accepted = await gateway.intake.accept(
        CASES["twilio"].raw("The road near the market is broken and it has been like this for weeks"))
    [got] = await eventually(lambda: providers.routes("twilio"), what="the acknowledgement")
    assert accepted.tracking_code in got.text and "working days" in got.text


async def test_default_sms_texts_are_one_gsm7_segment(ack_gateway, providers):
    gateway = await ack_gateway()
    await gateway.intake.accept(CASES["kannel"].raw("Air PDAM tidak mengalir sudah tiga hari di perumahan kami"))
    [got] = await eventually(lambda: providers.routes("kannel"), what="the acknowledgement")
    length = gsm7_length(got.text)
    assert length is not None and length <= 160


async def test_web_reports_need_no_message(ack_gateway, providers, http):
    gateway = await ack_gateway()
    form = {"body": "Trotoar rusak", "phone": "081234567890"}
    async with http.post(f"{base_url(gateway)}/v1/reports", json=form) as response:
        assert response.status == 202
    await asyncio.sleep(0.3)
    assert providers.received == [] and ack_rows(gateway) == []

"""Email auto-replies never loop: what answers an auto-reply gets none, through the real SMTP intake."""

from __future__ import annotations

import asyncio
import email
from email import policy

from schemas import Channel, RawMessage, Sender
from tests.acks.conftest import MAILBOX, ack_rows, citizen_mail, eventually, send_mail, smtp_port


def report_count(gateway) -> int:
    with gateway.outbox.reader() as conn:
        return int(conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0])


async def first_reply(gateway, sink) -> email.message.EmailMessage:
    await send_mail(smtp_port(gateway), citizen_mail("Saluran air tersumbat di depan sekolah dasar kami"))
    [mail] = await eventually(lambda: sink.mails, what="the auto-reply")
    return email.message_from_bytes(mail.content, policy=policy.default)


async def test_our_auto_reply_coming_back_is_not_answered(ack_gateway, smtp_sink):
    gateway = await ack_gateway()
    await send_mail(smtp_port(gateway), citizen_mail("Saluran air tersumbat di depan sekolah dasar kami"))
    [mail] = await eventually(lambda: smtp_sink.mails, what="the auto-reply")
    # A forwarding rule or a misconfigured relay hands our own message back to the mailbox.
    await send_mail(smtp_port(gateway), mail.content, mail_from="warga@example.org")
    await asyncio.sleep(0.5)
    assert report_count(gateway) == 1
    assert len(smtp_sink.mails) == 1


async def test_an_auto_reply_to_our_auto_reply_gets_no_reply(ack_gateway, smtp_sink):
    gateway = await ack_gateway()
    ours = await first_reply(gateway, smtp_sink)
    vacation = citizen_mail("Saya sedang cuti sampai tanggal 30.", subject=f"Automatic reply: {ours['Subject']}",
                            headers={"Auto-Submitted": "auto-replied", "In-Reply-To": ours["Message-ID"]})
    await send_mail(smtp_port(gateway), vacation)
    await asyncio.sleep(0.5)
    assert report_count(gateway) == 1  # the email channel quarantined it
    assert len(smtp_sink.mails) == 1


async def test_a_responder_that_ignores_rfc3834_is_stopped_by_the_interval(ack_gateway, smtp_sink):
    gateway = await ack_gateway()
    ours = await first_reply(gateway, smtp_sink)
    # No Auto-Submitted, no Precedence: it looks like a person, so it becomes a report...
    naive = citizen_mail("Terima kasih, pesan Anda sudah kami terima dan akan segera kami baca.",
                         subject=f"Re: {ours['Subject']}", headers={"In-Reply-To": ours["Message-ID"]})
    await send_mail(smtp_port(gateway), naive)
    rows = await eventually(lambda: len(ack_rows(gateway)) == 2 and ack_rows(gateway), what="the second report")
    await asyncio.sleep(0.5)
    # ...but the address had its reply within [acks.email] interval: no second one.
    assert len(smtp_sink.mails) == 1
    assert (rows[1]["state"], rows[1]["last_error"]) == (3, "rate_limited")


async def test_the_interval_is_configurable(ack_gateway, smtp_sink):
    gateway = await ack_gateway(acks={"email": {"relay_host": "127.0.0.1", "relay_port": smtp_sink.port,
                                                "from_address": MAILBOX, "interval": 0}})
    await send_mail(smtp_port(gateway), citizen_mail("Jembatan kayu di dusun kami hampir roboh"))
    await send_mail(smtp_port(gateway), citizen_mail("Lampu penerangan jalan mati total sejak Senin"))
    await eventually(lambda: len(smtp_sink.mails) == 2, what="two auto-replies")


async def test_list_mail_and_machine_senders_get_no_reply(ack_gateway, smtp_sink):
    gateway = await ack_gateway()
    await send_mail(smtp_port(gateway), citizen_mail("Diskusi warga soal banjir di kelurahan",
                                                     headers={"List-Id": "<warga.lists.example.org>"}))
    await send_mail(smtp_port(gateway), citizen_mail("Tagihan air bulan ini tidak wajar sekali",
                                                     sender="no-reply@pdam.example.org"),
                    mail_from="no-reply@pdam.example.org")
    rows = await eventually(lambda: len(ack_rows(gateway)) == 2 and ack_rows(gateway), what="two reports")
    await asyncio.sleep(0.3)
    assert sorted(row["last_error"] for row in rows) == ["machine_address", "mailing_list"]
    assert smtp_sink.mails == []


async def test_hostile_addresses_and_headers_cost_the_reply_not_the_report(ack_gateway, smtp_sink):
    gateway = await ack_gateway()
    injected = RawMessage(channel=Channel.EMAIL, provider="smtp", inbound_address=MAILBOX, message_id="x1@example.org",
                          body="Laporan dengan alamat aneh", sender=Sender(email="a@example.org, victim@example.net"),
                          raw=b"From: a@example.org\r\nSubject: =?bogus?Q?\xff\xfe?=\r\nList-Id: \x00\r\n\r\nbody")
    accepted = await gateway.intake.accept(injected)
    garbled = RawMessage(channel=Channel.EMAIL, provider="smtp", inbound_address=MAILBOX, message_id="x2@example.org",
                         body="Laporan kedua", sender=Sender(email="warga2@example.org"),
                         raw=b"\xff\xfe\x00garbage without any header structure" * 100)
    second = await gateway.intake.accept(garbled)
    assert accepted.report is not None and second.report is not None
    [mail] = await eventually(lambda: smtp_sink.mails, what="the reply to the garbled one")
    assert mail.rcpt_tos == ["warga2@example.org"] and second.tracking_code.encode() in mail.content
    states = {row["report_id"]: (row["state"], row["last_error"]) for row in ack_rows(gateway)}
    assert states[accepted.id] == (3, "no_recipient")

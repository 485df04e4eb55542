"""IMAP intake against a real Dovecot on a loopback port, publishing to the real RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from imapclient.imapclient import SEEN

from adapters.email.imap import ImapService
from adapters.email.tests.conftest import (
    Mailbox,
    email_reports,
    eventually,
    imap_channel,
    outbox_rows,
    quarantined,
)
from adapters.email.tests.corpus import OWN, PUBLIC, simple
from adapters.email.tests.dovecot import Dovecot
from adapters.email.tests.test_mime import QUARANTINED, REPORTS
from tests.support.broker import QueueReader

MAILBOX = "pengaduan@lapor.test/INBOX"


def imap_service(gateway) -> ImapService:
    return next(service for service in gateway.context.services if isinstance(service, ImapService))


async def test_appended_messages_become_reports_and_are_flagged_only_after_the_commit(
    make_gateway, dovecot: Dovecot, mailbox: Mailbox, queue_reader: QueueReader
) -> None:
    gateway = await make_gateway(channels=imap_channel(dovecot))
    await mailbox.append([simple(f"m{i}@example.net", body=f"Laporan nomor {i}: jalan rusak.") for i in range(3)])

    messages = await queue_reader.take(3)
    bodies = {body["source"]["message_id"]: body for body in queue_reader.bodies()}
    assert set(bodies) == {"m0@example.net", "m1@example.net", "m2@example.net"}
    report = bodies["m1@example.net"]
    assert report["channel"] == "email"
    assert report["source"] == {"provider": "imap", "inbound_address": MAILBOX, "message_id": "m1@example.net",
                                "thread_ref": None}
    assert report["reporter"]["identity"] == "mailto:warga@example.net"
    assert report["reporter"]["name"] == "Warga"
    assert report["subject"] == "Jalan rusak" and report["body"] == "Laporan nomor 1: jalan rusak."
    assert report["raw"]["content_type"] == "message/rfc822"
    assert {m.routing_key for m in messages} == {"report.unassigned.complaint.email"}
    await eventually(lambda: _all_seen(mailbox), what="all three flagged \\Seen")

    # Hold the outbox's write lock: the gateway fetches the next message but cannot commit it,
    # so the mailbox must keep it unseen; released, the commit happens first and the flag after.
    lock = sqlite3.connect(gateway.config.storage.path, isolation_level=None, timeout=30)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        [uid] = await mailbox.append([simple("m3@example.net")])
        await asyncio.sleep(3.0)
        assert uid in await mailbox.unseen(), "flagged although the report was not committed"
        assert "m3@example.net" not in email_reports(gateway)
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    async def committed_then_seen() -> bool:
        seen = uid not in await mailbox.unseen()
        if seen:  # every observation of the flag must find the report already committed
            assert "m3@example.net" in email_reports(gateway)
        return seen

    await eventually(committed_then_seen, what="m3 flagged after its commit")
    await queue_reader.take(4)
    assert sorted(email_reports(gateway)) == [f"m{i}@example.net" for i in range(4)]


async def _all_seen(mailbox: Mailbox, folder: str = "INBOX") -> bool:
    return not await mailbox.unseen(folder)


async def test_restart_mid_batch_and_lost_flags_give_no_duplicate_and_no_gap(
    make_gateway, dovecot: Dovecot, mailbox: Mailbox, queue_reader: QueueReader
) -> None:
    total = 60
    wanted = {f"batch{i}@example.net" for i in range(total)}
    await mailbox.append([simple(f"batch{i}@example.net", body=f"Laporan {i}") for i in range(total)])

    first = await make_gateway(channels=imap_channel(dovecot))

    async def some_committed() -> bool:
        return len(email_reports(first)) >= 5

    await eventually(some_committed, what="the first reports")
    await first.stop()
    done_before = email_reports(first)
    assert 5 <= len(done_before) < total, "stopped mid-batch"

    # As if the gateway had died between its commits and the \Seen flags: no flag reached the server.
    await mailbox.run(lambda client: (client.select_folder("INBOX"), client.remove_flags(client.search(["ALL"]),
                                                                                        [SEEN])))
    assert len(await mailbox.unseen()) == total

    second = await make_gateway(channels=imap_channel(dovecot))

    async def all_done() -> bool:
        return len(email_reports(second)) == total and await _all_seen(mailbox)

    await eventually(all_done, timeout=60, what="all messages committed and flagged")
    assert set(email_reports(second)) == wanted
    await queue_reader.take_ids(set(_report_ids(second)))
    await queue_reader.settle(1.0)
    bodies = queue_reader.bodies()
    assert {body["source"]["message_id"] for body in bodies} == wanted  # no gap
    assert len({body["id"] for body in bodies}) == total  # no second report for any message
    # The checkpoint, not the dedup, skipped the committed ones: not a single exact repeat was seen.
    assert second.metrics.duplicates.labels("email", "exact")._value.get() == 0


def _report_ids(gateway) -> list[str]:
    return [row[0] for row in outbox_rows(gateway, "SELECT id FROM reports WHERE channel='email'")]


async def test_dovecot_outage_reconnects_by_itself_and_loses_nothing(
    make_gateway, dovecot: Dovecot, mailbox: Mailbox, queue_reader: QueueReader
) -> None:
    gateway = await make_gateway(channels=imap_channel(dovecot))
    service = imap_service(gateway)
    await mailbox.append([simple(f"before{i}@example.net") for i in range(2)])
    await queue_reader.take(2)

    await asyncio.to_thread(dovecot.stop)
    # IDLE renewal is 2 s here: noticing within 1.5 s shows the closed connection itself was seen.
    await eventually(_false_when(service), timeout=1.5, what="the gateway to notice the outage")
    for i in range(3):  # mail keeps arriving at the MTA while IMAP is down
        dovecot.deliver(simple(f"during{i}@example.net"))
    await asyncio.sleep(2.0)  # a few failed reconnects
    await asyncio.to_thread(dovecot.start)
    await mailbox.append([simple(f"after{i}@example.net") for i in range(2)])

    await queue_reader.take(7, timeout=60)
    got = {body["source"]["message_id"] for body in queue_reader.bodies()}
    assert got == {f"{stage}{i}@example.net" for stage, count in (("before", 2), ("during", 3), ("after", 2))
                   for i in range(count)}
    await eventually(lambda: _all_seen(mailbox), what="everything flagged after the outage")
    assert service.connected.is_set()
    assert len(email_reports(gateway)) == 7


def _false_when(service: ImapService):
    async def check() -> bool:
        return not service.connected.is_set()
    return check


async def test_uidvalidity_change_rescans_and_message_id_dedup_prevents_doubles(
    make_gateway, dovecot: Dovecot, mailbox: Mailbox, queue_reader: QueueReader
) -> None:
    folder = "Pengaduan"
    await mailbox.run(lambda client: client.create_folder(folder))
    old = [simple(f"old{i}@example.net") for i in range(3)]
    await mailbox.append(old, folder)
    gateway = await make_gateway(channels=imap_channel(dovecot, folder=folder))
    await queue_reader.take(3)
    await eventually(lambda: _all_seen(mailbox, folder), what="old mail flagged")
    key = f"email.imap.checkpoint:pengaduan@lapor.test/{folder}"
    before = json.loads(await gateway.outbox.get_value(key) or "{}")

    def recreate(client) -> int:
        client.delete_folder(folder)
        client.create_folder(folder)
        return int(client.select_folder(folder)[b"UIDVALIDITY"])

    await asyncio.sleep(1.1)  # Dovecot derives UIDVALIDITY from the clock
    new_validity = await mailbox.run(recreate)
    assert new_validity != before["uidvalidity"]
    await mailbox.append([*old, simple("new0@example.net")], folder)

    async def rescanned() -> bool:
        value = json.loads(await gateway.outbox.get_value(key) or "{}")
        return bool(value.get("uidvalidity") == new_validity and value.get("last_uid") == 4)

    await eventually(rescanned, what="the re-scan of the recreated folder")
    await eventually(lambda: _all_seen(mailbox, folder), what="the recreated folder flagged")
    await queue_reader.take(4)
    await queue_reader.settle(1.0)
    assert sorted(email_reports(gateway)) == ["new0@example.net", "old0@example.net", "old1@example.net",
                                              "old2@example.net"]
    assert len(queue_reader.bodies()) == 4
    assert gateway.metrics.duplicates.labels("email", "exact")._value.get() == 3


async def test_tricky_mime_corpus_each_a_report_or_quarantined_never_a_stall(
    make_gateway, dovecot: Dovecot, mailbox: Mailbox, queue_reader: QueueReader
) -> None:
    gateway = await make_gateway(channels=imap_channel(dovecot))
    corpus = [*OWN.values(), *(path.read_bytes() for path in sorted(PUBLIC.iterdir()) if path.suffix != ".md")]
    for raw in corpus:  # delivered as an MTA would: byte for byte, NULs and all
        dovecot.deliver(raw)
    sentinel = simple("sentinel@example.net", body="Pesan terakhir setelah semua yang rusak.")
    await mailbox.append([sentinel])

    await eventually(lambda: _all_seen(mailbox), timeout=90, what="every message processed")
    assert len(await mailbox.flags()) == len(corpus) + 1
    reports = email_reports(gateway)
    assert "sentinel@example.net" in reports
    assert len(reports) == len(REPORTS) + 1
    reasons = sorted(reason for _, reason in quarantined(gateway))
    assert reasons == sorted(reason for _, reason in QUARANTINED)
    raw_kept = outbox_rows(gateway, "SELECT COUNT(*) FROM email_quarantine WHERE length(raw) > 0")[0][0]
    assert raw_kept == len(QUARANTINED)
    for reason in ("auto_reply", "bounce", "loop", "unparseable", "no_sender"):
        expected = sum(1 for _, r in QUARANTINED if r == reason)
        assert gateway.metrics.quarantined.labels("email", reason)._value.get() == expected, reason

    await queue_reader.take(len(REPORTS) + 1, timeout=60)
    by_id = {body["source"]["message_id"]: body for body in queue_reader.bodies()}
    winmail = by_id["tnef@example.net"]["attachments"]
    assert [(a["filename"], a["status"]) for a in winmail] == [("winmail.dat", "refused")]
    nested = by_id["nested@example.net"]["attachments"]
    assert [(a["content_type"], a["status"]) for a in nested] == [("image/png", "stored"),
                                                                  ("application/pdf", "stored")]
    html = by_id["html@example.net"]
    assert "<" not in html["body"] and "alert" not in html["body"] and "Pohon tumbang" in html["body"]
    assert html["source"]["thread_ref"] == "ack-123@lapor.test"


async def test_polling_with_processed_folder_moves_after_commit(
    make_gateway, dovecot: Dovecot, mailbox: Mailbox, queue_reader: QueueReader
) -> None:
    gateway = await make_gateway(
        channels=imap_channel(dovecot, idle=False, poll_interval=0.3, processed_folder="Diproses")
    )
    await mailbox.append([simple(f"poll{i}@example.net") for i in range(3)])
    await queue_reader.take(3)

    async def moved() -> bool:
        return not await mailbox.flags("INBOX") and len(await mailbox.flags("Diproses")) == 3

    await eventually(moved, what="messages moved to the processed folder")
    assert sorted((await mailbox.message_ids("Diproses")).values()) == [f"poll{i}@example.net" for i in range(3)]
    assert len(email_reports(gateway)) == 3


async def test_oversized_message_is_quarantined_with_headers_only_and_does_not_block(
    make_gateway, dovecot: Dovecot, mailbox: Mailbox, queue_reader: QueueReader
) -> None:
    gateway = await make_gateway(channels=imap_channel(dovecot, max_message_bytes=4096))
    big = simple("big@example.net", body="Foto terlampir.\n" * 2000)
    await mailbox.append([big, simple("small@example.net")])
    await queue_reader.take(1)
    await eventually(lambda: _all_seen(mailbox), what="both flagged")
    assert email_reports(gateway) == ["small@example.net"]
    [(key, reason, raw)] = outbox_rows(gateway, "SELECT message_key, reason, raw FROM email_quarantine")
    assert (key, reason) == ("big@example.net", "too_large")
    assert bytes(raw).endswith(b"\r\n\r\n") and b"Foto terlampir" not in bytes(raw)  # the header block only

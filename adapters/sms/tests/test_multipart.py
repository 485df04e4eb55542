"""Multipart SMS: parts are stored durably, assembled in order into one report, timed out with gaps marked."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

from adapters.sms.multipart import assemble_text
from adapters.sms.tests.support import (
    GENERIC_TOKEN,
    open_groups,
    sms_config,
    stored_parts,
    stored_reports,
    vonage_signed,
)
from gateway.outbox import OutboxUnavailable
from tests.conftest import base_url

PATH = "/webhooks/sms/vonage"
TEXT = {
    1: "Banjir setinggi dada di Kelurahan Kampung Melayu, warga lan",  # split mid-word, as SMS parts are
    2: "sia terjebak di lantai dua rumah, ",
    3: "mohon kirim perahu karet segera. #banjir",
}


def part(number: int, ref: str = "A1", total: int = 3, sender: str = "6281234567890", text: str | None = None):
    return vonage_signed({
        "msisdn": sender, "to": "1708", "messageId": f"0C{ref}{sender[-3:]}{number:02d}", "type": "text",
        "text": TEXT[number] if text is None else text, "concat": "true", "concat-ref": ref,
        "concat-total": str(total), "concat-part": str(number), "message-timestamp": "2026-11-23 19:00:00",
    })


async def send(http, gateway, params) -> None:
    async with http.get(f"{base_url(gateway)}{PATH}?{urlencode(params)}") as response:
        assert response.status == 204, await response.text()


def test_parts_join_in_order_with_missing_ones_marked():
    assert assemble_text({2: "b", 1: "a"}, 2) == "ab"
    assert assemble_text({1: "a", 3: "c"}, 3) == "a […bagian 2 dari 3 hilang…] c"


async def test_out_of_order_twice_over_with_restarts_is_one_report(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config())
    await send(http, gateway, part(3))
    await send(http, gateway, part(3))  # the provider's retry
    await send(http, gateway, part(1))
    assert stored_parts(gateway) == 2  # answered only after they were committed
    await gateway.stop()
    gateway = await make_gateway(**sms_config())  # same storage: a restart between parts
    await send(http, gateway, part(2))
    [message] = await queue_reader.take(1)
    # the whole message again, in another order, across another restart: all repeats
    await send(http, gateway, part(2))
    await gateway.stop()
    gateway = await make_gateway(**sms_config())
    await send(http, gateway, part(1))
    await send(http, gateway, part(3))
    assert len(await queue_reader.settle(2.0)) == 1
    report = json.loads(message.body)
    assert report["body"] == TEXT[1] + TEXT[2] + TEXT[3]
    assert report["source"]["provider"] == "vonage"
    assert report["source"]["inbound_address"] == "1708"
    assert report["source"]["message_id"].startswith("concat:")
    assert report["reporter"]["identity"] == "tel:+6281234567890"
    assert (report["urgency"], report["tags"]) == ("high", ["banjir"])
    assert report["raw"]["content_type"] == "application/vnd.lapor.sms-parts+json"
    assert open_groups(gateway) == 0
    assert stored_parts(gateway) == 3


async def test_concurrent_parts_and_retries_make_exactly_one_report_each(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config())
    refs = [f"R{index}" for index in range(6)]
    await asyncio.gather(*(send(http, gateway, part(number, ref=ref))
                           for _ in range(3) for ref in refs for number in (3, 1, 2)))
    await queue_reader.take(len(refs))
    bodies = [report["body"] for report in queue_reader.bodies()]
    assert len(await queue_reader.settle(1.5)) == len(refs)
    assert bodies == [TEXT[1] + TEXT[2] + TEXT[3]] * len(refs)
    assert open_groups(gateway) == 0


async def test_same_ref_from_two_senders_stays_apart(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config())
    for sender in ("6281234567890", "6285712345678"):
        await send(http, gateway, part(1, total=2, sender=sender, text=f"dari {sender[-4:]} "))
    for sender in ("6285712345678", "6281234567890"):
        await send(http, gateway, part(2, total=2, sender=sender, text="selesai"))
    await queue_reader.take(2)
    assert sorted(report["body"] for report in queue_reader.bodies()) == ["dari 5678 selesai", "dari 7890 selesai"]


async def test_timeout_publishes_with_missing_part_marked_and_a_late_part_is_not_lost(
    make_gateway, http, queue_reader
):
    gateway = await make_gateway(**sms_config(multipart_timeout=1.0))
    await send(http, gateway, part(1))
    await send(http, gateway, part(3))
    [first] = await queue_reader.take(1, timeout=10)
    assert json.loads(first.body)["body"] == TEXT[1] + " […bagian 2 dari 3 hilang…] " + TEXT[3]
    await send(http, gateway, part(2))  # late: its group was published; it becomes its own report
    await send(http, gateway, part(3))  # a retry of a published part stays a repeat
    await queue_reader.take(2, timeout=10)
    late = queue_reader.bodies()[1]["body"]
    assert late == "[…bagian 1 dari 3 hilang…] " + TEXT[2].strip() + " […bagian 3 dari 3 hilang…]"
    assert len(await queue_reader.settle(2.0)) == 2


async def test_timeout_survives_a_restart(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config(multipart_timeout=1.0))
    await send(http, gateway, part(1, total=2))
    await gateway.stop()
    await asyncio.sleep(1.5)  # the deadline passes while the gateway is down
    await make_gateway(**sms_config(multipart_timeout=1.0))
    [message] = await queue_reader.take(1, timeout=10)
    assert json.loads(message.body)["body"] == TEXT[1] + " […bagian 2 dari 2 hilang…]"


async def test_last_part_and_report_commit_together_or_not_at_all(make_gateway, http, queue_reader, monkeypatch):
    gateway = await make_gateway(**sms_config())
    await send(http, gateway, part(1, total=2))
    failures = [OutboxUnavailable("disk full")]
    commit_report = gateway.outbox.commit_report

    async def failing_once(report, raw=None, raw_content_type="application/octet-stream", held=False, hooks=(),
                           closures=False):
        def fail_once(conn) -> None:  # the report's transaction fails once, after its other hooks
            if failures:
                raise failures.pop()

        return await commit_report(report, raw, raw_content_type, held=held, hooks=[*hooks, fail_once],
                                   closures=True)

    monkeypatch.setattr(gateway.outbox, "commit_report", failing_once)
    async with http.get(f"{base_url(gateway)}{PATH}?{urlencode(part(2, total=2))}") as response:
        assert response.status == 503  # Vonage retries
    assert (stored_parts(gateway), open_groups(gateway), stored_reports(gateway)) == (1, 1, 0)
    await send(http, gateway, part(2, total=2))  # the retry completes the message
    [message] = await queue_reader.take(1)
    assert json.loads(message.body)["body"] == (TEXT[1] + TEXT[2]).strip()
    assert (stored_parts(gateway), open_groups(gateway), stored_reports(gateway)) == (2, 0, 1)


async def test_parts_without_ids_and_a_reused_ref_are_not_swallowed(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config())

    async def generic(number: int, text: str) -> str:
        payload = {"from": "081234567890", "text": text, "concat-ref": "9", "concat-total": "2",
                   "concat-part": str(number)}  # no id: this gateway gives none
        async with http.post(base_url(gateway) + "/webhooks/sms/generic", json=payload,
                             headers={"Authorization": f"Bearer {GENERIC_TOKEN}"}) as response:
            assert response.status == 200
            return str((await response.json())["status"])

    assert [await generic(1, "Pertama "), await generic(1, "Pertama "), await generic(2, "selesai")] == [
        "part_stored", "part_stored", "accepted"]
    # a later long message from the same phone that happens to reuse ref 9
    assert [await generic(2, "juga"), await generic(1, "Kedua ")] == ["part_stored", "accepted"]
    await queue_reader.take(2)
    assert [report["body"] for report in queue_reader.bodies()] == ["Pertama selesai", "Kedua juga"]

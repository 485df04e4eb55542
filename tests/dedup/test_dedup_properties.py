"""Hypothesis: whatever arrives, in whatever order, over whichever channels, the links are sound.

Runs the real Intake (normalizer chain, DuplicateFinder, outbox commit hooks) against a real
SQLite outbox; the publisher is not started, so committed reports simply wait in the outbox.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.attachments import AttachmentStore
from gateway.config import BrokerConfig, DedupConfig
from gateway.dedup import LONE_SENDERS, LONE_TEXT_BYTES, PERSON_LIMIT, DuplicateFinder
from gateway.metrics import Metrics
from gateway.outbox import Outbox
from gateway.pipeline import Intake
from gateway.publisher import Publisher
from normalizer import default_chain
from normalizer.fingerprint import features, similarity
from schemas import Channel, RawMessage, Sender
from tests.support.clock import Clock

PAIRS = [json.loads(line) for line in Path(__file__).with_name("pairs.jsonl").read_text().splitlines()]
# Realistic texts, many of them near-duplicates of each other, plus the short templates.
TEXTS = sorted({text for pair in PAIRS[::3] for text in (pair["a"], pair["b"])})
PHONES = ["081234567890", "+62 812-3456-7890", "0813 1111 2222", "0857-0000-1111"]
EMAILS = ["siti@example.id", "budi@example.com"]
WINDOW = "1h"

senders = st.one_of(
    st.builds(Sender, phone=st.sampled_from(PHONES)),
    st.builds(Sender, email=st.sampled_from(EMAILS)),
    st.builds(Sender, phone=st.sampled_from(PHONES), email=st.sampled_from(EMAILS)),
    st.builds(Sender, telegram_id=st.sampled_from(["1001", "1002"])),
    st.just(Sender()),
)
arrivals = st.lists(
    st.tuples(
        st.sampled_from(TEXTS),
        senders,
        st.sampled_from([Channel.SMS, Channel.WHATSAPP, Channel.EMAIL, Channel.TELEGRAM, Channel.WEB]),
        st.floats(min_value=0, max_value=1800),  # seconds since the previous arrival
        st.booleans(),  # anonymous
    ),
    min_size=1,
    max_size=25,
)


async def run(messages, threshold: float, lone_senders: int = LONE_SENDERS,
              lone_text_bytes: int = LONE_TEXT_BYTES) -> tuple[list[dict], dict[str, float]]:
    with tempfile.TemporaryDirectory() as folder:
        outbox = Outbox(Path(folder) / "outbox.sqlite3", "OFF")
        outbox.open()
        clock = Clock()
        finder = DuplicateFinder(outbox, DedupConfig(window=WINDOW, threshold=threshold, cluster_capacity=1024),
                                 clock=clock, lone_senders=lone_senders, lone_text_bytes=lone_text_bytes)
        await finder.open()
        metrics = Metrics()
        intake = Intake(default_chain(), outbox, Publisher(BrokerConfig(), outbox, metrics), metrics,
                        AttachmentStore(Path(folder) / "files", 1 << 20, 1 << 20, ["text/plain"]), finder)
        seen_at: dict[str, float] = {}
        for index, (body, sender, channel, gap, anonymous) in enumerate(messages):
            clock.now += gap
            raw = RawMessage(channel=channel, provider="test", inbound_address="x", message_id=str(index),
                             body=body, sender=sender, anonymous=anonymous)
            accepted = await intake.accept(raw)
            seen_at[accepted.id] = clock.now
        with outbox.reader() as conn:
            rows = [json.loads(row[0]) for row in conn.execute("SELECT payload FROM reports ORDER BY seq")]
        finder.close()
        await outbox.close()
    return rows, seen_at


def handles(report: dict) -> set[str]:
    reporter = report["reporter"]
    if reporter["anonymous"]:
        return set()
    found = {reporter["identity"]}
    if reporter["phone"]:
        found.add(f"tel:{reporter['phone']}")
    if reporter["email"]:
        found.add(f"mailto:{reporter['email']}")
    return found - {"web:anonymous"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=arrivals, threshold=st.sampled_from([0.6, 0.8, 0.95]))
@example(messages=[(PAIRS[0]["a"], Sender(phone=PHONES[0]), Channel.SMS, 0.0, False),
                   (PAIRS[0]["b"], Sender(phone=PHONES[1], email=EMAILS[0]), Channel.WHATSAPP, 60.0, False),
                   (PAIRS[0]["a"], Sender(email=EMAILS[0]), Channel.EMAIL, 60.0, False)], threshold=0.8)
def test_links_point_back_to_earlier_similar_reports_of_the_same_person(messages, threshold):
    reports, seen_at = asyncio.run(run(messages, threshold))
    assert len(reports) == len(messages)
    order = {report["id"]: position for position, report in enumerate(reports)}
    by_id = {report["id"]: report for report in reports}
    # Persons as the reports link them: handles given together on one report belong together.
    person: dict[str, str] = {}

    def find(handle: str) -> str:
        while person.get(handle, handle) != handle:
            handle = person[handle]
        return handle

    for report in reports:
        dedup = report["dedup"]
        earlier_id = dedup["duplicate_of"]
        if earlier_id is not None:
            assert earlier_id != report["id"], "a report is never its own duplicate"
            assert earlier_id in order and order[earlier_id] < order[report["id"]], "only an earlier stored report"
            earlier = by_id[earlier_id]
            score = similarity(features(report["body"]), features(earlier["body"]))
            assert score >= threshold, "a pair below the threshold is never linked"
            assert dedup["similarity"] == round(score, 4)
            assert seen_at[report["id"]] - seen_at[earlier_id] <= 3600
            assert {find(h) for h in handles(report)} & {find(h) for h in handles(earlier)}, "same person only"
            assert dedup["cluster"] == earlier["dedup"]["cluster"]
        if dedup["cluster"] is not None:
            assert dedup["cluster"] in order and order[dedup["cluster"]] <= order[report["id"]]
        mine = sorted(handles(report))
        for handle in mine[1:]:
            person[find(handle)] = find(mine[0])


def as_positions(reports: list[dict]) -> list[tuple[int | None, float | None, int | None]]:
    """Each report's dedup result with report ids as arrival positions (ids differ between runs)."""
    position = {report["id"]: index for index, report in enumerate(reports)}
    return [(position.get(report["dedup"]["duplicate_of"]), report["dedup"]["similarity"],
             position.get(report["dedup"]["cluster"])) for report in reports]


ROAD = ("Selamat pagi. Saya mau lapor jalan di depan SDN 3 Jl. Merdeka berlubang besar, sudah 2 minggu tidak "
        "diperbaiki dan sudah ada 2 motor jatuh. Mohon segera ditindaklanjuti.")
ROAD_AGAIN = ("sy mau lapor jln di dpn SDN 3 jl merdeka berlubang besar sdh 2 mgg tdk diperbaiki dan sdh ada 2 motor "
              "jatuh!! mhn segera ditindaklanjuti")
LAMP = "Lampu penerangan jalan di Gang Melati 4 RT 02 RW 05 sudah mati sejak seminggu, warga takut keluar malam."
WASTE = "Sampah di TPS Pasar Kembang menumpuk dan tidak diangkut selama lima hari, baunya sampai ke rumah warga."
WATER = "Air PDAM di perumahan Griya Asri blok C tidak mengalir sejak kemarin pagi, mohon dicek petugas."
ONE_SENDER = [(TEXTS[index % len(TEXTS)], Sender(phone=PHONES[0]), Channel.SMS, 30.0, False)
              for index in range(PERSON_LIMIT + 5)] + [(TEXTS[0], Sender(phone=PHONES[1]), Channel.SMS, 30.0, False)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=arrivals, threshold=st.sampled_from([0.6, 0.8, 0.95]))
@example(messages=ONE_SENDER, threshold=0.6)  # more entries than a person's limit
@example(messages=[(ROAD, Sender(email=EMAILS[0]), Channel.EMAIL, 0.0, False),
                   (LAMP, Sender(phone=PHONES[0]), Channel.SMS, 60.0, False),
                   (WASTE, Sender(phone=PHONES[0]), Channel.SMS, 60.0, False),  # the phone, alone, remembered
                   (WATER, Sender(phone=PHONES[0], email=EMAILS[0]), Channel.WEB, 60.0, False),  # now linked
                   (ROAD_AGAIN, Sender(phone=PHONES[0]), Channel.SMS, 60.0, False)], threshold=0.8)
def test_senders_kept_in_memory_get_the_answers_the_store_gives(messages, threshold):
    # A sender on one handle has its latest entries in memory, so its next report needs no query;
    # every answer must be the one the store's query gives, links between handles and window included.
    queried = as_positions(asyncio.run(run(messages, threshold, lone_senders=0))[0])
    assert as_positions(asyncio.run(run(messages, threshold))[0]) == queried
    # Memory so small that senders are forgotten mid-way: forgotten, the store answers again.
    assert as_positions(asyncio.run(run(messages, threshold, lone_senders=2, lone_text_bytes=600))[0]) == queried


def test_the_harness_links_what_it_should():
    """Guards the property test against passing vacuously: resends are linked, strangers clustered."""
    first, resend = PAIRS[0]["a"], PAIRS[0]["b"]
    messages = [(first, Sender(phone=PHONES[0]), Channel.SMS, 0.0, False),
                (resend, Sender(phone=PHONES[1], email=EMAILS[0]), Channel.WHATSAPP, 60.0, False),
                (first, Sender(email=EMAILS[0]), Channel.EMAIL, 60.0, False),
                (first, Sender(phone=PHONES[2]), Channel.WEB, 60.0, False),
                (first, Sender(phone=PHONES[0]), Channel.SMS, 7200.0, False)]
    reports, _ = asyncio.run(run(messages, 0.8))
    ids = [report["id"] for report in reports]
    links = [report["dedup"]["duplicate_of"] for report in reports]
    assert links[:4] == [None, ids[0], ids[0], None]  # the email resend matches the first text best
    assert links[4] is None  # outside the 1h window
    assert {report["dedup"]["cluster"] for report in reports[:4]} == {ids[0]}

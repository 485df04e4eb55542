"""The fixed-size LSH index: bounded, newest first, and the start-up rebuild equals live inserts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from structlog.testing import capture_logs

from gateway.attachments import AttachmentStore
from gateway.config import BrokerConfig, DedupConfig
from gateway.dedup import ClusterIndex, DuplicateFinder, lsh_code, signature
from gateway.ids import new_report_id
from gateway.metrics import Metrics
from gateway.outbox import Outbox
from gateway.pipeline import Intake
from gateway.publisher import Publisher
from normalizer import default_chain
from schemas import Channel, RawMessage, Sender
from tests.support.clock import Clock

TEXT = "lampu penerangan jalan jalan merdeka depan sdn 3 mati total sejak seminggu malam gelap rawan begal {}"


def entries(count: int):
    out = []
    for index in range(count):
        keys, low = lsh_code(signature(TEXT.format(index % 7)))
        out.append((new_report_id(), keys, low, 1000.0 + index))  # id, band keys, low bytes, time
    return out


def test_a_full_ring_forgets_the_oldest_and_never_returns_them():
    index = ClusterIndex(1024)
    rows = entries(3000)
    for report_id, keys, low, at in rows:
        index.insert(report_id, report_id, 1, keys, low, at)
    keys, low = lsh_code(signature(TEXT.format(3)))
    found = index.candidates(keys, low, since=0.0, limit=50)
    recent = {row[0] for row in rows[-1024:]}
    assert found and {candidate.report_id for candidate in found} <= recent
    assert found[0].estimate > 0.9  # the same text ranks first


def test_a_full_ring_tells_when_each_entry_it_overwrites_was_seen():
    index = ClusterIndex(1024)
    rows = entries(1030)
    overwritten = [index.insert(report_id, report_id, 1, keys, low, at) for report_id, keys, low, at in rows]
    assert overwritten[:1024] == [None] * 1024
    assert overwritten[1024:] == [row[3] for row in rows[:6]]


async def test_an_index_too_small_for_its_window_is_counted_in_metrics_and_warned_of_once(tmp_path: Path):
    outbox = Outbox(tmp_path / "outbox.sqlite3", "OFF")
    outbox.open()
    clock = Clock()
    finder = DuplicateFinder(outbox, DedupConfig(cluster_window="1h", cluster_capacity=1024), clock=clock)
    await finder.open()
    metrics = Metrics()
    metrics.watch_dedup(finder.status)
    intake = Intake(default_chain(), outbox, Publisher(BrokerConfig(), outbox, metrics), metrics,
                    AttachmentStore(tmp_path / "files", 1 << 20, 1 << 20, ["text/plain"]), finder)

    async def report(number: int, seconds_later: float) -> None:
        clock.now += seconds_later
        await intake.accept(RawMessage(channel=Channel.SMS, provider="test", inbound_address="1708",
                                       message_id=str(number), body=TEXT.format(number),
                                       sender=Sender(phone=f"0812{number:08d}")))

    try:
        for number in range(1024):  # the first hour's reports fill the index
            await report(number, 3.0)
        text = metrics.render().decode()
        assert "lapor_dedup_index_entries 1024.0" in text and "lapor_dedup_index_capacity 1024.0" in text
        assert "lapor_dedup_index_forgotten_inside_window_total 0.0" in text
        with capture_logs() as logs:
            for number in range(1024, 1030):  # each forgets a report of the last hour
                await report(number, 1.0)
        text = metrics.render().decode()
        assert "lapor_dedup_index_forgotten_inside_window_total 6.0" in text
        warnings = [entry for entry in logs if entry["log_level"] == "warning"]
        assert len(warnings) == 1 and "raise dedup.cluster_capacity" in warnings[0]["event"]
        assert warnings[0]["capacity"] == 1024

        clock.now += 7200  # two hours of quiet: the oldest entries are outside the window now
        await report(2000, 0.0)
        assert "lapor_dedup_index_forgotten_inside_window_total 6.0" in metrics.render().decode()
    finally:
        finder.close()
        await outbox.close()


def test_entries_older_than_the_window_are_not_candidates():
    index = ClusterIndex(1024)
    for report_id, keys, low, at in entries(100):
        index.insert(report_id, report_id, 1, keys, low, at)
    keys, low = lsh_code(signature(TEXT.format(1)))
    assert index.candidates(keys, low, since=2000.0, limit=10) == []
    assert index.candidates(keys, low, since=1050.0, limit=10)


def test_the_rebuild_finds_what_live_inserts_find():
    rows = entries(700)
    live, rebuilt = ClusterIndex(1024), ClusterIndex(1024)
    for report_id, keys, low, at in rows:
        live.insert(report_id, report_id, 1, keys, low, at)
    ids = np.array([r[0].encode() for r in rows], dtype="S26")
    chunk = (ids, ids, np.ones(len(rows), dtype=np.uint64), np.stack([r[1] for r in rows]),
             np.stack([r[2] for r in rows]), np.array([r[3] for r in rows]))
    rebuilt.bulk_load([chunk], len(rows))
    for probe in range(7):
        keys, low = lsh_code(signature(TEXT.format(probe)))
        assert rebuilt.candidates(keys, low, 0.0, 20) == live.candidates(keys, low, 0.0, 20)


def test_the_same_words_find_the_newest_entry_with_them_until_it_expires_or_is_overwritten():
    index = ClusterIndex(1024)
    keys, low = lsh_code(signature(TEXT.format(0)))
    index.insert("A" * 26, "cluster-a", 77, keys, low, 1000.0)
    index.insert("B" * 26, "cluster-b", 77, keys, low, 1010.0)  # the same text joined another cluster later
    assert index.same_text(77, since=0.0) == "cluster-b"
    assert index.same_text(78, since=0.0) is None  # other words
    assert index.same_text(77, since=1020.0) is None  # older than the window
    for n in range(1024):  # the ring comes round: the entry is gone, so is the shortcut
        index.insert(new_report_id(), "other", 1000 + n, keys, low, 2000.0)
    assert index.same_text(77, since=0.0) is None


def test_the_same_words_memory_is_bounded_and_survives_a_rebuild():
    from gateway.dedup import RECENT_TEXTS

    rows = entries(RECENT_TEXTS + 50)
    live, rebuilt = ClusterIndex(RECENT_TEXTS * 2), ClusterIndex(RECENT_TEXTS * 2)
    for digest, (report_id, keys, low, at) in enumerate(rows, start=1):
        live.insert(report_id, report_id, digest, keys, low, at)
    assert len(live.recent) == RECENT_TEXTS
    assert live.same_text(1, since=0.0) is None  # the oldest text fell off
    ids = np.array([r[0].encode() for r in rows], dtype="S26")
    prints = np.arange(1, len(rows) + 1, dtype=np.uint64)
    chunk = (ids, ids, prints, np.stack([r[1] for r in rows]), np.stack([r[2] for r in rows]),
             np.array([r[3] for r in rows]))
    rebuilt.bulk_load([chunk], len(rows))
    assert rebuilt.recent == live.recent
    assert rebuilt.same_text(len(rows), since=0.0) == rows[-1][0]


def test_lone_senders_keep_the_newest_entries_within_their_bounds():
    from gateway.dedup import PERSON_LIMIT, LoneSenders

    def row(n: int, text: str = "x" * 10) -> tuple[str, str, int, str, bytes, float]:
        return (f"r{n}", "c", len(text), text, b"", float(n))

    lone = LoneSenders(senders=2, text_bytes=1000)
    lone.put("tel:a", [row(1)])
    for n in range(2, PERSON_LIMIT + 5):
        lone.add("tel:a", row(n))
    lone.add("tel:a", row(3))  # read by a query already: not twice
    rows = lone.get("tel:a")
    assert rows is not None and [r[0] for r in rows] == [f"r{n}" for n in range(5, PERSON_LIMIT + 5)]
    lone.add("tel:unknown", row(99))  # not remembered: nothing to add to
    assert lone.get("tel:unknown") is None
    lone.put("tel:b", [row(1)])
    lone.get("tel:a")  # used: b is now the least recently used
    lone.put("tel:c", [row(1)])  # a third sender: the least recently used goes
    assert lone.get("tel:b") is None and lone.get("tel:a") is not None
    lone.put("tel:d", [row(1, "y" * 995)])  # over the text budget: senders go, oldest first
    assert lone.get("tel:a") is None and lone.get("tel:c") is None and lone.get("tel:d") is not None


def test_stored_features_are_kept_within_a_budget_of_characters_least_recently_used_out_first():
    from gateway.dedup import StoredFeatures

    kept = StoredFeatures(chars=100)
    first, second = "jalan rusak " * 3, "lampu mati " * 3  # 36 and 33 characters
    a, b = kept(first, 40), kept(second, 40)
    assert kept(first, 40) is a  # kept, and now the most recently used
    c = kept("sampah menumpuk " * 2, 40)  # 32 more: 101 > 100, the least recently used goes
    assert kept(first, 40) is a and kept("sampah menumpuk " * 2, 40) is c
    assert kept(second, 40) is not b
    mail = "banjir " * 20  # 140 characters, over the whole budget: built, not kept, nothing evicted
    assert kept(mail, 140) is not kept(mail, 140)
    assert kept("sampah menumpuk " * 2, 40) is c


def test_signatures_stay_what_the_store_holds():
    # Signatures are stored: a restart compares new reports with old ones, so a change to how they
    # are computed (even one meant only to be faster) must give the same numbers as before.
    from gateway.dedup import signature

    assert signature("jalan di depan SDN 3 berlubang besar, mohon segera diperbaiki 🙏").tolist() == STORED_SIGNATURE


# Computed by the code that wrote the stores in use (commit 3824269).
STORED_SIGNATURE = [
    87398130, 25640579, 23077153, 44636225, 15056577, 20005344, 108696154, 65438425, 5770366,
    51233354, 38261320, 1767168, 76059417, 72630010, 16437328, 26740968, 87853927, 105124415,
    108297471, 24548756, 74864392, 48991188, 33417001, 5262187, 1944692, 133970666, 8109814,
    117430198, 75603440, 58811828, 101484575, 1126560, 25768313, 77731647, 51534870, 7444535,
    13307588, 61488418, 70447781, 98032387, 24728762, 85890208, 41111446, 13913669, 45421181,
    43653951, 136494445, 16115667, 77350227, 45602296, 23273674, 25022884, 81586071, 37909338,
    57310966, 3494441, 92671651, 29351408, 4115996, 34067654, 78622470, 35491095, 66579695, 91161477
]

"""The fixed-size LSH index: bounded, newest first, and the start-up rebuild equals live inserts."""

from __future__ import annotations

import numpy as np

from gateway.dedup import ClusterIndex, lsh_code, signature
from gateway.ids import new_report_id

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

"""Report ids are ULIDs; tracking codes are short and unambiguous."""

from __future__ import annotations

import re
import time
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st
from ulid import ULID

from gateway.ids import TRACKING_ALPHABET, new_report_id, new_tracking_code, ulid_text


@given(milliseconds=st.integers(0, 2**48 - 1), symbols=st.binary(min_size=16, max_size=16))
def test_ids_are_the_ulids_python_ulid_writes(milliseconds: int, symbols: bytes) -> None:
    # Each byte gives its low 5 bits: 16 of them are the ULID's 80 random bits.
    randomness = sum((byte & 31) << (5 * (15 - index)) for index, byte in enumerate(symbols))
    expected = ULID(milliseconds.to_bytes(6, "big") + randomness.to_bytes(10, "big"))
    assert ulid_text(milliseconds, symbols) == str(expected)


def test_a_new_id_carries_the_time_and_sorts_after_an_older_one() -> None:
    before = time.time_ns() // 1_000_000
    first = new_report_id()
    time.sleep(0.002)
    second = new_report_id()
    assert before <= ULID.from_str(first).milliseconds <= time.time_ns() // 1_000_000
    assert first < second


def test_tracking_codes_use_every_symbol_evenly_and_no_ambiguous_one() -> None:
    codes = [new_tracking_code() for _ in range(4000)]
    assert all(re.fullmatch(r"LPR-[2-9A-HJ-NP-Z]{8}", code) for code in codes)
    assert len(set(codes)) == len(codes)
    counts = Counter(symbol for code in codes for symbol in code[4:])
    assert set(counts) == set(TRACKING_ALPHABET)
    expected = 4000 * 8 / 32  # 1000 a symbol; 5 standard deviations is about ±150
    assert all(abs(count - expected) < 160 for count in counts.values()), counts

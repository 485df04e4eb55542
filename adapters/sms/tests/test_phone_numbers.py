"""Every row of the shared Indonesian phone-number table becomes its E.164; senders that are not numbers stay None."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sms.webhook import international_msisdn
from normalizer.contact import fold_number, indonesian_mobile, parsed_e164, to_e164

TABLE = Path(__file__).parents[1] / "testdata" / "phone-id.tsv"


def rows() -> list[tuple[str, str]]:
    with TABLE.open(newline="", encoding="utf-8") as handle:
        return [(row["input"], row["e164"]) for row in csv.DictReader(handle, delimiter="\t") if row.get("input")]


def test_the_table_is_complete():
    assert len(rows()) == 14


@pytest.mark.parametrize(("written", "e164"), rows())
def test_shared_table_row(written, e164):
    assert to_e164(written, "ID") == e164


@pytest.mark.parametrize(("written", "e164"), [
    ("０８１２－３４５６－７８９０", "+6281234567890"),  # full-width digits and dash, as some phones send
    ("+62 812-3456-7890", "+6281234567890"),
    ("1708", None),  # the short code is an inbound address, never a sender's number
    ("INFOSMS", None),
    ("", None),
    ("++62", None),
])
def test_more_ways_of_writing(written, e164):
    assert to_e164(written, "ID") == e164


@pytest.mark.parametrize(("msisdn", "given"), [
    ("6281234567890", "+6281234567890"),
    ("16505551234", "+16505551234"),
    ("447700900001", "447700900001"),  # not a valid number: kept exactly as the provider gave it
    ("VONAGE", "VONAGE"),
])
def test_international_msisdn_without_plus(msisdn, given):
    assert international_msisdn(msisdn) == given


@given(
    prefix=st.sampled_from(["0", "+62", "62", "0062", "+62 (0)", "+6262", "08", "+628", "(0", "0 8"]),
    digits=st.text(alphabet="0123456789", min_size=5, max_size=14),
    separator=st.sampled_from(["", " ", "-", ".", ")"]),
)
@settings(max_examples=1500, deadline=None)
def test_the_mobile_shortcut_gives_what_the_full_parse_gives(prefix, digits, separator):
    folded = fold_number(prefix + separator + digits[:4] + separator + digits[4:])
    shortcut = indonesian_mobile(folded)
    assert shortcut is None or shortcut == parsed_e164(folded, "ID")

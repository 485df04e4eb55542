"""Text clean-up: the citizen's words as sent, with only encoding and whitespace fixed."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from normalizer.text import clean_text, has_visible_text

# The rules spelled out one pattern at a time: clean_text's fast path for one-line text must
# give what they give.
INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def cleaned_rule_by_rule(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = INVISIBLE.sub("", text)
    text = re.sub(r"[ \t\u00a0]{2,}", " ", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# Text made of the characters the rules are about, among ordinary ones.
SPECIAL = " \t\n\r\u00a0\u200b\u202e\ufeff\x00\x1f\x85\x7f\u2028\u3000ae\u0301Éz9."
tricky = st.text(st.sampled_from(list(SPECIAL)) | st.characters(), max_size=40)


@settings(max_examples=2000)
@given(text=tricky)
def test_clean_text_applies_every_rule(text: str) -> None:
    assert clean_text(text) == cleaned_rule_by_rule(text)


@settings(max_examples=2000)
@given(text=tricky)
def test_visible_text_is_what_cleaning_leaves(text: str) -> None:
    assert has_visible_text(text) == bool(clean_text(text))


@pytest.mark.parametrize(("given_text", "expected"), [
    ("Jalan  rusak   parah", "Jalan rusak parah"),
    ("  Jalan rusak  ", "Jalan rusak"),
    ("baris satu  \r\nbaris dua\n\n\n\nbaris tiga", "baris satu\nbaris dua\n\nbaris tiga"),
    ("tolong\u200b segera\u202e", "tolong segera"),
    ("tab\t\tdan\u00a0\u00a0spasi", "tab dan spasi"),
    ("Cafe\u0301", "Café"),
])
def test_clean_text_examples(given_text: str, expected: str) -> None:
    assert clean_text(given_text) == expected


@pytest.mark.parametrize("blank", ["", "   ", "\u200b\u200b", " \t\n\ufeff "])
def test_nothing_visible(blank: str) -> None:
    assert not has_visible_text(blank)
    assert clean_text(blank) == ""

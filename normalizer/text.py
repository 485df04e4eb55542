"""Text clean-up: the citizen's words as sent, with only encoding and whitespace fixed."""

from __future__ import annotations

import re
import unicodedata

from normalizer.draft import Draft

# C0/C1 controls except tab and newline; zero-width and bidi overrides that hide text.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")
_SPACES = re.compile(r"[ \t\u00a0]{2,}")


def clean_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    if text.isprintable():
        # The usual report, one line of visible text: no control, invisible, tab, newline or
        # no-break space (none is printable), so of the rules below only runs of spaces apply.
        # str.isprintable is one C pass; the four patterns are four passes of the regex engine.
        return (_SPACES.sub(" ", text) if "  " in text else text).strip()
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def has_visible_text(text: str) -> bool:
    """Whether clean_text leaves anything: a character that is neither white space nor invisible
    (usually the first one, so this stops at once where clean_text reads the whole text)."""
    return any(not char.isspace() and not _INVISIBLE.match(char) for char in text)


def clean_line(text: str | None) -> str | None:
    if text is None:
        return None
    cleaned = " ".join(clean_text(text).split())
    return cleaned or None


def clean_body_and_subject(draft: Draft) -> Draft:
    return draft.evolve(body=clean_text(draft.body), subject=clean_line(draft.subject), name=clean_line(draft.name))

"""Kind, urgency and tags from the conventions citizens use (SMS keywords, hashtags)."""

from __future__ import annotations

import re

from normalizer.draft import Draft
from schemas import Kind, Urgency

# A leading keyword such as "ASPIRASI jalan di ..." or "INFO: jadwal ..." sets the kind.
KIND_KEYWORDS: dict[str, Kind] = {
    "aspirasi": Kind.ASPIRATION,
    "usul": Kind.ASPIRATION,
    "saran": Kind.ASPIRATION,
    "info": Kind.INFORMATION_REQUEST,
    "informasi": Kind.INFORMATION_REQUEST,
    "tanya": Kind.INFORMATION_REQUEST,
    "pertanyaan": Kind.INFORMATION_REQUEST,
    "usulan": Kind.ASPIRATION,
    "pengaduan": Kind.COMPLAINT,
    "aduan": Kind.COMPLAINT,
    "lapor": Kind.COMPLAINT,
    "keluhan": Kind.COMPLAINT,
}
# Disaster words: a report of these must reach a handler within minutes, not days.
EMERGENCY_WORDS = frozenset(
    {"tsunami", "gempa", "gempabumi", "kebakaran", "terbakar", "longsor", "erupsi", "meletus", "darurat",
     "tenggelam", "banjir bandang"}
)
HIGH_WORDS = frozenset(
    {"banjir", "kebanjiran", "covid", "covid-19", "puting beliung", "angin kencang", "pohon tumbang", "kecelakaan",
     "wabah", "keracunan", "rob", "kekeringan"}
)
_URGENCY_WORDS = EMERGENCY_WORDS | HIGH_WORDS
_PHRASES = tuple(phrase for phrase in _URGENCY_WORDS if " " in phrase)  # found in the text, not among its words
_HASHTAG = re.compile(r"#([\w-]{2,40})")
_LEADING_WORD = re.compile(r"^\s*#?([A-Za-z]+)\b[\s:.,-]*")
_WORD = re.compile(r"[\w-]+")


def hashtags_to_tags(draft: Draft) -> Draft:
    found = [tag.lower() for tag in _HASHTAG.findall(draft.body)]
    if not found:
        return draft
    return draft.evolve(tags=tuple(dict.fromkeys([*draft.tags, *found])))


def kind_from_keyword(draft: Draft) -> Draft:
    """An explicit kind stays; otherwise a leading keyword or hashtag decides; default complaint."""
    if draft.kind is not None:
        return draft
    match = _LEADING_WORD.match(draft.body)
    if match and match.group(1).lower() in KIND_KEYWORDS:
        return draft.evolve(kind=KIND_KEYWORDS[match.group(1).lower()])
    for tag in draft.tags:
        if tag in KIND_KEYWORDS:
            return draft.evolve(kind=KIND_KEYWORDS[tag])
    return draft.evolve(kind=Kind.COMPLAINT)


def urgency_from_words(draft: Draft) -> Draft:
    text = f"{draft.subject or ''} {draft.body}".lower()
    found = _URGENCY_WORDS.intersection([*_WORD.findall(text), *draft.tags]) | {p for p in _PHRASES if p in text}
    if found & EMERGENCY_WORDS:
        urgency = Urgency.EMERGENCY
    elif found & HIGH_WORDS:
        urgency = Urgency.HIGH
    else:
        return draft
    order = [Urgency.NORMAL, Urgency.HIGH, Urgency.EMERGENCY]
    return draft.evolve(urgency=max(draft.urgency, urgency, key=order.index))

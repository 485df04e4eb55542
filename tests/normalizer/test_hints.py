"""Urgency from the words citizens use: disaster words make a report an emergency."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from normalizer.draft import Draft
from normalizer.hints import urgency_from_words
from schemas import Channel, Urgency


def draft(body: str, subject: str | None = None, tags: tuple[str, ...] = (),
          urgency: Urgency = Urgency.NORMAL) -> Draft:
    return Draft(channel=Channel.WEB, provider="api", inbound_address="api", message_id=None,
                 received_at=datetime.now(UTC), body=body, subject=subject, tags=tags, urgency=urgency)


@pytest.mark.parametrize(("given", "expected"), [
    (draft("Jalan berlubang di depan pasar"), Urgency.NORMAL),
    (draft("Rumah kami KEBANJIRAN sejak pagi"), Urgency.HIGH),
    (draft("Ada gempa dan banjir di desa"), Urgency.EMERGENCY),  # the graver word decides
    (draft("Terjadi banjir bandang di hulu"), Urgency.EMERGENCY),  # a phrase, not its words
    (draft("Pohon tumbang menutup jalan"), Urgency.HIGH),
    (draft("Pohonnya tumbang"), Urgency.NORMAL),  # the phrase needs its own words
    (draft("Mohon dicek", subject="Longsor di tebing"), Urgency.EMERGENCY),
    (draft("Mohon dicek", tags=("covid-19",)), Urgency.HIGH),
    (draft("Mohon dicek", tags=("banjir bandang",)), Urgency.EMERGENCY),  # an API tag may hold a space
    (draft("Kasus covid-19 naik"), Urgency.HIGH),
    (draft("Jalan rusak", urgency=Urgency.EMERGENCY), Urgency.EMERGENCY),  # never lowered
    (draft("Ada banjir", urgency=Urgency.EMERGENCY), Urgency.EMERGENCY),
])
def test_urgency_from_words(given: Draft, expected: Urgency) -> None:
    assert urgency_from_words(given).urgency == expected

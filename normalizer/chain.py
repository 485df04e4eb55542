"""The normalizer chain and its default order."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

from normalizer.contact import derive_identity, normalize_email, normalize_phone
from normalizer.draft import Draft
from normalizer.fingerprint import set_fingerprint
from normalizer.hints import hashtags_to_tags, kind_from_keyword, urgency_from_words
from normalizer.language import detect_language
from normalizer.text import clean_body_and_subject
from schemas import RawMessage

Step = Callable[[Draft], Draft]


def assign_agency(draft: Draft, addresses: Mapping[str, str], default: str | None) -> Draft:
    """The agency configured for the inbound address (short code, mailbox, bot), else the default."""
    agency = addresses.get(draft.inbound_address, draft.agency or default)
    return draft if agency == draft.agency else draft.evolve(agency=agency)


def default_chain(
    region: str = "ID", addresses: Mapping[str, str] | None = None, default_agency: str | None = None
) -> list[Step]:
    return [
        clean_body_and_subject,
        partial(normalize_phone, region=region),
        normalize_email,
        derive_identity,
        hashtags_to_tags,
        kind_from_keyword,
        urgency_from_words,
        detect_language,
        partial(assign_agency, addresses=addresses or {}, default=default_agency),
        set_fingerprint,
    ]


def normalize(raw: RawMessage, steps: Sequence[Step]) -> Draft:
    draft = Draft.from_raw(raw)
    for step in steps:
        draft = step(draft)
    return draft

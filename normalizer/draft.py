"""The report under construction, as the normalizer steps pass it along."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from datetime import datetime
from typing import Any

from schemas import (
    Attachment,
    Channel,
    Dedup,
    Kind,
    Location,
    Raw,
    RawMessage,
    Report,
    Urgency,
)


@dataclass(frozen=True)
class Draft:
    channel: Channel
    provider: str
    inbound_address: str
    message_id: str | None
    received_at: datetime
    body: str
    subject: str | None = None
    thread_ref: str | None = None
    agency: str | None = None
    identity: str | None = None
    name: str | None = None
    phone: str | None = None  # E.164 once the contact step ran
    address_as_given: str | None = None  # a sender address that could not be normalised, kept verbatim
    email: str | None = None
    telegram_id: str | None = None
    whatsapp_id: str | None = None
    anonymous: bool = False
    confidential: bool = False
    kind: Kind | None = None
    urgency: Urgency = Urgency.NORMAL
    category: str | None = None
    tags: tuple[str, ...] = ()
    language: str | None = None
    location: Location | None = None
    fingerprint: str | None = None
    notes: tuple[str, ...] = field(default=())  # what steps noticed, for logs

    def evolve(self, **changes: Any) -> Draft:
        """A copy with ``changes``, at a fifth of dataclasses.replace's cost (see _draft). An unknown
        field name raises AttributeError, as setting it would."""
        if not changes.keys() <= _FIELDS:
            raise AttributeError(f"Draft has no field {sorted(changes.keys() - _FIELDS)[0]!r}")
        return _draft(self.__dict__, **changes)

    @classmethod
    def from_raw(cls, raw: RawMessage) -> Draft:
        """The channel's values as given."""
        return _draft(
            _DEFAULTS,
            channel=raw.channel,
            provider=raw.provider,
            inbound_address=raw.inbound_address,
            message_id=raw.message_id,
            received_at=raw.received_at,
            body=raw.body,
            subject=raw.subject,
            thread_ref=raw.thread_ref,
            name=raw.sender.name,
            phone=raw.sender.phone,
            email=raw.sender.email,
            telegram_id=raw.sender.telegram_id,
            whatsapp_id=raw.sender.whatsapp_id,
            anonymous=raw.anonymous,
            confidential=raw.confidential,
            kind=raw.kind,
            tags=raw.tags,
            location=raw.location,
        )


def _draft(values: Mapping[str, Any], **more: Any) -> Draft:
    """A Draft of these field values, set past the frozen __init__'s object.__setattr__ per field:
    a fifth of its cost, and drafts are made seven times a report."""
    draft = object.__new__(Draft)
    draft.__dict__.update(values, **more)
    return draft


_FIELDS = frozenset(Draft.__dataclass_fields__)
_DEFAULTS = {name: spec.default for name, spec in Draft.__dataclass_fields__.items() if spec.default is not MISSING}


def build_report(
    draft: Draft,
    *,
    report_id: str,
    tracking_code: str,
    message_id: str,
    attachments: list[Attachment],
    raw: Raw | None,
    dedup: Dedup | None = None,
) -> Report:
    """The final, validated report (pydantic checks every field against schema v1 here).

    One validation of nested dicts: a constructor per nested model validates each on its own,
    23k instructions a report more.
    """
    return Report.model_validate({
        "id": report_id,
        "tracking_code": tracking_code,
        "received_at": draft.received_at,
        "channel": draft.channel,
        "source": {
            "provider": draft.provider,
            "inbound_address": draft.inbound_address,
            "message_id": message_id,
            "thread_ref": draft.thread_ref,
        },
        "agency": draft.agency,
        "reporter": {
            "identity": draft.identity or "web:anonymous",
            "name": draft.name,
            "phone": draft.phone,
            "address_as_given": draft.address_as_given,
            "email": draft.email,
            "telegram_id": draft.telegram_id,
            "whatsapp_id": draft.whatsapp_id,
            "anonymous": draft.anonymous,
            "confidential": draft.confidential,
        },
        "kind": draft.kind or Kind.COMPLAINT,
        "urgency": draft.urgency,
        "category": draft.category,
        "tags": list(draft.tags),
        "subject": draft.subject,
        "body": draft.body,
        "language": draft.language,
        "location": draft.location,
        "attachments": attachments,
        "dedup": dedup or Dedup(fingerprint=draft.fingerprint),
        "raw": raw,
    })

"""RawMessage: what a channel adapter hands to the shared pipeline.

An adapter verifies authenticity and parses its provider's payload into one of these; it
knows nothing of normalising, dedup, the outbox or RabbitMQ. Values are as the channel gave
them (a phone number in the citizen's own format, say); the normalizer cleans them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.report import Channel, Kind, Location


@dataclass(frozen=True, slots=True)
class Sender:
    phone: str | None = None
    email: str | None = None
    name: str | None = None
    telegram_id: str | None = None
    whatsapp_id: str | None = None


@dataclass(frozen=True, slots=True)
class IncomingAttachment:
    """An attachment as received: bytes in hand, or a reference to fetch them later (media ids)."""

    filename: str | None
    content_type: str
    data: bytes | None = None
    remote_ref: str | None = None
    inline: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RawMessage:
    channel: Channel
    provider: str
    inbound_address: str
    message_id: str | None  # None: the channel has no id of its own (the pipeline assigns one)
    body: str
    sender: Sender = field(default_factory=Sender)
    subject: str | None = None
    thread_ref: str | None = None
    received_at: datetime = field(default_factory=_now)
    kind: Kind | None = None  # an explicit choice (web form, API); None lets the normalizer infer it
    tags: tuple[str, ...] = ()
    anonymous: bool = False
    confidential: bool = False
    location: Location | None = None
    attachments: tuple[IncomingAttachment, ...] = ()
    raw: bytes = b""
    raw_content_type: str = "application/octet-stream"

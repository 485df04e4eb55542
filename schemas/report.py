"""Canonical report, schema v1: the JSON body of every AMQP message the gateway publishes.

Field names and shapes are the contract in design.md. Adding an optional field is a minor
change; renaming or removing one needs a new schema version (and a new SCHEMA_ID).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer

SCHEMA_ID = "lapor.report/1"
SCHEMA_FILE = Path(__file__).with_name("report-v1.schema.json")

ULID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"
# Tracking codes avoid 0/O and 1/I so a citizen can read one aloud or copy it by hand.
TRACKING_CODE_PATTERN = r"^LPR-[2-9A-HJ-NP-Z]{8}$"
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"
    WEB = "web"


class Kind(StrEnum):
    COMPLAINT = "complaint"
    ASPIRATION = "aspiration"
    INFORMATION_REQUEST = "information_request"


class Urgency(StrEnum):
    NORMAL = "normal"
    HIGH = "high"
    EMERGENCY = "emergency"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Source(_Model):
    provider: str = Field(description="Provider or sub-channel, e.g. twilio, vonage, imap, smtp, api, form.")
    inbound_address: str = Field(
        description="Where the citizen sent it: short code, mailbox, WhatsApp phone_number_id, bot username."
    )
    message_id: str = Field(
        description="The channel's own id; (channel, inbound_address, message_id) is the exact-duplicate key."
    )
    thread_ref: str | None = Field(
        default=None, description="Earlier message this one follows up (email In-Reply-To, edited message)."
    )


class Reporter(_Model):
    identity: str = Field(
        description="URN of the person: tel:+E164, mailto:address, telegram:ID or web:anonymous.",
        pattern=r"^(tel:\+[1-9][0-9]{1,14}|mailto:.+|telegram:-?[0-9]+|web:anonymous|[a-z]+:.+)$",
    )
    name: str | None = None
    phone: Annotated[str, Field(pattern=E164_PATTERN)] | None = None
    address_as_given: str | None = Field(
        default=None, description="The sender address verbatim when it could not be normalised (not E.164)."
    )
    email: str | None = None
    telegram_id: str | None = None
    whatsapp_id: str | None = None
    anonymous: bool = False
    confidential: bool = False


class Location(_Model):
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    address: str | None = None
    source: str | None = Field(default=None, description="Where it came from: gps, typed, whatsapp, telegram.")


class Attachment(_Model):
    id: str
    filename: str | None = None
    content_type: str
    size: Annotated[int, Field(ge=0)]
    sha256: Annotated[str, Field(pattern=SHA256_PATTERN)] | None = None
    url: str | None = Field(default=None, description="Where the stored bytes are; null if unavailable.")
    status: Literal["stored", "refused", "unavailable"] = "stored"
    reason: str | None = Field(default=None, description="Why it was refused or is unavailable.")


class Dedup(_Model):
    fingerprint: str | None = None
    duplicate_of: str | None = Field(default=None, description="id of the earlier report this one repeats.")
    similarity: Annotated[float, Field(ge=0, le=1)] | None = None
    cluster: str | None = Field(
        default=None, description="Shared by reports of one event from different reporters."
    )


class Raw(_Model):
    content_type: str
    size: Annotated[int, Field(ge=0)]
    sha256: Annotated[str, Field(pattern=SHA256_PATTERN)]
    ref: str | None = Field(default=None, description="Where the stored original can be fetched.")


class Report(_Model):
    schema_: Literal["lapor.report/1"] = Field(default="lapor.report/1", alias="schema")
    id: Annotated[str, Field(pattern=ULID_PATTERN)]
    tracking_code: Annotated[str, Field(pattern=TRACKING_CODE_PATTERN)]
    received_at: AwareDatetime
    channel: Channel
    source: Source
    agency: str | None = None
    reporter: Reporter
    kind: Kind = Kind.COMPLAINT
    urgency: Urgency = Urgency.NORMAL
    category: str | None = None
    tags: list[str] = Field(default_factory=list)
    subject: str | None = None
    body: str
    language: str | None = None
    location: Location | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    dedup: Dedup = Field(default_factory=Dedup)
    raw: Raw | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_serializer("received_at")
    def _rfc3339_utc(self, value: datetime) -> str:
        return rfc3339_utc(value)

    def to_json(self) -> bytes:
        """Schema v1 JSON: the bytes pydantic's serializer gives (tests/test_schema.py holds them equal).

        orjson writes them at under half the cost (56k -> 25k instructions a report, on the event
        loop, where every report is serialized before it commits): every nested model is its own
        field dict.
        """
        fields = self.__dict__.copy()
        del fields["schema_"]
        received_at: datetime = fields["received_at"]
        if received_at.tzinfo is not UTC or not received_at.microsecond:
            # orjson would write the offset, or leave out a zero fraction: RFC 3339 all the same,
            # but not the one shape every report has.
            fields["received_at"] = rfc3339_utc(received_at)
        try:
            return orjson.dumps({"schema": SCHEMA_ID, **fields}, default=vars, option=orjson.OPT_UTC_Z)
        except orjson.JSONEncodeError:  # text orjson refuses (a lone surrogate): pydantic's own answer
            return self.__pydantic_serializer__.to_json(self, by_alias=True)

    @property
    def routing_key(self) -> str:
        prefix = "duplicate." if self.dedup.duplicate_of else "report."
        # The members are str: joined as they are, with no Enum.value lookup or format() call.
        return prefix + routing_word(self.agency) + "." + self.kind + "." + self.channel


def rfc3339_utc(value: datetime) -> str:
    """Always UTC, always microseconds: one fixed shape for every report's received_at."""
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@lru_cache(maxsize=1024)  # a deployment has a handful of agencies; every report asks
def routing_word(agency: str | None) -> str:
    """An agency name made safe for one word of a topic routing key (no dots, no wildcards)."""
    if not agency:
        return "unassigned"
    cleaned = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in agency.strip().lower())
    return cleaned or "unassigned"


def report_json_schema() -> dict[str, Any]:
    schema = Report.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://lapor-gateway.example/schemas/report-v1.schema.json"
    schema["title"] = "lapor.report/1"
    return schema


def report_json_schema_text() -> str:
    return json.dumps(report_json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"

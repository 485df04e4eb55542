"""The canonical report (schema v1) and the message an adapter hands to the pipeline."""

from schemas.raw_message import IncomingAttachment, RawMessage, Sender
from schemas.report import (
    SCHEMA_ID,
    Attachment,
    Channel,
    Dedup,
    Kind,
    Location,
    Raw,
    Report,
    Reporter,
    Source,
    Urgency,
    report_json_schema,
)

__all__ = [
    "SCHEMA_ID",
    "Attachment",
    "Channel",
    "Dedup",
    "IncomingAttachment",
    "Kind",
    "Location",
    "Raw",
    "RawMessage",
    "Report",
    "Reporter",
    "Sender",
    "Source",
    "Urgency",
    "report_json_schema",
]

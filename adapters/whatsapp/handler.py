"""WhatsApp Cloud API webhook payloads -> RawMessages: one per message of every entry and change.

Only the parts a report needs are modelled; anything Meta adds is ignored, and a message type
the gateway does not know still becomes a report (with the stored raw payload), never dropped.
Statuses (sent/delivered/read/failed) describe the gateway's own outgoing messages: counted,
not reports. The media ``sha256`` Meta sends is hex in some payloads and base64 in others; it
is kept in the raw payload and never validated (the attachment store hashes the bytes itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.common import json_object_body
from gateway.http import RequestError
from schemas import IncomingAttachment, Location, RawMessage, Sender
from schemas.report import Channel

PROVIDER = "meta"
MEDIA_TYPES = ("image", "document", "audio", "voice", "video", "sticker")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Profile(_Model):
    name: str | None = None


class Contact(_Model):
    wa_id: str | None = None
    profile: Profile | None = None


class Metadata(_Model):
    phone_number_id: str
    display_phone_number: str | None = None


class Text(_Model):
    body: str = ""


class Media(_Model):
    id: str
    mime_type: str = "application/octet-stream"
    caption: str | None = None
    filename: str | None = None
    sha256: str | None = None  # hex or base64 depending on the payload: never validated


class SharedLocation(_Model):
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None
    address: str | None = None


class ContactName(_Model):
    formatted_name: str | None = None


class ContactPhone(_Model):
    phone: str | None = None
    wa_id: str | None = None


class SharedContact(_Model):
    name: ContactName | None = None
    phones: list[ContactPhone] = Field(default_factory=list)


class Reply(_Model):
    id: str | None = None
    title: str = ""


class Interactive(_Model):
    type: str | None = None
    button_reply: Reply | None = None
    list_reply: Reply | None = None


class Button(_Model):
    text: str = ""
    payload: str | None = None


class Context(_Model):
    id: str | None = None


class Message(_Model):
    sender: str | None = Field(default=None, alias="from")
    id: str | None = None
    type: str = "unknown"
    context: Context | None = None
    text: Text | None = None
    image: Media | None = None
    document: Media | None = None
    audio: Media | None = None
    voice: Media | None = None
    video: Media | None = None
    sticker: Media | None = None
    location: SharedLocation | None = None
    contacts: list[SharedContact] | None = None
    interactive: Interactive | None = None
    button: Button | None = None


class Value(_Model):
    metadata: Metadata | None = None
    contacts: list[Contact] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    statuses: list[dict[str, Any]] = Field(default_factory=list)


class Change(_Model):
    field: str | None = None
    value: Value | None = None


class Entry(_Model):
    id: str | None = None
    changes: list[Change] = Field(default_factory=list)


class Payload(_Model):
    object: str
    entry: list[Entry] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Parsed:
    messages: list[RawMessage]
    statuses: int
    unknown_types: list[str]


def parse_payload(body: bytes) -> Payload:
    """The webhook JSON as a Payload; bad bytes or JSON are a 400, wrong shapes a field-level 422."""
    data = json_object_body(body, "a WhatsApp webhook")
    try:
        payload = Payload.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise RequestError(422, "invalid_fields", f"{where}: {first['msg']}", field=where) from None
    if payload.object != "whatsapp_business_account":
        raise RequestError(422, "invalid_fields", "object must be \"whatsapp_business_account\"", field="object")
    return payload


def to_raw_messages(payload: Payload, body: bytes) -> Parsed:
    messages: list[RawMessage] = []
    statuses = 0
    unknown: list[str] = []
    for entry in payload.entry:
        for change in entry.changes:
            value = change.value
            if value is None:
                continue
            statuses += len(value.statuses)
            if not value.messages:
                continue
            inbound = value.metadata.phone_number_id if value.metadata else (entry.id or "whatsapp")
            for message in value.messages:
                content = _content(message)
                if content is None:
                    unknown.append(message.type)
                messages.append(_raw_message(message, content, value.contacts, inbound, body))
    return Parsed(messages, statuses, unknown)


def _sender(message: Message, contacts: list[Contact]) -> Sender:
    wa_id = message.sender
    contact = next((c for c in contacts if c.wa_id and c.wa_id == wa_id), contacts[0] if len(contacts) == 1 else None)
    wa_id = wa_id or (contact.wa_id if contact else None)
    name = contact.profile.name if contact and contact.profile else None
    phone = f"+{wa_id}" if wa_id and wa_id.isdigit() else None
    return Sender(phone=phone, name=name, whatsapp_id=wa_id)


_Content = tuple[str, tuple[IncomingAttachment, ...], Location | None]


def _content(message: Message) -> _Content | None:
    """(body, attachments, location) for a type the gateway understands, else None."""
    kind = message.type
    if kind == "text" and message.text is not None:
        return message.text.body, (), None
    if kind in MEDIA_TYPES:
        media: Media | None = getattr(message, kind)
        if media is None:
            return None
        attachment = IncomingAttachment(filename=media.filename, content_type=media.mime_type, remote_ref=media.id)
        return media.caption or "", (attachment,), None
    if kind == "location" and message.location is not None:
        where = message.location
        # Meta's address often starts with the place name already ("Main Street Beach, Santa Cruz").
        named = where.name and not (where.address or "").startswith(where.name)
        address = ", ".join(part for part in (where.name if named else None, where.address) if part) or None
        return "", (), Location(latitude=where.latitude, longitude=where.longitude, address=address,
                                source="whatsapp")
    if kind == "contacts" and message.contacts is not None:
        return "\n".join(_describe_contact(contact) for contact in message.contacts), (), None
    if kind == "interactive" and message.interactive is not None:
        reply = message.interactive.button_reply or message.interactive.list_reply
        return (reply.title, (), None) if reply is not None else None
    if kind == "button" and message.button is not None:
        return message.button.text, (), None
    return None


def _describe_contact(contact: SharedContact) -> str:
    name = contact.name.formatted_name if contact.name and contact.name.formatted_name else ""
    phones = ", ".join(phone.phone for phone in contact.phones if phone.phone)
    return f"{name}: {phones}" if name and phones else name or phones


def _raw_message(
    message: Message, content: _Content | None, contacts: list[Contact], inbound: str, body: bytes
) -> RawMessage:
    # An unknown type has no text of its own: the report carries the stored raw payload instead.
    text, attachments, location = content or ("", (), None)
    return RawMessage(
        channel=Channel.WHATSAPP,
        provider=PROVIDER,
        inbound_address=inbound,
        message_id=message.id,
        body=text,
        sender=_sender(message, contacts),
        thread_ref=message.context.id if message.context else None,
        location=location,
        attachments=attachments,
        raw=body,
        raw_content_type="application/json",
    )

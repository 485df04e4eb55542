"""A Telegram update -> a report, a command to answer, or nothing; shared by webhook and polling.

Exact-duplicate key: ``<chat id>:<message id>`` (an edit: ``<chat id>:<message id>:edit:<edit_date>``,
threaded to the original). The key is built from the message, not from ``update_id``: a
re-delivered update carries the same message and so is a duplicate, while ``update_id`` alone
is unsafe as a key because Telegram restarts it at a random value after a week without updates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from pydantic import ValidationError

from adapters.common import commit
from adapters.telegram.botapi import BotApi, BotApiError
from adapters.telegram.models import Contact, FileRef, Message, Update
from gateway.http import RequestError
from gateway.media import MediaFetcher
from gateway.pipeline import Intake
from normalizer.contact import to_e164
from schemas import Channel, IncomingAttachment, Location, RawMessage, Sender

log = structlog.get_logger("telegram")

PROVIDER = "telegram"
GROUP_TYPES = frozenset({"group", "supergroup"})
COMMAND = re.compile(r"^/(start|help)(?:@(\w+))?(?:\s|$)", re.IGNORECASE)

HELP_TEXT = (
    "Halo! Ini kanal pengaduan LAPOR!.\n\n"
    "Untuk melapor, kirim pesan berisi apa yang terjadi, di mana, dan kapan. "
    "Anda boleh menambahkan foto, video, dokumen, pesan suara, atau lokasi (📎 > Lokasi). "
    "Setiap pesan yang Anda kirim di sini dicatat sebagai laporan dan diteruskan ke instansi yang berwenang."
)

# Attachment fields of a Message, with the content type to assume when Telegram gives none
# (the attachment store decides the real type from the bytes).
_FILE_FIELDS: tuple[tuple[str, str], ...] = (
    ("document", "application/octet-stream"),
    ("voice", "audio/ogg"),
    ("video", "video/mp4"),
    ("audio", "audio/mpeg"),
    ("video_note", "video/mp4"),
    ("sticker", "image/webp"),
)


@dataclass(frozen=True, slots=True)
class ReportUpdate:
    raw: RawMessage


@dataclass(frozen=True, slots=True)
class CommandUpdate:
    chat_id: int
    command: str


@dataclass(frozen=True, slots=True)
class IgnoredUpdate:
    reason: str


Parsed = ReportUpdate | CommandUpdate | IgnoredUpdate


@dataclass(frozen=True, slots=True)
class Handled:
    status: Literal["accepted", "duplicate", "replied", "ignored"]
    id: str | None = None
    tracking_code: str | None = None
    reason: str | None = None


def validate_update(data: Any) -> Update:
    if not isinstance(data, dict):
        raise RequestError(422, "invalid_fields", "an update must be a JSON object")
    try:
        return Update.model_validate(data)
    except ValidationError as error:
        details = [
            {"field": ".".join(str(part) for part in item["loc"]), "reason": item["msg"]}
            for item in error.errors(include_url=False, include_input=False)
        ]
        first = details[0]
        raise RequestError(422, "invalid_fields", f"{first['field']}: {first['reason']}", field=first["field"],
                           details=details) from None


def contact_phone(text: str, region: str = "ID") -> str | None:
    """E.164 of a shared contact's number: address-book numbers come in local format ("0812…"),
    a user's own number as international digits without '+' ("62812…", "7916…")."""
    e164 = to_e164(text, region)
    digits = re.sub(r"\D", "", text)
    if e164 is None and digits and not text.strip().startswith("+"):
        e164 = to_e164("+" + digits, region)
    return e164


def _full_name(first: str, last: str | None) -> str | None:
    return " ".join(part for part in (first, last) if part) or None


def _largest(photo: list[FileRef]) -> FileRef:
    return max(photo, key=lambda size: (size.width * size.height, size.file_size or 0))


def _attachments(message: Message) -> tuple[IncomingAttachment, ...]:
    found: list[IncomingAttachment] = []
    if message.photo:
        found.append(IncomingAttachment(filename=None, content_type="image/jpeg",
                                        remote_ref=_largest(message.photo).file_id))
    for field, default_type in _FILE_FIELDS:
        item: FileRef | None = getattr(message, field)
        if item is not None:
            found.append(IncomingAttachment(filename=item.file_name, content_type=item.mime_type or default_type,
                                            remote_ref=item.file_id))
    return tuple(found)


def _contact_line(contact: Contact) -> str:
    phone = contact_phone(contact.phone_number) or contact.phone_number
    name = _full_name(contact.first_name, contact.last_name)
    return f"Kontak: {name} {phone}" if name else f"Kontak: {phone}"


def _location(message: Message) -> Location | None:
    if message.venue is not None:
        venue = message.venue
        address = ", ".join(part for part in (venue.title, venue.address) if part) or None
        return Location(latitude=venue.location.latitude, longitude=venue.location.longitude, address=address,
                        source="telegram")
    if message.location is not None:
        return Location(latitude=message.location.latitude, longitude=message.location.longitude,
                        source="telegram")
    return None


def parse_update(update: Update, raw: bytes, *, bot_username: str, allow_groups: bool) -> Parsed:
    edited = update.message is None and update.edited_message is not None
    message = update.message or update.edited_message
    if message is None:
        return IgnoredUpdate("not a message")
    if message.chat.type in GROUP_TYPES and not allow_groups:
        return IgnoredUpdate("group chat")
    if message.chat.type not in GROUP_TYPES and message.chat.type != "private":
        return IgnoredUpdate(f"{message.chat.type} chat")
    sender = message.from_
    if sender is not None and sender.is_bot:
        return IgnoredUpdate("sent by a bot")
    command = COMMAND.match(message.text or "")
    if command and (command.group(2) is None or command.group(2).lower() == bot_username.lower()):
        # An edited command is neither a report nor worth a second answer.
        return IgnoredUpdate("edited command") if edited else CommandUpdate(message.chat.id, command.group(1).lower())

    attachments = _attachments(message)
    location = _location(message)
    contact = message.contact
    own_contact = contact is not None and sender is not None and contact.user_id == sender.id
    own_phone = contact_phone(contact.phone_number) if contact is not None and own_contact else None
    lines = [text for text in (message.text, message.caption) if text]
    if contact is not None and own_phone is None:
        # Someone else's number, or the sender's own that is not a valid number: kept in the words.
        lines.append(_contact_line(contact))
    if not (lines or attachments or location or contact):
        return IgnoredUpdate("no supported content")

    key = f"{message.chat.id}:{message.message_id}"
    user_id = str(sender.id) if sender is not None else str(message.chat.id)
    return ReportUpdate(RawMessage(
        channel=Channel.TELEGRAM,
        provider=PROVIDER,
        inbound_address=bot_username,
        message_id=f"{key}:edit:{message.edit_date or message.date}" if edited else key,
        thread_ref=key if edited else None,
        body="\n".join(lines),
        sender=Sender(
            name=_full_name(sender.first_name, sender.last_name) if sender is not None else None,
            phone=own_phone,
            telegram_id=user_id,
        ),
        location=location,
        attachments=attachments,
        raw=raw,
        raw_content_type="application/json",
    ))


class TelegramIntake:
    """Acts on one update: commits a report, answers /start and /help, or lets it pass."""

    def __init__(
        self, intake: Intake, media: MediaFetcher, api: BotApi, allow_groups: bool, bot_username: str | None
    ) -> None:
        self.intake = intake
        self.media = media
        self.api = api
        self.allow_groups = allow_groups
        self.bot_username = bot_username  # set from getMe when not configured

    async def handle(self, update: Update, raw: bytes) -> Handled:
        """Raises RequestError 503 when the report could not be stored (the update must come again)."""
        if self.bot_username is None:
            raise RequestError(503, "not_ready", "the bot's identity is not known yet (getMe); retry later")
        parsed = parse_update(update, raw, bot_username=self.bot_username, allow_groups=self.allow_groups)
        if isinstance(parsed, IgnoredUpdate):
            log.info("telegram update ignored", update_id=update.update_id, reason=parsed.reason)
            return Handled("ignored", reason=parsed.reason)
        if isinstance(parsed, CommandUpdate):
            await self.reply(parsed)
            return Handled("replied")
        accepted = await commit(self.intake, parsed.raw, media=self.media)
        return Handled("duplicate" if accepted.duplicate else "accepted", accepted.id, accepted.tracking_code)

    async def reply(self, command: CommandUpdate) -> None:
        # A lost answer to /start costs the citizen one more tap; it must not hold up updates.
        try:
            await self.api.call("sendMessage", {"chat_id": command.chat_id, "text": HELP_TEXT})
        except BotApiError as error:
            log.warning("telegram reply not sent", command=command.command, error=str(error))

"""The parts of a Bot API Update the gateway reads, validated with pydantic.

PTB's ``telegram.Update.de_json`` is not used to parse: it requires every field the current
Bot API marks as required (``User.is_bot`` among them), so it raises a TypeError on real
payloads of older shape, such as nyaruka/courier's test updates; and it does not check value
types (a numeric ``text`` passes through). These models accept anything Telegram adds, keep
only what a report needs, and turn a malformed update into a field-level 422.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(_Model):
    id: StrictInt
    is_bot: bool = False
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None


class Chat(_Model):
    id: StrictInt
    type: str


class FileRef(_Model):
    """Any downloadable object: PhotoSize, Document, Voice, Video, Audio, VideoNote, Sticker."""

    file_id: str = Field(min_length=1, max_length=512)
    file_unique_id: str | None = None
    file_size: int | None = None
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0


class GeoPoint(_Model):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class Venue(_Model):
    location: GeoPoint
    title: str = ""
    address: str = ""


class Contact(_Model):
    phone_number: str = Field(max_length=64)
    first_name: str = ""
    last_name: str | None = None
    user_id: StrictInt | None = None


class Message(_Model):
    message_id: StrictInt
    date: StrictInt
    chat: Chat
    from_: User | None = Field(default=None, alias="from")
    edit_date: StrictInt | None = None
    text: str | None = None
    caption: str | None = None
    photo: list[FileRef] = Field(default_factory=list, max_length=64)
    document: FileRef | None = None
    voice: FileRef | None = None
    video: FileRef | None = None
    audio: FileRef | None = None
    video_note: FileRef | None = None
    sticker: FileRef | None = None
    location: GeoPoint | None = None
    venue: Venue | None = None
    contact: Contact | None = None


class Update(_Model):
    update_id: StrictInt
    message: Message | None = None
    edited_message: Message | None = None

"""parse_update on its own: the decisions that need no gateway (commands, chats, contacts, files)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from adapters.telegram.handler import CommandUpdate, IgnoredUpdate, ReportUpdate, contact_phone, parse_update
from adapters.telegram.models import Update
from adapters.telegram.tests.conftest import payload

BOT = "lapor_test_bot"


def parse(data: dict[str, Any], allow_groups: bool = False) -> Any:
    return parse_update(Update.model_validate(data), b"{}", bot_username=BOT, allow_groups=allow_groups)


def with_message(name: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(payload(name))
    data["message"].update(changes)
    return data


@pytest.mark.parametrize(("text", "command"), [
    ("/start", "start"), ("/help", "help"), ("/START", "start"), ("/start kampanye-banjir", "start"),
    (f"/help@{BOT}", "help"), (f"/start@{BOT.upper()}", "start"),
])
def test_start_and_help_are_commands(text, command):
    assert parse(with_message("text.json", text=text)) == CommandUpdate(3527065, command)


@pytest.mark.parametrize("text", ["/start@another_bot", "/starting a report", "/laporan jalan rusak",
                                  "tolong /help"])
def test_other_slash_text_is_a_report(text):
    parsed = parse(with_message("text.json", text=text))
    assert isinstance(parsed, ReportUpdate) and parsed.raw.body == text


def test_edited_command_is_ignored():
    data = payload("edited.json")
    data["edited_message"]["text"] = "/start"
    assert parse(data) == IgnoredUpdate("edited command")


@pytest.mark.parametrize(("changes", "reason"), [
    ({"chat": {"id": -100, "type": "channel"}}, "channel chat"),
    ({"from": {"id": 5, "is_bot": True, "first_name": "Other bot"}}, "sent by a bot"),
    ({"text": None, "poll": {"id": "1", "question": "?"}}, "no supported content"),
    ({"text": ""}, "no supported content"),
])
def test_not_reports(changes, reason):
    assert parse(with_message("text.json", **changes)) == IgnoredUpdate(reason)


def test_group_needs_allow_groups():
    assert parse(payload("group.json")) == IgnoredUpdate("group chat")
    parsed = parse(payload("group.json"), allow_groups=True)
    assert isinstance(parsed, ReportUpdate) and parsed.raw.message_id == "-1001234567890:77"


def test_photo_takes_the_largest_size_and_caption_is_the_body():
    parsed = parse(payload("courier-photo.json"))
    assert isinstance(parsed, ReportUpdate)
    [attachment] = parsed.raw.attachments
    assert attachment.remote_ref == "AgADAQADtKcxG4LRUUQSQVUjfJIiiF8G6C8ABA9NJzFdXskaincBAAEC"
    assert (attachment.content_type, attachment.data) == ("image/jpeg", None)
    assert parsed.raw.body == "Photo Caption"


def test_document_keeps_its_name_and_claimed_type():
    parsed = parse(payload("courier-document.json"))
    assert isinstance(parsed, ReportUpdate)
    [attachment] = parsed.raw.attachments
    assert (attachment.filename, attachment.content_type) == ("TabFig2015prel.xls", "application/vnd.ms-excel")


def test_own_contact_with_an_invalid_number_stays_in_the_body_not_the_identity():
    data = payload("own-contact.json")
    data["message"]["contact"]["phone_number"] = "12"
    parsed = parse(data)
    assert isinstance(parsed, ReportUpdate)
    assert parsed.raw.sender.phone is None and parsed.raw.body == "Kontak: Siti Rahayu 12"


def test_message_without_from_uses_the_chat_id():
    data = with_message("text.json")
    del data["message"]["from"]
    parsed = parse(data)
    assert isinstance(parsed, ReportUpdate) and parsed.raw.sender.telegram_id == "3527065"


@pytest.mark.parametrize(("given", "e164"), [
    ("6281234567890", "+6281234567890"),  # a user's own number: international digits, no '+'
    ("081234567890", "+6281234567890"),  # an address-book entry in local format
    ("+62 812-3456-7890", "+6281234567890"),
    ("79161234567", "+79161234567"),  # a foreign user's own number
    ("0788531373", None),  # courier's sample: not a valid number in ID
    ("", None),
])
def test_contact_phone(given, e164):
    assert contact_phone(given) == e164

"""Webhook mode: real public payloads in, reports with the expected fields out on the real queue."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import pytest
import structlog.testing

from adapters.telegram.handler import HELP_TEXT
from adapters.telegram.tests.conftest import SECRET, payload, payload_bytes, post_update, telegram_section
from adapters.telegram.tests.standin import BOT_USERNAME
from gateway.config import ConfigError, parse_config
from tests.conftest import base_url

NIC = {"identity": "telegram:3527065", "telegram_id": "3527065", "name": "Nic Pottier", "phone": None}
SITI = {"identity": "telegram:6148812330", "telegram_id": "6148812330", "name": "Siti Rahayu", "phone": None}

# payload file -> the report fields it must produce (source.message_id is the key of the table)
REPORTS: list[tuple[str, dict[str, Any]]] = [
    ("text.json", {"message_id": "3527065:41", "thread_ref": None, "body": "Hello World", "reporter": NIC,
                   "location": None}),
    ("courier-photo.json", {"message_id": "3527065:85", "body": "Photo Caption", "reporter": NIC}),
    ("courier-video.json", {"message_id": "3527065:86", "body": "", "reporter": NIC}),
    ("courier-voice.json", {"message_id": "3527065:91", "body": "", "reporter": NIC}),
    ("courier-document.json", {"message_id": "3527065:92", "body": "", "reporter": NIC}),
    ("courier-sticker.json", {"message_id": "3527065:44", "body": "", "reporter": NIC}),
    ("courier-location.json", {
        "message_id": "3527065:94", "body": "", "reporter": NIC,
        "location": {"latitude": -2.890287, "longitude": -79.004333, "address": None, "source": "telegram"}}),
    ("courier-venue.json", {
        "message_id": "3527065:95", "body": "", "reporter": NIC,
        "location": {"latitude": -2.898944, "longitude": -79.006835, "address": "Cuenca, Provincia del Azuay",
                     "source": "telegram"}}),
    # Someone else's contact: kept in the body (a local number that is not valid in ID stays as given).
    ("courier-contact.json", {"message_id": "3527065:96", "body": "Kontak: Adolf Taxi 0788531373", "reporter": NIC}),
    # The sender's own contact: their phone, and the identity that links them across channels.
    ("own-contact.json", {"message_id": "6148812330:1207", "body": "", "reporter": {
        **SITI, "identity": "tel:+6281234567890", "phone": "+6281234567890"}}),
    ("edited.json", {"message_id": "6148812330:1206:edit:1732358460", "thread_ref": "6148812330:1206",
                     "reporter": SITI, "tags": ["jalan"],
                     "body": "Jalan berlubang di Jl. Merdeka 12, sudah 3 minggu belum diperbaiki #jalan"}),
]

NOT_REPORTS: list[tuple[str, str, str | None]] = [
    ("courier-start.json", "replied", None),
    ("help-command.json", "replied", None),
    ("group.json", "ignored", "group chat"),
    ("courier-empty.json", "ignored", "not a message"),
    ("callback-query.json", "ignored", "not a message"),
]


def check_fields(report: dict[str, Any], expected: dict[str, Any]) -> None:
    assert report["channel"] == "telegram"
    assert report["source"]["provider"] == "telegram"
    assert report["source"]["inbound_address"] == BOT_USERNAME
    assert report["source"]["message_id"] == expected["message_id"]
    assert report["source"]["thread_ref"] == expected.get("thread_ref")
    assert report["body"] == expected["body"]
    for key, value in expected["reporter"].items():
        assert report["reporter"][key] == value, key
    if "location" in expected:
        assert report["location"] == expected["location"]
    if "tags" in expected:
        assert report["tags"] == expected["tags"]
    assert report["raw"]["content_type"] == "application/json"


async def test_payloads_become_reports_with_expected_fields(bot_api, make_gateway, http, queue_reader):
    gateway = await make_gateway(channels={"telegram": telegram_section(bot_api)})  # username from getMe
    accepted = {}
    for name, expected in REPORTS:
        status, answer = await post_update(http, gateway, payload_bytes(name))
        assert (status, answer["status"]) == (200, "accepted"), (name, answer)
        accepted[expected["message_id"]] = answer["id"]
    for name, outcome, reason in NOT_REPORTS:
        status, answer = await post_update(http, gateway, payload_bytes(name))
        assert (status, answer["status"], answer["reason"]) == (200, outcome, reason), name
    assert "getMe" in bot_api.calls

    await queue_reader.take(len(REPORTS))
    await queue_reader.settle(1.0)
    reports = {body["source"]["message_id"]: body for body in queue_reader.bodies()}
    assert len(queue_reader.messages) == len(REPORTS)
    for _name, expected in REPORTS:
        report = reports[expected["message_id"]]
        assert report["id"] == accepted[expected["message_id"]]
        check_fields(report, expected)

    # /start and /help: one short Indonesian answer each, to the chat that asked (other messages
    # sent are the acknowledgements of the reports, with their tracking codes).
    assert [(m["chat_id"], m["text"]) for m in bot_api.sent_messages if m["text"] == HELP_TEXT] == [
        (3527065, HELP_TEXT), (6148812330, HELP_TEXT)]
    assert "Untuk melapor" in HELP_TEXT


async def test_group_chats_accepted_when_allowed(bot_api, make_gateway, http, queue_reader):
    gateway = await make_gateway(channels={"telegram": telegram_section(
        bot_api, allow_groups=True, bot_username=BOT_USERNAME)})
    status, answer = await post_update(http, gateway, payload_bytes("group.json"))
    assert (status, answer["status"]) == (200, "accepted")
    [message] = await queue_reader.take(1)
    report = queue_reader.bodies()[0]
    assert report["source"]["message_id"] == "-1001234567890:77"
    assert report["reporter"]["identity"] == "telegram:6148812330"
    assert "getMe" not in bot_api.calls  # the configured username is used as is
    assert message.message_id == answer["id"]


async def test_redelivered_update_is_a_duplicate(bot_api, make_gateway, http, queue_reader):
    gateway = await make_gateway(channels={"telegram": telegram_section(bot_api)})
    body = payload_bytes("text.json")
    # Telegram re-sends an update whose 200 it did not see, possibly while the first is in flight;
    # and the same message may come in an update with another update_id.
    answers = await asyncio.gather(*(post_update(http, gateway, body) for _ in range(6)))
    renumbered = json.dumps(payload("text.json") | {"update_id": 999}).encode()
    answers.append(await post_update(http, gateway, renumbered))
    assert all(status == 200 for status, _ in answers)
    [first] = [answer for _, answer in answers if answer["status"] == "accepted"]
    repeats = [answer for _, answer in answers if answer["status"] == "duplicate"]
    assert len(repeats) == 6 and {answer["id"] for answer in repeats} == {first["id"]}
    await queue_reader.take(1)
    await queue_reader.settle(1.0)
    assert [m.message_id for m in queue_reader.messages] == [first["id"]]


def stored_reports(gateway) -> int:
    with sqlite3.connect(gateway.config.storage.path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0])


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET[:-1], SECRET + "x", SECRET.upper()])
async def test_wrong_secret_is_403_nothing_stored_body_not_logged(
    secret, bot_api, make_gateway, http
):
    gateway = await make_gateway(channels={"telegram": telegram_section(bot_api, bot_username=BOT_USERNAME)})
    body = payload_bytes("text.json")
    with structlog.testing.capture_logs() as events:
        status, answer = await post_update(http, gateway, body, secret=secret)
    assert status == 403
    assert answer["error"] == "forbidden" and "X-Telegram-Bot-Api-Secret-Token" in answer["message"]
    assert stored_reports(gateway) == 0
    [refusal] = [e for e in events if e["event"] == "telegram webhook refused: secret token missing or wrong"]
    assert refusal["log_level"] == "warning"
    logged = repr(events)
    assert "Hello World" not in logged and "3527065" not in logged and SECRET not in logged


HOSTILE: list[tuple[str, bytes, str, int, str]] = [
    ("not json", b"foo", "application/json", 400, "malformed_json"),
    ("not utf-8", b'{"update_id": 1, "message": {"text": "\xff\xfe"}}', "application/json", 400, "invalid_encoding"),
    ("array", b"[1, 2]", "application/json", 422, "invalid_fields"),
    ("no update_id", b'{"message": {}}', "application/json", 422, "invalid_fields"),
    ("string update_id", b'{"update_id": "7"}', "application/json", 422, "invalid_fields"),
    ("message without chat", b'{"update_id": 7, "message": {"message_id": 1, "date": 1}}', "application/json",
     422, "invalid_fields"),
    ("numeric text", b'{"update_id": 7, "message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type":'
     b' "private"}, "text": 5}}', "application/json", 422, "invalid_fields"),
    ("latitude out of range", b'{"update_id": 7, "message": {"message_id": 1, "date": 1, "chat": {"id": 1,'
     b' "type": "private"}, "location": {"latitude": 91, "longitude": 0}}}', "application/json", 422,
     "invalid_fields"),
    ("form body", b"update_id=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "malformed_json"),
    ("number of 5000 digits", b'{"update_id": ' + b"7" * 5000 + b"}", "application/json", 400, "malformed_json"),
]


@pytest.mark.parametrize(("label", "body", "content_type", "status", "code"), HOSTILE,
                         ids=[case[0] for case in HOSTILE])
async def test_hostile_bodies_get_clear_4xx_and_store_nothing(
    label, body, content_type, status, code, bot_api, make_gateway, http
):
    gateway = await make_gateway(
        channels={"telegram": telegram_section(bot_api, bot_username=BOT_USERNAME)},
        http={"max_body_bytes": 1_048_576},
    )
    got, answer = await post_update(http, gateway, body, content_type=content_type)
    assert (got, answer["error"]) == (status, code), answer
    assert stored_reports(gateway) == 0


async def test_oversized_body_is_413(bot_api, make_gateway, http):
    gateway = await make_gateway(channels={"telegram": telegram_section(bot_api, bot_username=BOT_USERNAME)},
                                 http={"max_body_bytes": 4096})
    update = payload("text.json")
    update["message"]["text"] = "x" * 10_000
    status, answer = await post_update(http, gateway, json.dumps(update).encode())
    assert (status, answer["error"]) == (413, "body_too_large")
    assert stored_reports(gateway) == 0


async def test_webhook_route_is_in_openapi(bot_api, make_gateway, http):
    gateway = await make_gateway(channels={"telegram": telegram_section(bot_api, bot_username=BOT_USERNAME)})
    async with http.get(f"{base_url(gateway)}/openapi.json") as response:
        document = await response.json()
    operation = document["paths"]["/webhooks/telegram"]["post"]
    assert {"200", "400", "403", "413", "415", "422", "503"} <= set(operation["responses"])


async def test_commit_failure_is_503_so_telegram_retries_then_stored_once(bot_api, make_gateway, http, queue_reader):
    gateway = await make_gateway(channels={"telegram": telegram_section(bot_api, bot_username=BOT_USERNAME)})
    body = payload_bytes("text.json")
    await gateway.outbox.close()  # the disk is gone: nothing can be committed
    status, answer = await post_update(http, gateway, body)
    assert (status, answer["error"]) == (503, "outbox_unavailable")  # never a 2xx for what was not stored
    gateway.outbox.open()
    status, answer = await post_update(http, gateway, body)  # Telegram's retry
    assert (status, answer["status"]) == (200, "accepted")
    await queue_reader.take(1)
    assert stored_reports(gateway) == 1


def test_webhook_mode_without_secret_token_is_a_config_error():
    with pytest.raises(ConfigError, match=r"channels\.telegram.*secret_token is required"):
        parse_config({"channels": {"telegram": {"bot_token": "1:x", "mode": "webhook"}}})
    parse_config({"channels": {"telegram": {"bot_token": "1:x", "mode": "polling"}}})  # polling needs none


async def test_secret_header_with_invalid_utf8_bytes_is_403(bot_api, make_gateway):
    gateway = await make_gateway(channels={"telegram": telegram_section(bot_api, bot_username=BOT_USERNAME)})
    body = payload_bytes("text.json")
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"POST /webhooks/telegram HTTP/1.1\r\nHost: " + base_url(gateway)[7:].encode() +
                 b"\r\nContent-Type: application/json\r\nX-Telegram-Bot-Api-Secret-Token: " +
                 SECRET.encode()[:-2] + b"\xff\xfe\r\nContent-Length: " + str(len(body)).encode() +
                 b"\r\nConnection: close\r\n\r\n" + body)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 403 "), answer[:200]
    assert b'"forbidden"' in answer
    assert stored_reports(gateway) == 0


async def test_bot_identity_unknown_is_503_until_get_me_succeeds(bot_api, make_gateway, http):
    gateway = await make_gateway(channels={"telegram": telegram_section(bot_api, bot_token="999:wrong")})
    with structlog.testing.capture_logs() as events:
        for _ in range(100):  # getMe is retried with backoff; wait for a failure logged in here
            if any(e["event"] == "telegram Bot API call failed" for e in events):
                break
            await asyncio.sleep(0.05)
        async with http.post(f"{base_url(gateway)}/webhooks/telegram", data=payload_bytes("text.json"),
                             headers={"Content-Type": "application/json",
                                      "X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
            answer = await response.json()
    assert (response.status, answer["error"]) == (503, "not_ready")  # Telegram keeps the update and retries
    assert stored_reports(gateway) == 0
    failures = [e for e in events if e["event"] == "telegram Bot API call failed"]
    assert failures and failures[0]["method"] == "getMe" and "Unauthorized" in failures[0]["error"]
    assert "999:wrong" not in repr(events)

"""Telegram files through the shared MediaFetcher: getFile, download, retries, giving up."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from adapters.telegram.tests.conftest import payload, post_update, telegram_section
from adapters.telegram.tests.standin import BOT_USERNAME, FileBehaviour

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8
OGG = b"OggS\x00\x02" + b"\x01" * 500
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x02" * 700
WEBP = b"RIFF\x00\x01\x00\x00WEBPVP8 " + b"\x03" * 300
XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x04" * 400  # OLE2: not an accepted type

PHOTO_SIZES = [size["file_id"] for size in payload("courier-photo.json")["message"]["photo"]]
LARGEST_PHOTO = PHOTO_SIZES[-1]  # 720x1280


def stored_file(attachment: dict[str, Any]) -> bytes:
    return Path(urlparse(attachment["url"]).path).read_bytes()


def update_with_document(update_id: int, message_id: int, file_id: str) -> bytes:
    update = payload("courier-document.json")
    update["update_id"] = update_id
    update["message"]["message_id"] = message_id
    update["message"]["document"] = {"file_name": "jalan.jpg", "mime_type": "image/jpeg", "file_id": file_id,
                                     "file_size": len(JPEG)}
    return json.dumps(update).encode()


async def test_each_media_kind_is_downloaded_into_the_store(bot_api, make_gateway, http, queue_reader):
    for index, file_id in enumerate(PHOTO_SIZES):
        bot_api.files[file_id] = FileBehaviour(JPEG + bytes([index]))
    bot_api.files["AwADAQADCQADgtFRRGn8KrC-0D_MAg"] = FileBehaviour(OGG)
    bot_api.files["BAADAQADBgADgtFRRPFTAAHxLVw76wI"] = FileBehaviour(MP4)
    bot_api.files["BQADAwADRQADyIsGAAHtBskMy6GoLAI"] = FileBehaviour(WEBP)
    bot_api.files["BQADAQADCgADgtFRRPrv9GQ95f8eAg"] = FileBehaviour(XLS)
    gateway = await make_gateway(channels={"telegram": telegram_section(bot_api, bot_username=BOT_USERNAME)})
    names = ["courier-photo.json", "courier-voice.json", "courier-video.json", "courier-sticker.json",
             "courier-document.json"]
    for name in names:
        status, answer = await post_update(http, gateway, json.dumps(payload(name)).encode())
        assert (status, answer["status"]) == (200, "accepted")
    await queue_reader.take(len(names))
    by_key = {report["source"]["message_id"]: report for report in queue_reader.bodies()}

    [photo] = by_key["3527065:85"]["attachments"]
    assert photo["status"] == "stored" and photo["content_type"] == "image/jpeg"
    assert stored_file(photo) == JPEG + bytes([3])  # the largest size, not a thumbnail
    assert photo["sha256"] == hashlib.sha256(JPEG + bytes([3])).hexdigest()
    [voice] = by_key["3527065:91"]["attachments"]
    assert (voice["status"], voice["content_type"], stored_file(voice)) == ("stored", "audio/ogg", OGG)
    [video] = by_key["3527065:86"]["attachments"]
    assert (video["status"], video["content_type"], stored_file(video)) == ("stored", "video/mp4", MP4)
    [sticker] = by_key["3527065:44"]["attachments"]
    assert (sticker["status"], sticker["content_type"]) == ("stored", "image/webp")
    [document] = by_key["3527065:92"]["attachments"]
    assert (document["status"], document["filename"]) == ("refused", "TabFig2015prel.xls")
    assert "not accepted" in document["reason"]
    assert bot_api.calls.count("getFile") == len(names)


async def test_fetch_that_fails_then_succeeds_is_retried(bot_api, make_gateway, http, queue_reader):
    bot_api.files["flaky"] = FileBehaviour(JPEG, failures=2, status=502)
    gateway = await make_gateway(channels={"telegram": telegram_section(bot_api, bot_username=BOT_USERNAME)})
    status, answer = await post_update(http, gateway, update_with_document(1, 501, "flaky"))
    assert (status, answer["status"]) == (200, "accepted")  # answered before the file is fetched
    [message] = await queue_reader.take(1, timeout=30)
    [attachment] = queue_reader.bodies()[0]["attachments"]
    assert message.message_id == answer["id"]
    assert attachment["status"] == "stored" and stored_file(attachment) == JPEG
    assert attachment["filename"] == "jalan.jpg"
    assert bot_api.files["flaky"].served == 3


async def test_fetch_that_never_succeeds_is_published_unavailable(bot_api, make_gateway, http, queue_reader):
    bot_api.files["broken"] = FileBehaviour(JPEG, failures=10**6, status=500)
    gateway = await make_gateway(channels={"telegram": telegram_section(
        bot_api, bot_username=BOT_USERNAME, media_timeout=2.0)})
    started = asyncio.get_running_loop().time()
    status, answer = await post_update(http, gateway, update_with_document(2, 502, "broken"))
    assert (status, answer["status"]) == (200, "accepted")
    await queue_reader.take(1, timeout=30)
    elapsed = asyncio.get_running_loop().time() - started
    report = queue_reader.bodies()[0]
    [attachment] = report["attachments"]
    assert attachment["status"] == "unavailable" and attachment["url"] is None
    assert "not fetched within 2s" in attachment["reason"] and "HTTP 500" in attachment["reason"]
    assert bot_api.files["broken"].served >= 2
    assert elapsed < 10  # given up at media_timeout, not held forever
    assert report["body"] == ""


async def test_unknown_file_id_is_unavailable_without_retrying(bot_api, make_gateway, http, queue_reader):
    gateway = await make_gateway(channels={"telegram": telegram_section(bot_api, bot_username=BOT_USERNAME)})
    status, answer = await post_update(http, gateway, update_with_document(3, 503, "expired"))
    assert (status, answer["status"]) == (200, "accepted")
    await queue_reader.take(1, timeout=30)
    [attachment] = queue_reader.bodies()[0]["attachments"]
    assert attachment["status"] == "unavailable"
    assert attachment["reason"] == "Telegram getFile: HTTP 400 Bad Request: invalid file_id"
    assert bot_api.calls.count("getFile") == 1
    assert bot_api.token not in attachment["reason"]


async def test_file_over_the_size_cap_is_refused_without_downloading(bot_api, make_gateway, http, queue_reader):
    bot_api.files["huge"] = FileBehaviour(JPEG * 4)
    gateway = await make_gateway(
        channels={"telegram": telegram_section(bot_api, bot_username=BOT_USERNAME)},
        storage={"max_attachment_bytes": len(JPEG)},
    )
    status, answer = await post_update(http, gateway, update_with_document(4, 504, "huge"))
    assert (status, answer["status"]) == (200, "accepted")
    await queue_reader.take(1, timeout=30)
    [attachment] = queue_reader.bodies()[0]["attachments"]
    assert (attachment["status"], attachment["reason"]) == ("refused", f"larger than {len(JPEG)} bytes")
    assert bot_api.files["huge"].served == 0  # getFile's file_size was enough to refuse it

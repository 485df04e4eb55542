"""Polling mode: getUpdates driven by the gateway; the offset moves only past committed updates,
including across a SIGKILL of the daemon between getUpdates and the commit."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.telegram.handler import HELP_TEXT
from adapters.telegram.tests.conftest import payload, telegram_section
from adapters.telegram.tests.standin import BotApiStandIn, FileBehaviour
from tests.conftest import gateway_config_data
from tests.support.process import GatewayProcess, write_toml
from tests.support.proxy import free_port


def polling_section(bot_api: BotApiStandIn, **extra: Any) -> dict[str, Any]:
    return telegram_section(bot_api, mode="polling", poll_timeout=5, **extra)


async def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def hold_write_lock(database: Path) -> sqlite3.Connection:
    """Take the outbox's write lock, so the gateway's next commit waits (busy_timeout) until released."""
    conn = sqlite3.connect(database, isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def report_count(database: Path, where: str = "1") -> int:
    with sqlite3.connect(database) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM reports WHERE {where}").fetchone()[0])


def text_update(update_id: int, message_id: int, text: str) -> dict[str, Any]:
    update = payload("text.json")
    update["update_id"] = update_id
    update["message"]["message_id"] = message_id
    update["message"]["text"] = text
    return update


async def test_updates_are_processed_and_offset_advances_only_after_commit(
    bot_api, make_gateway, queue_reader, tmp_path
):
    gateway = await make_gateway(channels={"telegram": polling_section(bot_api)})
    await wait_for(lambda: bot_api.get_updates_offsets != [], what="the first getUpdates")
    assert bot_api.calls[:2] == ["getMe", "deleteWebhook"]
    assert bot_api.get_updates_offsets[0] is None  # a fresh start takes whatever Telegram still holds

    lock = hold_write_lock(gateway.config.storage.path)
    try:
        bot_api.push(text_update(700, 1, "Sampah menumpuk di pasar"), payload("courier-start.json") |
                     {"update_id": 701})
        await wait_for(bot_api.served.is_set, what="getUpdates to serve the batch")
        await asyncio.sleep(1.0)  # the gateway holds the update and is waiting on the commit
        assert all(offset is None or offset <= 700 for offset in bot_api.get_updates_offsets)
        assert report_count(gateway.config.storage.path) == 0
    finally:
        lock.rollback()
        lock.close()

    await wait_for(lambda: 702 in bot_api.get_updates_offsets, what="the offset to pass the committed updates")
    [message] = await queue_reader.take(1)
    report = queue_reader.bodies()[0]
    assert report["source"]["message_id"] == "3527065:1" and report["body"] == "Sampah menumpuk di pasar"
    assert report["reporter"]["identity"] == "telegram:3527065"
    # /start answered once, and not a report (the other message sent is the report's acknowledgement).
    assert [m["chat_id"] for m in bot_api.sent_messages if m["text"] == HELP_TEXT] == [3527065]
    assert report_count(gateway.config.storage.path) == 1

    bot_api.push(text_update(702, 2, "Lampu jalan mati"))
    await queue_reader.take(2)
    await wait_for(lambda: 703 in bot_api.get_updates_offsets, what="offset 703")
    assert bot_api.served_batches == [[700, 701], [702]]  # nothing was fetched twice
    assert message.message_id == report["id"]


async def test_stop_confirms_the_committed_offset(bot_api, make_gateway, queue_reader):
    gateway = await make_gateway(channels={"telegram": polling_section(bot_api)})
    bot_api.push(text_update(800, 3, "Air PDAM keruh"))
    await queue_reader.take(1)
    await gateway.stop(drain_timeout=0.5)
    assert bot_api.get_updates_offsets[-1] == 801
    assert bot_api.confirmed_below == 801


@pytest.fixture
async def polling_process(tmp_path, broker_names, bot_api) -> AsyncIterator[GatewayProcess]:
    port = free_port()
    data = gateway_config_data(tmp_path, broker_names, http={"port": port}, logging={"level": "info"},
                               channels={"telegram": polling_section(bot_api)})
    process = GatewayProcess(write_toml(tmp_path / "gateway.toml", data), port, tmp_path / "gateway.log")
    yield process
    process.stop_quietly()


async def test_sigkill_between_get_updates_and_commit_loses_nothing_and_duplicates_nothing(
    polling_process, bot_api, queue_reader, tmp_path
):
    database = tmp_path / "outbox.sqlite3"
    await polling_process.start()
    await wait_for(lambda: bot_api.get_updates_offsets != [], what="the first getUpdates")

    lock = hold_write_lock(database)
    try:
        bot_api.push(text_update(900, 10, "Banjir setinggi lutut di Jl. Sudirman"))
        await wait_for(bot_api.served.is_set, what="getUpdates to serve the update")
        await asyncio.sleep(0.5)  # the daemon has the update and is blocked in the commit
        polling_process.kill()  # SIGKILL
    finally:
        lock.rollback()
        lock.close()
    assert report_count(database) == 0  # the kill came before the commit
    assert all(offset is None or offset <= 900 for offset in bot_api.get_updates_offsets)

    bot_api.served.clear()
    await polling_process.start()
    await wait_for(lambda: 901 in bot_api.get_updates_offsets, what="the restarted daemon to confirm the update")
    await queue_reader.take(1)
    await queue_reader.settle(1.5)
    reports = queue_reader.bodies()
    assert [r["source"]["message_id"] for r in reports] == ["3527065:10"]
    assert reports[0]["body"] == "Banjir setinggi lutut di Jl. Sudirman"
    assert report_count(database) == 1
    assert bot_api.served_batches == [[900], [900]]  # served again after the kill, processed once
    assert polling_process.terminate() == 0


async def test_sigkill_after_commit_before_offset_confirmed_is_a_duplicate(
    polling_process, bot_api, queue_reader, tmp_path
):
    database = tmp_path / "outbox.sqlite3"
    await polling_process.start()
    bot_api.push(text_update(950, 20, "Jalan rusak depan SDN 3"))
    [first] = await queue_reader.take(1)
    # Publishing is at-least-once: killed before the confirm is recorded, the report would rightly
    # go out again. This test is about the update: wait until the report's own publishing is done.
    await wait_for(lambda: report_count(database, "state = 2") == 1, what="the report to be marked published")
    polling_process.kill()
    bot_api.forget_confirmations()  # as if the confirming getUpdates never reached Telegram

    await polling_process.start()
    await wait_for(lambda: len(bot_api.served_batches) == 2, what="the update to be served again")
    await wait_for(lambda: bot_api.get_updates_offsets.count(951) >= 2, what="the repeat to be confirmed")
    await queue_reader.settle(1.5)
    assert [m.message_id for m in queue_reader.messages] == [first.message_id]
    assert report_count(database) == 1
    assert json.loads(first.body)["source"]["message_id"] == "3527065:20"
    assert polling_process.terminate() == 0


async def test_commit_failure_keeps_the_offset_and_the_update_is_fetched_again(bot_api, make_gateway, queue_reader):
    gateway = await make_gateway(channels={"telegram": polling_section(bot_api)})
    await wait_for(lambda: bot_api.get_updates_offsets != [], what="the first getUpdates")
    await gateway.outbox.close()
    bot_api.push(text_update(990, 30, "Pohon tumbang menutup jalan"))
    await wait_for(bot_api.served.is_set, what="the update to be served")
    await asyncio.sleep(0.3)
    assert all(offset is None or offset <= 990 for offset in bot_api.get_updates_offsets)
    gateway.outbox.open()
    await wait_for(lambda: 991 in bot_api.get_updates_offsets, what="the offset to pass the stored update")
    await queue_reader.take(1)
    await queue_reader.settle(1.0)
    assert [r["source"]["message_id"] for r in queue_reader.bodies()] == ["3527065:30"]
    assert bot_api.served_batches == [[990], [990]]


async def test_malformed_update_is_skipped_not_a_stall(bot_api, make_gateway, queue_reader):
    gateway = await make_gateway(channels={"telegram": polling_section(bot_api)})
    bot_api.push({"update_id": 1100, "message": {"message_id": "not a number", "chat": {}}},
                 text_update(1101, 40, "Saluran air tersumbat"))
    await wait_for(lambda: 1102 in bot_api.get_updates_offsets, what="the offset to pass both updates")
    await queue_reader.take(1)
    assert [r["source"]["message_id"] for r in queue_reader.bodies()] == ["3527065:40"]
    assert report_count(gateway.config.storage.path) == 1


async def test_stop_during_a_commit_finishes_it_and_confirms(bot_api, make_gateway):
    gateway = await make_gateway(channels={"telegram": polling_section(bot_api)})
    await wait_for(lambda: bot_api.get_updates_offsets != [], what="the first getUpdates")
    lock = hold_write_lock(gateway.config.storage.path)
    try:
        bot_api.push(text_update(1200, 50, "Jembatan retak"))
        await wait_for(bot_api.served.is_set, what="the update to be served")
        stopping = asyncio.create_task(gateway.stop(drain_timeout=0.5))  # SIGTERM while the commit waits
        await asyncio.sleep(0.5)
        assert not stopping.done()
    finally:
        lock.rollback()
        lock.close()
    await stopping
    assert report_count(gateway.config.storage.path) == 1
    assert bot_api.confirmed_below == 1201  # confirmed on the way out: a restart will not fetch it again


async def test_polled_photo_is_fetched_and_attached(bot_api, make_gateway, queue_reader):
    photo = payload("courier-photo.json")
    largest = photo["message"]["photo"][-1]["file_id"]
    bot_api.files[largest] = FileBehaviour(b"\xff\xd8\xff\xe0" + b"\x05" * 900)
    await make_gateway(channels={"telegram": polling_section(bot_api)})
    bot_api.push(photo)
    await queue_reader.take(1)
    [attachment] = queue_reader.bodies()[0]["attachments"]
    assert (attachment["status"], attachment["content_type"], attachment["size"]) == ("stored", "image/jpeg", 904)

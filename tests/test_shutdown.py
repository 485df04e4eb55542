"""Stopping always ends: a cancel swallowed by a library (Python 3.11's wait_for) cannot hang shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import pytest
from structlog.testing import capture_logs

from gateway.tasks import cancel_and_wait


def swallowing_cancel(connect: Any) -> tuple[Any, list[Any]]:
    """``aio_pika.connect`` as 3.11's wait_for behaves when a cancel lands as the connect completes:
    the cancel is dropped and the connection returned."""
    opened: list[Any] = []

    async def connect_swallowing_cancel(*args: Any, **kwargs: Any) -> Any:
        async def slow_connect() -> Any:
            await asyncio.sleep(0.3)  # stop() lands while this is in progress
            connection = await connect(*args, **kwargs)
            opened.append(connection)
            return connection

        inner = asyncio.ensure_future(slow_connect())
        try:
            return await asyncio.shield(inner)
        except asyncio.CancelledError:
            return await inner

    return connect_swallowing_cancel, opened


async def test_stop_ends_and_closes_the_connection_when_the_broker_connect_swallows_its_cancel(
    monkeypatch, make_gateway, http
):
    connect, opened = swallowing_cancel(aio_pika.connect)
    monkeypatch.setattr(aio_pika, "connect", connect)
    gateway = await make_gateway()
    async with http.post(f"http://127.0.0.1:{gateway.port}/v1/reports", json={"body": "lampu jalan mati"}) as answer:
        assert answer.status == 202  # accepted while the broker connection is still being made

    # Waited on from outside: the old stop() swallowed even a timeout's cancel.
    stopping = asyncio.create_task(gateway.stop(drain_timeout=0.1))
    done, _ = await asyncio.wait({stopping}, timeout=10)
    assert stopping in done, "stop() hung on the publisher's connection loop"

    assert len(opened) == 1
    assert opened[0].is_closed  # not leaked: no connection left heart-beating after stop


async def test_a_task_that_swallows_one_cancel_is_cancelled_again_and_ends():
    swallowed = asyncio.Event()

    async def swallows_first_cancel() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            swallowed.set()
        await asyncio.sleep(60)

    task = asyncio.create_task(swallows_first_cancel())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        assert await cancel_and_wait([task], grace=3)
    assert swallowed.is_set() and task.cancelled()


async def test_a_task_that_ignores_every_cancel_is_left_behind_with_an_error_naming_it():
    released = False

    async def ignores_cancels() -> None:
        while not released:
            with pytest.raises(asyncio.CancelledError):
                await asyncio.sleep(60)

    task = asyncio.create_task(ignores_cancels(), name="stubborn-loop")
    await asyncio.sleep(0)
    with capture_logs() as logs:
        async with asyncio.timeout(5):
            assert not await cancel_and_wait([task], grace=1.5)
    assert any(entry["log_level"] == "error" and entry["tasks"] == ["stubborn-loop"] for entry in logs)
    released = True
    task.cancel()
    await task

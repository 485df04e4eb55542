"""WhatsApp test fixtures: the Graph API stand-in, payloads from testdata/, signed posting."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest

from adapters.whatsapp.tests.standin import GraphStandIn
from adapters.whatsapp.webhook import signature_for
from gateway.daemon import Gateway
from tests.conftest import base_url, broker_names, http, make_gateway, queue_reader  # noqa: F401 - shared fixtures
from tests.support.broker import AMQP_URL, QueueReader

TESTDATA = Path(__file__).with_name("testdata")
APP_SECRET = "app-secret-for-tests"
VERIFY_TOKEN = "verify-me-7Hq2"


def payload_bytes(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


@pytest.fixture
async def graph() -> AsyncIterator[GraphStandIn]:
    standin = GraphStandIn()
    await standin.start()
    yield standin
    await standin.stop()


def whatsapp_section(graph: GraphStandIn, **extra: Any) -> dict[str, Any]:
    section: dict[str, Any] = {"verify_token": VERIFY_TOKEN, "app_secret": APP_SECRET, "access_token": graph.token,
                               "api_url": graph.url, "media_timeout": 30.0}
    section.update(extra)
    return section


async def post_signed(
    session: aiohttp.ClientSession, gateway: Gateway, body: bytes, signature: str | None = None,
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json",
               "X-Hub-Signature-256": signature if signature is not None else signature_for(APP_SECRET, body)}
    async with session.post(f"{base_url(gateway)}/webhooks/whatsapp", data=body, headers=headers) as response:
        return response.status, await response.json()


async def queue_ready(gateway: Gateway, reader: QueueReader) -> None:
    """Wait until the gateway declared its quorum queue and the queue answers a get.

    A freshly declared quorum queue may refuse basic.get for a moment ("noproc") on a busy broker.
    """
    for _ in range(200):
        if gateway.publisher.connected:
            try:
                connection = await aio_pika.connect(AMQP_URL)
                async with connection:
                    channel = await connection.channel()
                    queue = await channel.declare_queue(reader.names.queue, passive=True)
                    message = await queue.get(no_ack=False, fail=False)
                    if message is not None:
                        await message.nack(requeue=True)
                    return
            except aio_pika.exceptions.AMQPException:
                pass
        await asyncio.sleep(0.05)
    raise AssertionError("the gateway's queue never became ready")


@pytest.fixture
def start_whatsapp(make_gateway: Any, graph: GraphStandIn, queue_reader: QueueReader) -> Any:  # noqa: F811
    """``await start_whatsapp(**section_keys)``: a gateway with the WhatsApp channel, its queue ready."""

    async def factory(gateway_config: dict[str, Any] | None = None, **section: Any) -> Gateway:
        gateway: Gateway = await make_gateway(channels={"whatsapp": whatsapp_section(graph, **section)},
                                              **(gateway_config or {}))
        await queue_ready(gateway, queue_reader)
        return gateway

    return factory


async def nothing_published(reader: QueueReader, seconds: float = 1.0) -> bool:
    return await reader.settle(seconds) == []


def stored_reports(gateway: Gateway) -> int:
    with sqlite3.connect(gateway.config.storage.path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0])

"""Real RabbitMQ helpers: per-test names, a reader for the gateway's queue, broker-side kills."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from gateway.tasks import cancel_and_wait

AMQP_URL = os.environ.get("LAPOR_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@dataclass(frozen=True)
class BrokerNames:
    exchange: str
    queue: str
    connection_name: str

    @property
    def reader_queue(self) -> str:
        return f"{self.queue}.reader"

    @classmethod
    def unique(cls) -> BrokerNames:
        suffix = uuid.uuid4().hex[:12]
        return cls(f"test.{suffix}.reports", f"test.{suffix}.reports", f"lapor-test-{suffix}")

    def config(self, url: str = AMQP_URL) -> dict[str, Any]:
        return {
            "url": url, "exchange": self.exchange, "queue": self.queue, "connection_name": self.connection_name,
            "retry_initial": 0.05, "retry_max": 1.0, "confirm_timeout": 10.0,
        }

    async def delete(self) -> None:
        # Leftover test queues are harmless; a hung teardown is not. Waited on from outside, since a
        # cancel swallowed inside aio-pika (3.11's wait_for) would leave wait_for waiting forever.
        deleting = asyncio.create_task(self._delete())
        await asyncio.wait({deleting}, timeout=15)
        await cancel_and_wait([deleting])

    async def _delete(self) -> None:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            for queue in (self.queue, f"{self.queue}.dead", self.reader_queue):
                try:
                    await channel.queue_delete(queue)
                except Exception:
                    channel = await connection.channel()
            for exchange in (self.exchange, f"{self.exchange}.dlx"):
                try:
                    await channel.exchange_delete(exchange)
                except Exception:
                    channel = await connection.channel()


class QueueReader:
    """Reads everything the gateway publishes to its (test-unique) exchange, as a consumer would.

    Its own classic queue, bound to "#" before any gateway starts (``bind``), so no message can
    be missed and a just-created quorum queue's start-up ("noproc" on a get) never matters; the
    gateway still declares and fills its own quorum queue as in production.
    """

    def __init__(self, names: BrokerNames) -> None:
        self.names = names
        self.messages: list[AbstractIncomingMessage] = []

    async def bind(self) -> None:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(self.names.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await channel.declare_queue(self.names.reader_queue, durable=False)
            await queue.bind(exchange, "#")

    async def take_ids(self, ids: set[str], timeout: float = 60.0) -> list[AbstractIncomingMessage]:
        """Wait until a message with every one of ``ids`` arrived (repeats allowed: at-least-once)."""
        seen: set[str | None] = set()
        counted = 0

        def all_seen() -> bool:
            nonlocal counted
            seen.update(m.message_id for m in self.messages[counted:])
            counted = len(self.messages)
            return ids <= seen

        try:
            await self._collect(all_seen, timeout, f"all of {len(ids)} accepted reports")
        except AssertionError:
            missing = ids - {m.message_id for m in self.messages}
            raise AssertionError(f"{len(missing)} of {len(ids)} accepted reports never arrived") from None
        return self.messages

    async def take(self, count: int, timeout: float = 30.0) -> list[AbstractIncomingMessage]:
        """Wait until ``count`` messages have arrived in total; return all of them (acked)."""
        await self._collect(lambda: len(self.messages) >= count, timeout, f"{count} messages")
        return self.messages

    async def settle(self, seconds: float = 1.0) -> list[AbstractIncomingMessage]:
        """Collect whatever else arrives within ``seconds`` (to prove nothing extra was published)."""
        await self._collect(lambda: False, seconds, None)
        return self.messages

    async def _collect(self, enough: Callable[[], bool], timeout: float, wanted: str | None) -> None:
        # A busy broker may close the connection now and then: reconnect and try again until the deadline.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        connection: aio_pika.abc.AbstractConnection | None = None
        queue = None
        try:
            while not enough():
                if loop.time() > deadline:
                    if wanted is None:
                        return
                    raise AssertionError(f"got {len(self.messages)} messages, wanted {wanted}, in {timeout}s")
                try:
                    if connection is None or connection.is_closed:
                        connection, queue = await aio_pika.connect(AMQP_URL), None
                    if queue is None:
                        channel = await connection.channel()
                        queue = await channel.declare_queue(self.names.reader_queue, passive=True)
                    message = await queue.get(no_ack=True, fail=False)
                except (aio_pika.exceptions.AMQPException, RuntimeError, OSError):
                    queue = None
                    await asyncio.sleep(0.1)
                    continue
                if message is None:
                    await asyncio.sleep(0.05)
                else:
                    self.messages.append(message)
        finally:
            if connection is not None and not connection.is_closed:
                await connection.close()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(message.body) for message in self.messages]


def close_broker_connections(connection_name: str) -> int:
    """Close the named client's connections from the broker side (rabbitmqctl), like an outage."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    closed = 0
    for line in listing.splitlines():
        if connection_name in line:
            pid = line.split("\t", 1)[0].strip()
            subprocess.run(
                ["rabbitmqctl", "-q", "close_connection", pid, "test: broker-side close"],
                check=True, capture_output=True, timeout=60,
            )
            closed += 1
    return closed

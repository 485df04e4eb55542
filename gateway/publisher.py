"""Relays committed reports from the outbox to RabbitMQ with publisher confirms.

A report leaves the outbox (is marked published) only after the broker confirmed it.
Nacks, returns (unroutable), confirm timeouts and lost connections are retried with capped
exponential backoff; intake never waits for the broker. Committed reports are handed over in
memory so the hot path never re-reads a row; a periodic sweep of the outbox picks up what
memory does not hold (reports from before a restart, or beyond the in-memory cap).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from gateway.config import BrokerConfig
from gateway.metrics import Metrics
from gateway.outbox import Outbox, Outgoing
from schemas import SCHEMA_ID

log = structlog.get_logger("publisher")


async def declare_topology(channel: AbstractChannel, config: BrokerConfig) -> AbstractExchange:
    """The exchange, the quorum queue and its dead-letter exchange/queue (design.md)."""
    exchange = await channel.declare_exchange(config.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    dead_exchange = await channel.declare_exchange(
        f"{config.exchange}.dlx", aio_pika.ExchangeType.FANOUT, durable=True
    )
    dead_queue = await channel.declare_queue(
        f"{config.queue}.dead", durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_queue.bind(dead_exchange)
    queue = await channel.declare_queue(
        config.queue,
        durable=True,
        arguments={"x-queue-type": "quorum", "x-dead-letter-exchange": dead_exchange.name},
    )
    await queue.bind(exchange, "report.#")
    # Near-duplicates are published as duplicate.*; the catch-all queue takes them too so a
    # citizen's words always reach a queue (handlers that want only new reports bind report.#).
    await queue.bind(exchange, "duplicate.#")
    return exchange


def to_message(item: Outgoing) -> aio_pika.Message:
    return aio_pika.Message(
        body=item.payload,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=item.id,
        timestamp=item.received_at,
        type="lapor.report",
        headers={"schema": SCHEMA_ID, "channel": item.channel, "kind": item.kind},
    )


class Publisher:
    def __init__(
        self,
        config: BrokerConfig,
        outbox: Outbox,
        metrics: Metrics,
        sweep_interval: float = 5.0,
        memory_cap: int = 20_000,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.metrics = metrics
        self.sweep_interval = sweep_interval
        self.memory_cap = memory_cap
        self._queue: asyncio.Queue[Outgoing] = asyncio.Queue()
        self._known: set[str] = set()  # queued, in flight, waiting to retry, or being marked
        self._attempts: dict[str, int] = {}
        self._confirmed: list[str] = []
        self._confirmed_event = asyncio.Event()
        self._exchange: AbstractExchange | None = None
        self._connection: AbstractRobustConnection | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._slots = asyncio.Semaphore(config.max_in_flight)
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._sweep_now = asyncio.Event()
        self._retry_handles: set[asyncio.TimerHandle] = set()
        self._sweep_cursor = 0  # outbox seq the next sweep continues after
        self._marked_during_sweep: set[str] | None = None

    # -- public -----------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def backlog(self) -> int:
        return len(self._known)

    def submit(self, item: Outgoing) -> None:
        """Queue a just-committed report; never blocks, never fails."""
        if item.id in self._known or len(self._known) >= self.memory_cap:
            return  # beyond the cap the row waits in the outbox for the next sweep
        self._known.add(item.id)
        self._queue.put_nowait(item)

    def sweep_soon(self) -> None:
        self._sweep_now.set()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._connection_loop(), name="publisher-connection"),
            asyncio.create_task(self._dispatch_loop(), name="publisher-dispatch"),
            asyncio.create_task(self._mark_loop(), name="publisher-mark"),
            asyncio.create_task(self._sweep_loop(), name="publisher-sweep"),
        ]

    async def drain(self, timeout: float) -> bool:
        """Wait until everything known is confirmed and marked, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while self._known and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return not self._known

    async def stop(self) -> None:
        """Cancel the loops; a connection still being set up is closed too (never leaked)."""
        for handle in self._retry_handles:
            handle.cancel()
        for task in [*self._tasks, *self._in_flight]:
            task.cancel()
        for task in [*self._tasks, *self._in_flight]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._flush_confirmed()
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._connection.close(), timeout=5)

    # -- connection -------------------------------------------------------------------------
    async def _connection_loop(self) -> None:
        delay = self.config.retry_initial
        while True:
            try:
                connection = await aio_pika.connect(
                    self.config.url, timeout=10, client_properties={"connection_name": self.config.connection_name}
                )
            except Exception as error:
                log.warning("broker unreachable, reports are spooled in the outbox",
                            error=str(error), retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.retry_max)
                continue
            # Known at once, so that stop() closes it even while the topology is being declared.
            self._connection = connection  # type: ignore[assignment]
            self._lost.clear()
            try:
                # Bounded: a broker busy creating a quorum queue can leave a declare unanswered.
                exchange = await asyncio.wait_for(self._open_exchange(connection), timeout=self.config.confirm_timeout)
            except Exception as error:
                log.error("broker topology failed", error=str(error) or type(error).__name__,
                          exchange=self.config.exchange)
                with contextlib.suppress(Exception):
                    await connection.close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.retry_max)
                continue
            delay = self.config.retry_initial
            connection.close_callbacks.add(lambda *_args: self._lost.set())
            self._exchange = exchange
            self._connected.set()
            self.metrics.broker_connected.set(1)
            log.info("broker connected", exchange=self.config.exchange)
            self.sweep_soon()
            await self._lost.wait()
            self._connected.clear()
            self.metrics.broker_connected.set(0)
            self._exchange = None
            log.warning("broker connection lost, reconnecting")
            with contextlib.suppress(Exception):
                await connection.close()

    async def _open_exchange(self, connection: aio_pika.abc.AbstractConnection) -> AbstractExchange:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        channel.close_callbacks.add(lambda *_args: self._lost.set())
        if self.config.declare_topology:
            return await declare_topology(channel, self.config)
        return await channel.get_exchange(self.config.exchange, ensure=True)

    # -- publishing -------------------------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        while True:
            item = await self._queue.get()
            await self._slots.acquire()
            await self._connected.wait()
            task = asyncio.create_task(self._publish(item))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _publish(self, item: Outgoing) -> None:
        try:
            exchange = self._exchange
            if exchange is None:
                raise ConnectionError("not connected")
            await asyncio.wait_for(
                exchange.publish(to_message(item), item.routing_key, mandatory=True),
                timeout=self.config.confirm_timeout,
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._retry_later(item, _describe_failure(error, item))
        else:
            self._attempts.pop(item.id, None)
            self.metrics.published.labels(item.channel).inc()
            self._confirmed.append(item.id)
            self._confirmed_event.set()
        finally:
            self._slots.release()

    def _retry_later(self, item: Outgoing, reason: str) -> None:
        attempts = self._attempts.get(item.id, 0) + 1
        self._attempts[item.id] = attempts
        delay = min(self.config.retry_initial * 2 ** (attempts - 1), self.config.retry_max)
        self.metrics.publish_retries.labels(item.channel).inc()
        log.warning("publish failed, will retry", report_id=item.id, error=reason,
                    attempt=attempts, retry_in=round(delay, 2))
        loop = asyncio.get_running_loop()

        def requeue() -> None:
            self._retry_handles.discard(handle)
            self._queue.put_nowait(item)

        handle = loop.call_later(delay, requeue)
        self._retry_handles.add(handle)
        if attempts in (1, 5) or attempts % 20 == 0:
            note = asyncio.create_task(self._note_failure(item.id, reason))
            self._in_flight.add(note)
            note.add_done_callback(self._in_flight.discard)

    async def _note_failure(self, report_id: str, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.outbox.record_failure([(report_id, reason)])

    async def _mark_loop(self) -> None:
        while True:
            await self._confirmed_event.wait()
            await self._flush_confirmed()

    async def _flush_confirmed(self) -> None:
        self._confirmed_event.clear()
        if not self._confirmed:
            return
        ids, self._confirmed = self._confirmed, []
        try:
            await self.outbox.mark_published(ids)
        except Exception as error:
            # Not marked means published again later: at-least-once, never lost.
            log.error("could not mark reports published", error=str(error), count=len(ids))
        self._known.difference_update(ids)
        if self._marked_during_sweep is not None:
            self._marked_during_sweep.update(ids)

    # -- sweeping the outbox ------------------------------------------------------------------
    async def _sweep_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sweep_now.wait(), timeout=self.sweep_interval)
            self._sweep_now.clear()
            if self._connected.is_set() and len(self._known) < self.memory_cap // 2:
                await self.sweep_once()

    async def sweep_once(self, batch: int = 2_000) -> None:
        """Submit outbox rows memory does not hold, walking the table by seq across sweeps."""
        # A row confirmed and marked while the read runs must not be submitted again.
        self._marked_during_sweep = set()
        try:
            rows = await asyncio.to_thread(self.outbox.unpublished, batch, self._sweep_cursor)
        except Exception as error:
            log.error("outbox sweep failed", error=str(error))
            return
        finally:
            marked, self._marked_during_sweep = self._marked_during_sweep, None
        self._sweep_cursor = rows[-1][0] if len(rows) == batch else 0
        for _seq, row in rows:
            if row.id not in marked:
                self.submit(row)


def _describe_failure(error: Exception, item: Outgoing) -> str:
    if isinstance(error, aio_pika.exceptions.DeliveryError):
        frame = error.frame
        if isinstance(frame, aiormq.spec.Basic.Return):
            return f"unroutable: no queue bound for routing key {item.routing_key} ({frame.reply_text})"
        return f"broker refused the message: {type(frame).__name__}"
    if isinstance(error, TimeoutError):
        return "no publisher confirm in time"
    return f"{type(error).__name__}: {error}"

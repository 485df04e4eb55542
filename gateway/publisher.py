"""Relays committed reports from the outbox to RabbitMQ with publisher confirms.

A report leaves the outbox (is marked published) only after the broker confirmed it.
Nacks, returns (unroutable), confirm timeouts and lost connections are retried with capped
exponential backoff; intake never waits for the broker. Committed reports are handed over in
memory so the hot path never re-reads a row; a periodic sweep of the outbox picks up what
memory does not hold (reports from before a restart, or beyond the in-memory cap).

Publishing is batched: whatever is queued (up to the free in-flight room) goes to the socket as
one write, each message with its own delivery tag on aiormq's channel. The publisher settles the
broker's acks and nacks itself, a whole multiple-ack at once (_on_confirm_frame); aiormq's own
handling takes two scheduled callbacks, a future and its done-callback per message. Per-message
tasks, locks and drains (aio-pika's publish()) cost more CPU than the rest of the gateway's hot
path together; bench/ measures the difference. The frames themselves come from gateway/frames.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial
from itertools import takewhile

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aiormq import Channel as AmqpChannel
from aiormq.abc import ChannelFrame

from gateway.config import BrokerConfig
from gateway.frames import PublishEncoder
from gateway.metrics import Metrics
from gateway.outbox import Outbox, Outgoing
from gateway.tasks import cancel_and_wait

log = structlog.get_logger("publisher")

ConfirmFrame = aiormq.spec.Basic.Ack | aiormq.spec.Basic.Nack


class _Confirm:
    """A published report waiting for the broker's confirm.

    It stands in channel.confirmations where aiormq keeps a future, so that aiormq's handling of a
    basic.return (an unroutable report) settles it through the two methods a future has for that;
    nothing else of aiormq's reads it. The publisher handles acks and nacks itself (_on_confirm_frame).
    """

    __slots__ = ("item", "publisher", "sent_at", "settled")

    def __init__(self, item: Outgoing, sent_at: float, publisher: Publisher) -> None:
        self.item = item
        self.sent_at = sent_at
        self.settled = False  # failed already (returned, timed out); an ack for it still frees its room
        self.publisher = publisher

    def set_exception(self, error: BaseException) -> None:
        self.publisher._fail(self, _describe_failure(error, self.item))

    def set_result(self, _result: object) -> None:
        """A returned message with on_return_raises off: not how the publisher opens its channel."""
        self.publisher._fail(self, "unroutable: returned by the broker")


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
        # Confirmed since the last flush, per channel: the published counter moves once a flush, not
        # once a report (a prometheus inc is three Python calls and a lock).
        self._confirmed_in: dict[str, int] = {}
        self._confirmed_event = asyncio.Event()
        # aiormq's channel under aio-pika's, and its frame encoder: set and cleared together.
        self._link: tuple[AmqpChannel, PublishEncoder] | None = None
        self._connection: AbstractRobustConnection | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._stopping = False
        self._room = asyncio.Event()  # set when a confirm settles, freeing in-flight room
        # Published on the current channel, confirm not yet in: delivery tag -> its confirm, oldest
        # first. Its size is the in-flight count.
        self._awaiting: dict[int, _Confirm] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._notes: set[asyncio.Task[None]] = set()
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
            asyncio.create_task(self._deadline_loop(), name="publisher-deadlines"),
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
        """End the loops; a connection still being set up is closed too (never leaked)."""
        # Besides the cancel: a loop whose cancel a library swallowed still sees these and ends.
        self._stopping = True
        self._lost.set()
        for handle in self._retry_handles:
            handle.cancel()
        await cancel_and_wait([*self._tasks, *self._notes])
        await self._flush_confirmed()
        if self._connection is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self._connection.close()

    # -- connection -------------------------------------------------------------------------
    async def _connection_loop(self) -> None:
        delay = self.config.retry_initial
        while not self._stopping:
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
            if self._stopping:
                break
            self._lost.clear()
            try:
                # Bounded: a broker busy creating a quorum queue can leave a declare unanswered.
                async with asyncio.timeout(self.config.confirm_timeout):
                    channel = await self._open_channel(connection)
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
            self._link = (channel, PublishEncoder(channel.number, self.config.exchange, channel.max_content_size))
            self._connected.set()
            self.metrics.broker_connected.set(1)
            log.info("broker connected", exchange=self.config.exchange)
            self.sweep_soon()
            await self._lost.wait()
            self._connected.clear()
            self.metrics.broker_connected.set(0)
            self._link = None
            self._fail_in_flight()
            if not self._stopping:
                log.warning("broker connection lost, reconnecting")
            with contextlib.suppress(Exception):
                await connection.close()

    async def _open_channel(self, connection: aio_pika.abc.AbstractConnection) -> AmqpChannel:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        channel.close_callbacks.add(lambda *_args: self._lost.set())
        if self.config.declare_topology:
            await declare_topology(channel, self.config)
        else:
            await channel.get_exchange(self.config.exchange, ensure=True)
        underlay = await channel.get_underlay_channel()
        assert isinstance(underlay, AmqpChannel)  # the batch path works on aiormq's own channel
        # aiormq's reader awaits this for every basic.ack and basic.nack of the channel.
        underlay._on_confirm_frame = partial(self._on_confirm_frame, underlay)  # type: ignore[method-assign]
        return underlay

    # -- publishing -------------------------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            await self._connected.wait()
            while len(self._awaiting) >= self.config.max_in_flight:
                self._room.clear()
                await self._room.wait()
            room = self.config.max_in_flight - len(self._awaiting)
            while len(batch) < room and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._send(batch)

    async def _send(self, batch: list[Outgoing]) -> None:
        """One write for the batch; each message is settled when the broker confirms its tag."""
        if self._link is None or self._link[0].is_closed:
            for item in batch:
                self._retry_later(item, "ConnectionError: not connected")
            return
        channel, encoder = self._link
        frames: list[bytes] = []
        ready: list[Outgoing] = []
        for item in batch:
            try:
                frames.append(encoder.encode(item))
            except Exception as error:  # one unencodable message must not hold up the rest
                self._retry_later(item, f"cannot encode: {type(error).__name__}: {error}")
            else:
                ready.append(item)
        if not ready:
            return
        registered = False
        try:
            # Bounded: a dead connection's writer no longer empties its queue.
            async with asyncio.timeout(self.config.confirm_timeout), channel.lock:  # tags and frames in step
                self._register(channel, ready)
                registered = True
                try:
                    await channel.write_queue.put(ChannelFrame(payload=b"".join(frames), should_close=False))
                except BaseException:
                    self._unregister(channel, ready)  # each failed confirm schedules its retry
                    raise
        except TimeoutError:
            if not registered:
                for item in ready:
                    self._retry_later(item, "broker connection stalled")

    def _register(self, channel: AmqpChannel, items: list[Outgoing]) -> None:
        """Delivery tags as aiormq's basic_publish makes them, one per message, each with its confirm."""
        sent_at = time.monotonic()
        confirmations, by_message_id, awaiting = channel.confirmations, channel.message_id_delivery_tag, self._awaiting
        for item in items:
            channel.delivery_tag += 1
            tag = channel.delivery_tag
            confirm = _Confirm(item, sent_at, self)
            confirmations[tag] = confirm  # type: ignore[assignment]
            by_message_id[item.id] = tag  # how aiormq maps a basic.return back
            awaiting[tag] = confirm

    def _unregister(self, channel: AmqpChannel, items: list[Outgoing]) -> None:
        """The frames never left: give the tags back (the lock is still held) and fail each confirm."""
        for _item in items:
            confirm = self._withdraw(channel, channel.delivery_tag)
            channel.delivery_tag -= 1
            if confirm is not None:
                self._fail(confirm, "not sent: the broker connection stalled")

    def _fail_in_flight(self) -> None:
        """The lost channel's confirms will never come: each report still waiting is retried."""
        awaiting, self._awaiting = self._awaiting, {}
        for confirm in awaiting.values():
            self._fail(confirm, "broker connection lost before the publisher confirm")

    async def _on_confirm_frame(self, channel: AmqpChannel, frame: ConfirmFrame) -> None:
        """Settle what the broker acked or nacked: up to ``delivery_tag`` when ``multiple``, else that one tag."""
        if self._link is None or self._link[0] is not channel:
            return  # a channel already given up on: its reports were failed then
        last = frame.delivery_tag
        awaiting = self._awaiting
        tags = list(takewhile(last.__ge__, awaiting)) if frame.multiple else [last]
        acked = isinstance(frame, aiormq.spec.Basic.Ack)
        attempts, counts, confirmed = self._attempts, self._confirmed_in, self._confirmed
        for tag in tags:
            confirm = self._withdraw(channel, tag)
            if confirm is None or confirm.settled:
                continue  # timed out, or returned: failed and retried already
            item = confirm.item
            if acked:
                attempts.pop(item.id, None)
                counts[item.channel] = counts.get(item.channel, 0) + 1
                confirmed.append(item.id)
            else:
                self._fail(confirm, _refusal(frame))
        if tags:
            self._room.set()
            if acked:
                self._confirmed_event.set()

    def _withdraw(self, channel: AmqpChannel, tag: int) -> _Confirm | None:
        """Take ``tag`` off the in-flight ledger and out of aiormq's maps (with the placeholder aiormq
        leaves for a returned message): its confirm, if it was still in flight."""
        channel.confirmations.pop(tag, None)
        confirm = self._awaiting.pop(tag, None)
        if confirm is not None and channel.message_id_delivery_tag.get(confirm.item.id) == tag:
            del channel.message_id_delivery_tag[confirm.item.id]
        return confirm

    def _fail(self, confirm: _Confirm, reason: str) -> None:
        """No confirm for this report (returned, nacked, timed out, lost): publish it again later."""
        if confirm.settled:
            return
        confirm.settled = True
        self._room.set()
        self._retry_later(confirm.item, reason)

    async def _deadline_loop(self) -> None:
        """Gives up on confirms older than confirm_timeout: those reports are published again."""
        timeout = self.config.confirm_timeout
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            expired_before = time.monotonic() - timeout
            if self._link is None:
                continue  # nothing in flight: a lost link fails what was (_fail_in_flight)
            channel = self._link[0]
            for tag, confirm in list(self._awaiting.items()):
                if confirm.sent_at > expired_before:
                    break  # oldest first: the rest are younger
                self._withdraw(channel, tag)
                self._fail(confirm, "no publisher confirm in time")

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
            self._notes.add(note)
            note.add_done_callback(self._notes.discard)

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
        counts, self._confirmed_in = self._confirmed_in, {}
        for channel, count in counts.items():
            self.metrics.published_in[channel].inc(count)
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
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: see AckService._run
                async with asyncio.timeout(self.sweep_interval):
                    await self._sweep_now.wait()
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


def _describe_failure(error: BaseException, item: Outgoing) -> str:
    if isinstance(error, aio_pika.exceptions.DeliveryError):
        frame = error.frame
        if isinstance(frame, aiormq.spec.Basic.Return):
            return f"unroutable: no queue bound for routing key {item.routing_key} ({frame.reply_text})"
        return _refusal(frame)
    return f"{type(error).__name__}: {error}"


def _refusal(frame: object) -> str:
    """Why a report is retried when the broker answered its publish with ``frame`` (a nack, say)."""
    return f"broker refused the message: {type(frame).__name__}"

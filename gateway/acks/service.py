"""The acknowledgement service: a row written with every report, sent after the commit, retried.

The commit hook only inserts a row (and wakes the sender); all network work happens in this
service's own tasks, bounded by ``[acks] concurrency``, so a slow or dead provider never holds up
intake. Rows left pending by a crash are sent after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable

import aiohttp
import structlog

from gateway.acks import store
from gateway.acks.base import AckMessage, Sender, SendFailed, Skip, Target
from gateway.acks.chat import TelegramSender, WhatsAppSender
from gateway.acks.sms import sms_senders
from gateway.acks.text import render
from gateway.config import AcksConfig, ChannelsConfig
from gateway.metrics import Metrics
from gateway.outbox import Outbox, OutboxUnavailable
from gateway.tasks import cancel_and_wait
from schemas import Channel, RawMessage, Report

log = structlog.get_logger("acks")

RECENT_CODES = 4096  # latest reports' tracking codes kept for their resends' acknowledgements
IDLE_POLL = 30.0  # a safety net only: new rows and finished sends wake the loop at once
ANY_PROVIDER = "*"


def build_senders(acks: AcksConfig, channels: ChannelsConfig) -> dict[tuple[str, str], Sender]:
    """A sender per (channel, provider) whose credentials are configured; email needs only the relay."""
    senders: dict[tuple[str, str], Sender] = {}
    if channels.sms is not None:
        for provider, sender in sms_senders(channels.sms).items():
            senders[("sms", provider)] = sender
    if channels.whatsapp is not None:
        senders[("whatsapp", ANY_PROVIDER)] = WhatsAppSender(channels.whatsapp)
    if channels.telegram is not None:
        senders[("telegram", ANY_PROVIDER)] = TelegramSender(channels.telegram)
    if channels.email is not None:
        from gateway.acks.email import EmailSender  # loads the email channel's MIME code: only when in use

        senders[("email", ANY_PROVIDER)] = EmailSender(acks.email, acks.timeout)
    return senders


def _barrier(_conn: sqlite3.Connection) -> None:
    """Queued behind every transaction already running: once it returns, their rows are visible."""


class AckService:
    def __init__(self, config: AcksConfig, senders: dict[tuple[str, str], Sender], outbox: Outbox,
                 metrics: Metrics, intake_quiet: Callable[[float], Awaitable[bool]] | None = None) -> None:
        self.config = config
        self.senders = senders
        self.outbox = outbox
        self.metrics = metrics
        # Intake first: sends wait for a quiet moment in intake (Intake.quiet), at most config.max_defer.
        self.intake_quiet = intake_quiet
        self._schema_ready = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._wake_scheduled = False
        self._recent_codes: dict[str, str] = {}  # report id -> tracking code, oldest first (writer thread only)
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    def _sender(self, channel: str, provider: str) -> Sender | None:
        return self.senders.get((channel, provider)) or self.senders.get((channel, ANY_PROVIDER))

    # -- in the report's commit transaction (outbox writer thread) ---------------------------------
    def hook(self, conn: sqlite3.Connection, report: Report, raw: RawMessage) -> None:
        self._remember_code(report)
        if report.channel is Channel.WEB:
            return  # the confirmation page and the API answer already show the code
        if not self._schema_ready:
            store.create_schema(conn)
        channel, provider = report.channel.value, report.source.provider
        template, code = "received", report.tracking_code
        if report.dedup.duplicate_of:
            original = self._recent_codes.get(report.dedup.duplicate_of) or self._stored_code(
                conn, report.dedup.duplicate_of)
            if original is not None:
                template, code = "duplicate", original
        inputs: dict[str, object] = {"template": template, "tracking_code": code, "language": report.language}
        sender = self._sender(channel, provider)
        target = self._target(sender, conn, report, raw)
        if isinstance(target, Skip):
            store.insert(self.outbox, report_id=report.id, channel=channel, provider=provider, recipient=None,
                         inputs=inputs, state=store.SKIPPED, reason=target.reason)
            self.metrics.acks_skipped.labels(channel, target.reason).inc()
            return
        inputs["fields"] = dict(target.fields)
        store.insert(self.outbox, report_id=report.id, channel=channel, provider=provider, recipient=target.recipient,
                     inputs=inputs, state=store.PENDING)
        if self._loop is not None and not self._wake_scheduled:
            self._wake_scheduled = True
            with contextlib.suppress(RuntimeError):  # the loop is closing; the restart finds the row
                self._loop.call_soon_threadsafe(self._wake.set)

    def _remember_code(self, report: Report) -> None:
        # A resend usually follows its original soon: its code comes from here, without a query
        # (a sqlite step in the writer hands the GIL to the event loop and back, per report).
        self._recent_codes[report.id] = report.tracking_code
        if len(self._recent_codes) > RECENT_CODES:
            del self._recent_codes[next(iter(self._recent_codes))]

    @staticmethod
    def _stored_code(conn: sqlite3.Connection, report_id: str) -> str | None:
        row = conn.execute("SELECT tracking_code FROM reports WHERE id=?", (report_id,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _target(sender: Sender | None, conn: sqlite3.Connection, report: Report, raw: RawMessage) -> Target | Skip:
        if sender is None:
            return Skip("no_sender_configured")
        try:
            return sender.target(conn, report, raw)
        except Exception:  # odd input must cost the citizen the reply, never the report
            log.exception("acknowledgement addressing failed", report_id=report.id, channel=report.channel.value)
            return Skip("addressing_error")

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.outbox.transact(store.create_schema)
        self._schema_ready = True
        self._loop = asyncio.get_running_loop()
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.timeout),
            connector=aiohttp.TCPConnector(limit=self.config.concurrency),
        )
        self._runner = asyncio.create_task(self._run(), name="ack-sender")

    async def stop(self, grace: float = 5.0) -> None:
        if self._runner is not None:
            await cancel_and_wait([self._runner])
            self._runner = None
        # Sends already on the wire may finish and be marked; the rest stay pending for the next start.
        if self._in_flight:
            _, late = await asyncio.wait(list(self._in_flight.values()), timeout=grace)
            await cancel_and_wait(late)
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._loop = None

    # -- the sender loop ---------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._wake_scheduled = False
            self._wake.clear()
            timeout = IDLE_POLL
            try:
                await self.outbox.transact(_barrier)
                free = self.config.concurrency - len(self._in_flight)
                if free > 0:
                    now = time.time()
                    rows, later = await asyncio.to_thread(store.due, self.outbox, now, free,
                                                          frozenset(self._in_flight))
                    if rows:
                        await self._yield_to_intake(rows[0].due_at)
                    for row in rows:
                        self._in_flight[row.report_id] = asyncio.create_task(self._deliver(row))
                    if later is not None:
                        timeout = min(timeout, max(0.0, later - now))
            except (OutboxUnavailable, sqlite3.Error) as error:
                log.warning("acknowledgement scan failed", error=str(error))
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands as the
            # event fires, and stop() would then wait on this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _yield_to_intake(self, oldest_due: float) -> None:
        """Wait while reports are being accepted, until the oldest due send has waited max_defer."""
        if self.intake_quiet is None:
            return
        patience = oldest_due + self.config.max_defer - time.time()
        if patience > 0 and not await self.intake_quiet(patience):
            log.info("acknowledgements sent although intake is busy", waited_s=round(self.config.max_defer, 1))

    async def _deliver(self, row: store.AckRow) -> None:
        try:
            await self._attempt(row)
        finally:
            self._in_flight.pop(row.report_id, None)
            self._wake.set()

    async def _attempt(self, row: store.AckRow) -> None:
        assert self._http is not None
        bound = log.bind(report_id=row.report_id, channel=row.channel, provider=row.provider,
                         attempt=row.attempts + 1)
        inputs = row.inputs
        try:
            sender = self._sender(row.channel, row.provider)
            if sender is None:
                raise SendFailed("no sender configured any more", permanent=True)
            code = str(inputs["tracking_code"])
            text, subject = render(self.config, inputs.get("language"), str(inputs["template"]), code)
            reference = await sender.send(self._http, AckMessage(
                row.report_id, row.channel, row.provider, inputs.get("fields", {}), text, subject, code,
                row.idempotency_key,
            ))
        except SendFailed as failure:
            await self._failed(row, failure, bound)
            return
        except Exception as error:  # a bug must not kill the loop or spin on one row: retried, then given up
            bound.exception("acknowledgement sender crashed")
            await self._failed(row, SendFailed(f"{type(error).__name__}", permanent=False), bound)
            return
        await self._record(lambda conn: store.mark_sent(conn, row.report_id, reference))
        self.metrics.acks_sent.labels(row.channel).inc()
        bound.info("acknowledgement sent", template=inputs.get("template"))

    async def _failed(self, row: store.AckRow, failure: SendFailed, bound: structlog.BoundLogger) -> None:
        attempts = row.attempts + 1
        if failure.permanent or attempts >= self.config.max_attempts:
            reason = "rejected" if failure.permanent else "attempts_exhausted"
            await self._record(lambda conn: store.mark_failed(conn, row.report_id, failure.reason))
            self.metrics.acks_failed.labels(row.channel, reason).inc()
            bound.error("acknowledgement failed for good", reason=reason, error=failure.reason)
            return
        delay = min(self.config.retry_max, self.config.retry_initial * 2 ** min(attempts - 1, 32))
        delay *= random.uniform(0.8, 1.2)  # spread a provider outage's retries out
        if failure.retry_after is not None:
            delay = max(delay, min(failure.retry_after, self.config.retry_max))
        next_at = time.time() + delay
        await self._record(lambda conn: store.mark_retry(conn, row.report_id, failure.reason, next_at))
        self.metrics.ack_retries.labels(row.channel).inc()
        bound.warning("acknowledgement will be retried", error=failure.reason, delay=round(delay, 2))

    async def _record(self, update: Callable[[sqlite3.Connection], None]) -> None:
        try:
            await self.outbox.transact(update)
        except (OutboxUnavailable, sqlite3.Error) as error:
            # The row stays as it was: pending rows are tried again (a repeat beats silence). The pause
            # keeps this send's slot taken, so a broken outbox is not hammered with the same row.
            log.error("acknowledgement state not recorded", error=str(error))
            await asyncio.sleep(self.config.retry_initial)

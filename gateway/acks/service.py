"""The acknowledgement service: every stored report answered on its channel, sent later, retried.

Intake does no acknowledgement work: a stored report is itself the durable promise of its
acknowledgement. In a quiet moment of intake (or after ``max_defer``) this service gives the
reports stored past its cursor their rows, in the transaction that moves the cursor; a crash
before that leaves them past the cursor for the next run. All network work happens in this
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
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
import structlog
from pydantic import ValidationError

from gateway.acks import store
from gateway.acks.base import AckMessage, Sender, SendFailed, Skip, Target
from gateway.acks.chat import TelegramSender, WhatsAppSender
from gateway.acks.sms import sms_senders
from gateway.acks.text import render
from gateway.config import AcksConfig, ChannelsConfig
from gateway.metrics import Metrics
from gateway.outbox import Outbox, OutboxUnavailable
from gateway.tasks import cancel_and_wait
from schemas import Report

log = structlog.get_logger("acks")

IDLE_POLL = 30.0  # a safety net only: stored reports and finished sends wake the loop at once
ANY_PROVIDER = "*"
# Reports given their rows per outbox transaction: parsing them holds the writer (and the GIL) for
# a few milliseconds at most, should intake start again meanwhile.
ROWS_PER_TRANSACTION = 128


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


@dataclass(frozen=True, slots=True)
class _RowsWritten:
    cursor: int  # the last report seq looked at
    scanned: int
    skipped: list[tuple[str, str]]  # (channel, reason) per report that gets no message


class AckService:
    def __init__(self, config: AcksConfig, senders: dict[tuple[str, str], Sender], outbox: Outbox,
                 metrics: Metrics, intake_quiet: Callable[[float], Awaitable[bool]] | None = None) -> None:
        self.config = config
        self.senders = senders
        self.outbox = outbox
        self.metrics = metrics
        # Intake first: rows are written and sent in a quiet moment of intake (Intake.quiet), waiting
        # at most config.max_defer.
        self.intake_quiet = intake_quiet
        self._cursor = 0  # the last report seq that has its row (store.CURSOR_KEY); read in prepare()
        self._new_reports = True  # reports may be stored past the cursor: at start, by the last run
        self._wake = asyncio.Event()
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    def _sender(self, channel: str, provider: str) -> Sender | None:
        return self.senders.get((channel, provider)) or self.senders.get((channel, ANY_PROVIDER))

    def report_stored(self) -> None:
        """Intake's call after every stored report (Intake.stored_listeners): as cheap as it gets."""
        self._new_reports = True
        self._wake.set()

    # -- rows for the reports past the cursor (outbox writer thread) -------------------------------
    def _write_rows(self, conn: sqlite3.Connection, after: int, due_at: float) -> _RowsWritten:
        """One transaction's worth: rows for the next reports past ``after``, and the cursor moved on."""
        scanned = store.new_reports(conn, after, ROWS_PER_TRANSACTION)
        skipped: list[tuple[str, str]] = []
        rows: list[tuple[Any, ...]] = []
        for seq, payload in scanned:
            if payload is None:
                continue  # a web report: the confirmation page and the API answer already show the code
            try:
                report = Report.model_validate_json(payload)
            except ValidationError as error:  # written by a version with another schema: no reply, no stall
                log.error("stored report unreadable, no acknowledgement", seq=seq, errors=error.error_count())
                continue
            values, reason = self._row(conn, report, due_at)
            rows.append(values)
            if reason is not None:
                skipped.append((report.channel.value, reason))
        store.insert(conn, rows)
        cursor = scanned[-1][0] if scanned else after
        if cursor != after:
            store.write_cursor(conn, cursor)
        return _RowsWritten(cursor, len(scanned), skipped)

    def _row(self, conn: sqlite3.Connection, report: Report, due_at: float) -> tuple[tuple[Any, ...], str | None]:
        """The report's acknowledgement row, and the reason when it gets no message."""
        channel, provider = report.channel.value, report.source.provider
        template, code = "received", report.tracking_code
        if report.dedup.duplicate_of:
            original = conn.execute("SELECT tracking_code FROM reports WHERE id=?",
                                    (report.dedup.duplicate_of,)).fetchone()
            if original is not None:
                template, code = "duplicate", str(original[0])
        inputs: dict[str, object] = {"template": template, "tracking_code": code, "language": report.language}
        target = self._target(self._sender(channel, provider), conn, report)
        if isinstance(target, Skip):
            return store.row(report_id=report.id, channel=channel, provider=provider, recipient=None, inputs=inputs,
                             state=store.SKIPPED, due_at=due_at, reason=target.reason), target.reason
        inputs["fields"] = dict(target.fields)
        return store.row(report_id=report.id, channel=channel, provider=provider, recipient=target.recipient,
                         inputs=inputs, state=store.PENDING, due_at=due_at), None

    @staticmethod
    def _target(sender: Sender | None, conn: sqlite3.Connection, report: Report) -> Target | Skip:
        if sender is None:
            return Skip("no_sender_configured")
        try:
            return sender.target(conn, report)
        except Exception:  # odd input must cost the citizen the reply, never the report
            log.exception("acknowledgement addressing failed", report_id=report.id, channel=report.channel.value)
            return Skip("addressing_error")

    # -- lifecycle ---------------------------------------------------------------------------------
    async def prepare(self) -> None:
        """Once the outbox is open, before intake opens: the schema, and where the cursor stands."""

        def prepare(conn: sqlite3.Connection) -> int:
            store.create_schema(conn)
            cursor = store.mark_run(conn, enabled=True)
            assert cursor is not None  # acknowledgements are on
            return cursor

        self._cursor = await self.outbox.transact(prepare)

    async def start(self) -> None:
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

    # -- the sender loop ---------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._wake.clear()
            timeout = IDLE_POLL
            try:
                if self._new_reports:
                    await self._write_rows_for_new_reports()
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

    async def _write_rows_for_new_reports(self) -> None:
        """Rows for every report stored past the cursor, written when intake is quiet.

        They fall due when they were first noticed, so the wait for a quiet moment here and the one
        before sending add up to ``max_defer`` at most.
        """
        noticed = time.time()
        while True:
            await self._yield_to_intake(noticed)
            # Cleared before the scan: a report stored from here on is in this scan or sets it again.
            self._new_reports = False
            try:
                written = await self.outbox.transact(partial(self._write_rows, after=self._cursor, due_at=noticed))
            except BaseException:
                self._new_reports = True  # nothing written: the next round tries again
                raise
            self._cursor = written.cursor
            for channel, reason in written.skipped:
                self.metrics.acks_skipped.labels(channel, reason).inc()
            if written.scanned < ROWS_PER_TRANSACTION:
                return

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

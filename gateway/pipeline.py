"""The shared intake pipeline: normalize, dedup, store, publish. Every channel ends here."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from gateway.attachments import AttachmentStore
from gateway.commit import Operation
from gateway.ids import new_report_id, new_tracking_code
from gateway.logs import writes_at
from gateway.metrics import Metrics
from gateway.outbox import Outbox
from gateway.publisher import Publisher
from normalizer import Draft, Step, normalize
from normalizer.draft import build_report
from schemas import Attachment, Dedup, Raw, RawMessage, Report

QUIET_AFTER = 0.05  # seconds without a report accepted before intake counts as quiet

log = structlog.get_logger("intake")


# Durable state that must commit atomically with a report (a closed multipart SMS group, an IMAP
# checkpoint): runs inside the report's own outbox transaction, in the outbox's writer thread. It is
# given the report's id, which is final; the report itself is not, as the outbox may still draw
# another tracking code for it.
CommitHook = Callable[[sqlite3.Connection, str], None]


class NearDuplicateFinder(Protocol):
    """Links a report to an earlier one by the same person saying the same thing (dedup issue)."""

    async def check(self, draft: Draft, report_id: str) -> Dedup: ...

    def record(self, report_id: str) -> Operation | None:
        """The commit hook that stores what check() learned, in the report's own transaction (picklable:
        it runs in the commit process)."""

    def settle(self, report_id: str, stored: bool) -> None:
        """After the commit attempt: only a stored report may become an earlier report."""


@dataclass(frozen=True, slots=True)
class Accepted:
    id: str
    tracking_code: str
    duplicate: bool  # an exact repeat: the original's id and code, nothing new stored
    report: Report | None  # the stored report (None for an exact repeat)


class Intake:
    def __init__(
        self,
        steps: Sequence[Step],
        outbox: Outbox,
        publisher: Publisher,
        metrics: Metrics,
        attachments: AttachmentStore,
        near_duplicates: NearDuplicateFinder | None = None,
    ) -> None:
        self.steps = list(steps)
        self.outbox = outbox
        self.publisher = publisher
        self.metrics = metrics
        self.attachments = attachments
        self.near_duplicates = near_duplicates
        # Called in the event loop after every stored report: must be as cheap as a flag (acks).
        self.stored_listeners: list[Callable[[], None]] = []
        self._accepting = 0
        self._quiet = asyncio.Event()  # set while no report is being accepted
        self._quiet.set()
        self._last_accepted = 0.0  # time.monotonic() when the last accept ended

    async def quiet(self, timeout: float) -> bool:
        """Wait until no report has been accepted for QUIET_AFTER seconds, at most ``timeout``
        seconds; True if intake is quiet.

        Background work that must never slow intake down (acknowledgements) waits on this. Under
        load intake is idle for a moment between two requests; that is not quiet, or the waiting
        work would run in every such gap and take its share of the event loop from intake.
        """
        try:
            async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancel on 3.11
                while True:
                    await self._quiet.wait()
                    idle = time.monotonic() - self._last_accepted
                    if idle >= QUIET_AFTER:
                        return True
                    await asyncio.sleep(QUIET_AFTER - idle)
        except TimeoutError:
            return False

    async def accept(self, raw: RawMessage, *, hold: bool = False, extra: CommitHook | None = None) -> Accepted:
        """Commit ``raw`` as a report; returns once it is durable. Raises OutboxUnavailable.

        ``hold`` keeps the committed report from the publisher until ``release`` (media that
        must be fetched first). ``extra`` runs in the report's transaction; not for an exact repeat.
        """
        self._accepting += 1
        self._quiet.clear()
        try:
            return await self._accept(raw, hold, extra)
        finally:
            self._accepting -= 1
            if not self._accepting:
                self._last_accepted = time.monotonic()
                self._quiet.set()

    async def _accept(self, raw: RawMessage, hold: bool, extra: CommitHook | None) -> Accepted:
        draft = normalize(raw, self.steps)
        report_id = new_report_id()
        stored_files: list[Attachment] = []
        if any(item.data is not None for item in raw.attachments):
            stored_files = await asyncio.to_thread(self.attachments.store_all, raw.attachments)
        dedup: Dedup | None = None  # build_report's default: the fingerprint alone
        kept = False  # the report was stored: the finder may offer it as an earlier report
        try:
            if self.near_duplicates is not None:
                dedup = await self.near_duplicates.check(draft, report_id)
            report = build_report(
                draft,
                report_id=report_id,
                tracking_code=new_tracking_code(),
                message_id=raw.message_id or report_id,
                attachments=stored_files,
                raw=_raw_reference(raw),
                dedup=dedup,
            )
            hooks: list[Operation] = []
            if extra is not None:
                hooks.append(lambda conn: extra(conn, report_id))
            if self.near_duplicates is not None and (record := self.near_duplicates.record(report_id)) is not None:
                hooks.append(record)
            committed = await self.outbox.commit_report(
                report, raw.raw or None, raw.raw_content_type, held=hold, hooks=hooks, closures=extra is not None
            )
            kept = not committed.duplicate
        finally:
            if self.near_duplicates is not None:
                self.near_duplicates.settle(report_id, kept)
        channel = raw.channel.value
        logged = writes_at(logging.INFO)  # a dropped line still costs its logger's making (31k instructions)
        if committed.duplicate:
            self.metrics.duplicates.labels(channel, "exact").inc()
            if logged:
                log.info("exact duplicate, original kept", report_id=committed.id, channel=channel,
                         provider=raw.provider, tracking_code=committed.tracking_code)
            return Accepted(committed.id, committed.tracking_code, True, None)
        self.metrics.accepted_in[channel].inc()
        for listener in self.stored_listeners:
            listener()
        if report.dedup.duplicate_of:
            self.metrics.duplicates.labels(channel, "near").inc()
        if committed.outgoing is not None and not hold:
            self.publisher.submit(committed.outgoing)
        if logged:
            log.info("report accepted", report_id=committed.id, channel=channel, provider=raw.provider,
                     tracking_code=committed.tracking_code, kind=report.kind.value, urgency=report.urgency.value,
                     notes=list(draft.notes))
        stored = report if committed.tracking_code == report.tracking_code else report.model_copy(
            update={"tracking_code": committed.tracking_code}
        )
        return Accepted(committed.id, committed.tracking_code, False, stored)

    async def release(self, report: Report) -> None:
        """Publish a held report in its final form (e.g. with its media attached)."""
        outgoing = await self.outbox.release(report)
        self.publisher.submit(outgoing)


def _raw_reference(raw: RawMessage) -> Raw | None:
    if not raw.raw:
        return None
    digest = hashlib.sha256(raw.raw).hexdigest()
    return Raw(content_type=raw.raw_content_type, size=len(raw.raw), sha256=digest, ref=f"outbox:raw/{digest}")

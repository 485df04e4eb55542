"""Remote media: attachments a channel names by reference (WhatsApp media ids, Telegram file ids).

A provider webhook must be answered quickly, but its photos have to be downloaded with a second
request that may be slow or fail. So a report with remote media is committed *held*, together
with one ``media_pending`` row per medium (same outbox transaction), the channel is answered, and
the :class:`MediaFetcher` downloads the bytes afterwards, with retries and backoff, into the
attachment store. When every medium of the report is stored, refused or given up (after the
channel's ``media_timeout``), the report is released in its final form; a medium that could not
be fetched is listed with ``status="unavailable"`` and its reason. The pending rows survive a
restart: ``start`` re-arms every held report, so media never block a report forever.

Interface for a channel adapter::

    from gateway.media import Fetched, MediaTooLarge, PermanentMediaError, RetryableMediaError, media_fetcher

    class MySource:                       # one per channel; satisfies MediaSource
        async def fetch(self, remote_ref: str) -> Fetched:   # (bytes, content_type | None, filename | None)
            ...  # raise RetryableMediaError (network, 5xx, 429): retried with backoff until media_timeout;
                 # PermanentMediaError (4xx, bad ref): unavailable at once; MediaTooLarge: refused.
                 # download_bytes(session, url, headers=..., max_bytes=...) does the HTTP part and mapping.

    fetcher = media_fetcher(context)      # the gateway's one instance, in context.services
    fetcher.register("telegram", MySource(), timeout=config.media_timeout)
    accepted = await commit(context.intake, raw, media=fetcher)   # adapters.common: OutboxUnavailable -> 503
    # or fetcher.accept(raw): held when raw has IncomingAttachment(remote_ref=..., data=None), else plain

``RawMessage.channel`` selects the source, so a channel registers under its Channel value. The daemon
always creates the fetcher, so reports held by a channel that is later disabled are still released
(their media listed as unavailable).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import aiohttp
import structlog

from gateway.attachments import AttachmentStore
from gateway.context import ChannelContext
from gateway.ids import new_report_id
from gateway.outbox import STATE_HELD, Outbox
from gateway.pipeline import Accepted, Intake
from gateway.tasks import cancel_and_wait
from schemas import Attachment, RawMessage, Report

log = structlog.get_logger("media")

SCHEMA = """
CREATE TABLE IF NOT EXISTS media_pending (
    report_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    remote_ref TEXT NOT NULL,
    filename TEXT,
    content_type TEXT NOT NULL,
    source TEXT NOT NULL,
    first_seen REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    result TEXT,
    PRIMARY KEY (report_id, idx)
)
"""

# The one attempt made after the deadline (the gateway was down) still gets a fair chance to finish.
_LAST_ATTEMPT_MIN = 5.0

# (bytes, content type the provider claims or None, filename the provider gives or None)
Fetched = tuple[bytes, str | None, str | None]


class MediaError(Exception):
    """A fetch failed; ``str(error)`` becomes the attachment's reason, so it must not hold secrets."""


class RetryableMediaError(MediaError):
    """Worth trying again (network error, timeout, 5xx, 429) until the channel's media_timeout."""


class PermanentMediaError(MediaError):
    """Trying again cannot help (unknown or expired media id, 4xx)."""


class MediaTooLarge(PermanentMediaError):
    """Over the attachment size cap: listed as refused (a policy), not as unavailable."""


class MediaSource(Protocol):
    async def fetch(self, remote_ref: str) -> Fetched: ...


@dataclass(frozen=True, slots=True)
class _Registered:
    source: MediaSource
    timeout: float


@dataclass(slots=True)
class _Pending:
    idx: int
    remote_ref: str
    filename: str | None
    content_type: str
    source: str
    first_seen: float
    attempts: int
    result: Attachment | None


async def download_bytes(
    session: aiohttp.ClientSession, url: str, *, headers: Mapping[str, str] | None = None, max_bytes: int
) -> tuple[bytes, str | None]:
    """GET ``url`` with a size cap; map HTTP and network failures to retryable/permanent errors."""
    try:
        async with session.get(url, headers=headers, allow_redirects=True) as response:
            if response.status == 429 or response.status >= 500:
                raise RetryableMediaError(f"media host answered HTTP {response.status}")
            if response.status >= 400:
                raise PermanentMediaError(f"media host answered HTTP {response.status}")
            if response.content_length is not None and response.content_length > max_bytes:
                raise MediaTooLarge(f"larger than {max_bytes} bytes")
            data = bytearray()
            async for chunk in response.content.iter_chunked(65536):
                data += chunk
                if len(data) > max_bytes:
                    raise MediaTooLarge(f"larger than {max_bytes} bytes")
            return bytes(data), response.headers.get("Content-Type")
    except (aiohttp.ClientError, TimeoutError) as error:
        raise RetryableMediaError(f"media download failed: {type(error).__name__}") from None


def _unavailable(item: _Pending, reason: str, status: Literal["refused", "unavailable"] = "unavailable") -> Attachment:
    return Attachment(
        id=new_report_id(), filename=item.filename, content_type=item.content_type, size=0, url=None,
        status=status, reason=reason,
    )


class MediaFetcher:
    """Downloads the remote media of held reports and releases them; one instance per gateway."""

    def __init__(
        self,
        intake: Intake,
        outbox: Outbox,
        *,
        concurrency: int = 8,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        attempt_timeout: float = 60.0,
    ) -> None:
        self.intake = intake
        self.outbox = outbox
        self.attachments: AttachmentStore = intake.attachments
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.attempt_timeout = attempt_timeout
        self._sources: dict[str, _Registered] = {}
        self._limit = asyncio.Semaphore(concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._started = False

    def register(self, channel: str, source: MediaSource, *, timeout: float) -> None:
        """Media of reports from ``channel`` are fetched by ``source`` and given up after ``timeout`` s."""
        self._sources[channel] = _Registered(source, timeout)

    # -- committing -------------------------------------------------------------------------
    async def accept(self, raw: RawMessage) -> Accepted:
        """Commit ``raw``; with remote media it is held and its fetch is scheduled. Raises OutboxUnavailable."""
        remote = [(idx, item) for idx, item in enumerate(raw.attachments) if item.data is None and item.remote_ref]
        if not remote:
            return await self.intake.accept(raw)
        source = raw.channel.value
        first_seen = time.time()

        def record(conn: sqlite3.Connection, report_id: str) -> None:
            conn.execute(SCHEMA)  # here rather than at start: HTTP is served before services start
            conn.executemany(
                "INSERT INTO media_pending (report_id, idx, remote_ref, filename, content_type, source, first_seen)"
                " VALUES (?,?,?,?,?,?,?)",
                [(report_id, idx, item.remote_ref, item.filename, item.content_type, source, first_seen)
                 for idx, item in remote],
            )

        accepted = await self.intake.accept(raw, hold=True, extra=record)
        if not accepted.duplicate:
            self._arm(accepted.id)
        return accepted

    # -- service ----------------------------------------------------------------------------
    async def start(self) -> None:
        def prepare(conn: sqlite3.Connection) -> None:
            conn.execute(SCHEMA)
            # Rows of a report released just before a crash (release and cleanup are two commits).
            conn.execute("DELETE FROM media_pending WHERE report_id NOT IN (SELECT id FROM reports WHERE state=?)",
                         (STATE_HELD,))

        await self.outbox.transact(prepare)
        self._started = True
        held = await asyncio.to_thread(self._held_with_media)
        for report_id in held:
            self._arm(report_id)
        if held:
            log.info("media fetches re-armed for held reports", reports=len(held))

    async def stop(self) -> None:
        self._started = False
        await cancel_and_wait(list(self._tasks.values()))
        self._tasks.clear()

    def _held_with_media(self) -> list[str]:
        with self.outbox.reader() as conn:
            rows = conn.execute(
                "SELECT DISTINCT m.report_id FROM media_pending m JOIN reports r ON r.id = m.report_id"
                " WHERE r.state = ? ORDER BY r.seq",
                (STATE_HELD,),
            ).fetchall()
        return [row[0] for row in rows]

    def _arm(self, report_id: str) -> None:
        # Before start() a commit only leaves its rows; start() arms everything that is held.
        if not self._started or report_id in self._tasks:
            return
        task = asyncio.get_running_loop().create_task(self._complete(report_id), name=f"media:{report_id}")
        self._tasks[report_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(report_id, None))

    # -- fetching ---------------------------------------------------------------------------
    async def _complete(self, report_id: str) -> None:
        bound = log.bind(report_id=report_id)
        while True:
            try:
                await self._fetch_and_release(report_id)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the outbox hiccuped: the rows are intact, try again later
                bound.error("media completion failed, retrying", error=type(error).__name__)
                await asyncio.sleep(self.backoff_max)

    async def _fetch_and_release(self, report_id: str) -> None:
        report, items = await asyncio.to_thread(self._load, report_id)
        if report is None:  # released before a crash could delete the rows
            await self.outbox.transact(lambda conn: conn.execute(
                "DELETE FROM media_pending WHERE report_id=?", (report_id,)))
            return
        await asyncio.gather(*(self._resolve(report_id, item) for item in items if item.result is None))
        resolved = [item.result for item in sorted(items, key=lambda i: i.idx) if item.result is not None]
        final = report.model_copy(update={"attachments": [*report.attachments, *self._apply_message_cap(resolved)]})
        await self.intake.release(final)
        await self.outbox.transact(lambda conn: conn.execute(
            "DELETE FROM media_pending WHERE report_id=?", (report_id,)))
        log.info("held report released", report_id=report_id,
                 media=[a.status for a in resolved])

    def _apply_message_cap(self, resolved: list[Attachment]) -> list[Attachment]:
        cap, total, capped = self.attachments.max_message_bytes, 0, []
        for item in resolved:
            if item.status == "stored" and total + item.size > cap:
                item = item.model_copy(update={"status": "refused", "url": None,
                                               "reason": f"message attachments exceed {cap} bytes"})
            elif item.status == "stored":
                total += item.size
            capped.append(item)
        return capped

    def _load(self, report_id: str) -> tuple[Report | None, list[_Pending]]:
        with self.outbox.reader() as conn:
            row = conn.execute("SELECT payload FROM reports WHERE id=? AND state=?", (report_id, STATE_HELD)).fetchone()
            rows = conn.execute(
                "SELECT idx, remote_ref, filename, content_type, source, first_seen, attempts, result"
                " FROM media_pending WHERE report_id=? ORDER BY idx", (report_id,),
            ).fetchall()
        report = None if row is None else Report.model_validate_json(bytes(row[0]))
        items = [_Pending(r[0], r[1], r[2], r[3], r[4], r[5], r[6],
                          None if r[7] is None else Attachment.model_validate_json(r[7])) for r in rows]
        return report, items

    async def _resolve(self, report_id: str, item: _Pending) -> None:
        registered = self._sources.get(item.source)
        if registered is None:
            # The channel was disabled while the report waited: publish rather than hold it forever.
            await self._settle(report_id, item, _unavailable(item, f"channel {item.source} is not configured"))
            return
        deadline = item.first_seen + registered.timeout
        delay = self.backoff_initial
        last_error = "not fetched"
        # At least one attempt by this process, even when the deadline passed while the gateway was down.
        tried_here = False
        while not tried_here or time.time() < deadline:
            tried_here = True
            item.attempts += 1
            try:
                remaining = max(deadline - time.time(), _LAST_ATTEMPT_MIN)
                async with self._limit, asyncio.timeout(min(remaining, self.attempt_timeout)):
                    data, claimed_type, claimed_name = await registered.source.fetch(item.remote_ref)
            except PermanentMediaError as error:
                status: Literal["refused", "unavailable"] = (
                    "refused" if isinstance(error, MediaTooLarge) else "unavailable")
                await self._settle(report_id, item, _unavailable(item, str(error), status))
                return
            except (RetryableMediaError, TimeoutError) as error:
                last_error = str(error) or "media fetch timed out"
                await self._note_attempt(report_id, item, last_error)
                log.info("media fetch failed, will retry", report_id=report_id, idx=item.idx,
                         attempts=item.attempts, error=last_error)
                remaining = deadline - time.time()
                if remaining <= 0:
                    break
                # The last attempt falls on the deadline itself rather than giving up early.
                await asyncio.sleep(min(min(delay, self.backoff_max) * random.uniform(0.8, 1.2), remaining))
                delay *= 2
                continue
            await self._settle(report_id, item, await self._store(item, data, claimed_type, claimed_name))
            return
        reason = f"not fetched within {registered.timeout:g}s after {item.attempts} attempts: {last_error}"
        await self._settle(report_id, item, _unavailable(item, reason))

    async def _store(
        self, item: _Pending, data: bytes, claimed_type: str | None, claimed_name: str | None
    ) -> Attachment:
        incoming_name = item.filename or claimed_name
        declared = item.content_type if item.content_type != "application/octet-stream" else claimed_type or ""
        if len(data) > self.attachments.max_file_bytes:
            return Attachment(id=new_report_id(), filename=incoming_name, content_type=declared or item.content_type,
                              size=len(data), url=None, status="refused",
                              reason=f"larger than {self.attachments.max_file_bytes} bytes")
        return await asyncio.to_thread(self.attachments.store, data, incoming_name, declared)

    async def _note_attempt(self, report_id: str, item: _Pending, error: str) -> None:
        await self.outbox.transact(lambda conn: conn.execute(
            "UPDATE media_pending SET attempts=?, last_error=? WHERE report_id=? AND idx=?",
            (item.attempts, error, report_id, item.idx)))

    async def _settle(self, report_id: str, item: _Pending, result: Attachment) -> None:
        item.result = result
        await self.outbox.transact(lambda conn: conn.execute(
            "UPDATE media_pending SET attempts=?, result=? WHERE report_id=? AND idx=?",
            (item.attempts, result.model_dump_json(), report_id, item.idx)))
        if result.status != "stored":
            log.warning("medium not stored", report_id=report_id, idx=item.idx, status=result.status,
                        reason=result.reason, source=item.source)

    def pending_rows(self) -> int:
        """Media rows of reports not yet released (for tests and the operator)."""
        with self.outbox.reader() as conn:
            exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name='media_pending'").fetchone()
            if exists is None:
                return 0
            return int(conn.execute("SELECT COUNT(*) FROM media_pending").fetchone()[0])


def media_fetcher(context: ChannelContext) -> MediaFetcher:
    """The gateway's one MediaFetcher: created (and added to the services) by the first channel that asks."""
    for service in context.services:
        if isinstance(service, MediaFetcher):
            return service
    fetcher = MediaFetcher(context.intake, context.outbox)
    context.services.append(fetcher)
    return fetcher


"""The outbox: a SQLite (WAL) database that is the gateway's commit point.

A report is accepted when its row is durably written here; only then does a channel get
its success answer. Writes are group commits (gateway/commit.py): many concurrent accepts share
one transaction and one fsync. Reports and the publisher's confirmations commit in the commit
process (gateway/commit_process.py), off the event loop's GIL. Every other operation, a function
of the connection that may close over anything, runs in the writer thread in this process (so do
reports, should the commit process have ended). Other modules (multipart SMS, IMAP checkpoints)
keep their durable state here too, through ``transact``, so it commits atomically with reports.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import structlog

from gateway.commit import (
    RAW_MESSAGE,
    STATE_HELD,
    STATE_READY,
    GroupCommit,
    InsertReport,
    MarkPublished,
    NotHandedOver,
    Operation,
    OutboxUnavailable,
    Problem,
    TrackingCodeTaken,
    WriterConnection,
    connect,
)
from gateway.commit_client import CommitProcess
from gateway.ids import new_tracking_code
from schemas import Report

__all__ = ["RAW_MESSAGE", "STATE_HELD", "STATE_READY", "Committed", "Outbox", "OutboxStatus", "OutboxUnavailable",
           "Outgoing"]

log = structlog.get_logger("outbox")
T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    tracking_code TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    inbound_address TEXT NOT NULL,
    message_id TEXT NOT NULL,
    identity TEXT,
    kind TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    payload BLOB NOT NULL,
    received_at REAL NOT NULL,
    state INTEGER NOT NULL,
    published_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    UNIQUE (channel, inbound_address, message_id)
);
CREATE INDEX IF NOT EXISTS reports_unpublished ON reports (state, seq) WHERE state != 2;
CREATE TABLE IF NOT EXISTS raw_messages (
    sha256 TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
# Reads of the rows not yet published go through the partial index reports_unpublished, which
# holds only those: each query repeats the index's own condition (state != 2), without which sqlite
# does not use it. Otherwise the publisher's sweep walks every row of the table, published ones
# and their payloads included, every sweep interval, and /metrics scans the table as well.
UNPUBLISHED_ROWS = (
    "SELECT seq, id, routing_key, payload, channel, kind, received_at FROM reports"
    " WHERE state != 2 AND state = 0 AND seq > ? ORDER BY seq LIMIT ?"
)
UNPUBLISHED_PER_CHANNEL = (
    "SELECT channel, COUNT(*), MIN(received_at) FROM reports INDEXED BY reports_unpublished"
    " WHERE state != 2 GROUP BY channel"
)
HELD_COUNT = "SELECT COUNT(*) FROM reports WHERE state != 2 AND state = 1"


class Outgoing(NamedTuple):
    """A committed report as the publisher needs it; handed over without re-reading the row.

    A NamedTuple: made once a report on the event loop, at a third of a frozen dataclass's cost.
    """

    id: str
    routing_key: str
    payload: bytes
    channel: str
    kind: str
    received_at: float

    @classmethod
    def of(cls, report: Report) -> Outgoing:
        """``report`` serialized, with what the publisher and the report's row need of it."""
        return cls(report.id, report.routing_key, report.to_json(), report.channel.value, report.kind.value,
                   report.received_at.timestamp())


@dataclass(frozen=True, slots=True)
class Committed:
    """The outcome of committing a report: the stored id and code, and whether it was a repeat."""

    id: str
    tracking_code: str
    duplicate: bool
    outgoing: Outgoing | None


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    total: int
    unpublished: int
    held: int
    oldest_unpublished_at: float | None
    per_channel: dict[str, int]
    oldest_per_channel: dict[str, float]


_Op = tuple[Operation, asyncio.AbstractEventLoop, "asyncio.Future[Any]"]
_STOP = object()
PROCESS_RESTART_INITIAL = 1.0  # seconds before an ended commit process is started again
PROCESS_RESTART_MAX = 60.0
PROCESS_STABLE = 60.0  # a process that lived this long resets the restart delay


def _report_row(report: Report, outgoing: Outgoing, held: bool) -> tuple[Any, ...]:
    """REPORT_ROW's values for ``report``, with what its Outgoing already holds."""
    source = report.source
    return (outgoing.id, report.tracking_code, outgoing.channel, source.inbound_address, source.message_id,
            report.reporter.identity, outgoing.kind, outgoing.routing_key, outgoing.payload, outgoing.received_at,
            STATE_HELD if held else STATE_READY)


class Outbox:
    def __init__(self, path: Path, synchronous: str = "FULL", max_batch: int = 512) -> None:
        self.path = path
        self.synchronous = synchronous
        self.max_batch = max_batch
        self._ops: queue.SimpleQueue[_Op | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._group: GroupCommit | None = None  # the writer thread's
        self._process: CommitProcess | None = None
        self._restart: asyncio.TimerHandle | None = None
        self._restart_delay = PROCESS_RESTART_INITIAL
        self._process_started = 0.0  # time.monotonic() of the commit process's last start

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect(WriterConnection)
        assert isinstance(conn, WriterConnection)
        conn.executescript(SCHEMA)
        self._group = GroupCommit(conn)
        self._thread = threading.Thread(target=self._write_loop, args=(self._group,), name="outbox-writer",
                                        daemon=True)
        self._thread.start()
        self._start_process()

    def _start_process(self) -> None:
        # From the thread that opened the outbox (the event loop's): the process's parent-death
        # signal follows the thread that started it.
        self._restart = None
        if self._process is not None and self._process.process.poll() is None:
            self._process.process.kill()  # its socket closed, yet it runs: it must not write beside the next
        try:
            self._process = CommitProcess(str(self.path), self.synchronous, self.max_batch, self._process_ended,
                                          _log_problem)
        except OSError as error:  # no process to be had (limits): the writer thread commits meanwhile
            self._process_ended(f"not started: {error}")
            return
        self._process_started = time.monotonic()

    def _connect(self, factory: type[sqlite3.Connection] = sqlite3.Connection) -> sqlite3.Connection:
        return connect(str(self.path), self.synchronous, factory)

    @property
    def commit_process_up(self) -> bool:
        """Reports commit in the commit process (False: in the writer thread, until it is restarted)."""
        return self._process is not None and self._process.running

    def _process_ended(self, reason: str) -> None:
        """The commit process has ended: the writer thread commits reports until a new one is started,
        after a delay that doubles while restarted processes keep ending soon."""
        if time.monotonic() - self._process_started > PROCESS_STABLE:
            self._restart_delay = PROCESS_RESTART_INITIAL
        delay, self._restart_delay = self._restart_delay, min(self._restart_delay * 2, PROCESS_RESTART_MAX)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # opened outside an event loop (the CLI): the thread commits from now on
            log.error("outbox commit process ended; reports now commit in the writer thread", reason=reason)
            return
        log.error("outbox commit process ended; reports now commit in the writer thread", reason=reason,
                  restart_in=delay)
        self._restart = loop.call_later(delay, self._start_process)

    async def close(self) -> None:
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        if self._process is not None:
            await self._process.close()
            self._process = None
        if self._thread is None:
            return
        self._ops.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None
        if self._group is not None:
            self._group.conn.close()
            self._group = None

    # -- writing ----------------------------------------------------------------------------
    async def transact(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``operation`` in the writer thread's next group transaction; return once committed."""
        if self._thread is None:
            raise OutboxUnavailable("outbox is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ops.put((operation, loop, future))
        return await future

    async def commit(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """``transact`` for a picklable operation: it runs in the commit process while that lives."""
        # Should the process end before it answers, whether the operation committed is unknown: the
        # caller gets OutboxUnavailable (a report's retry is answered as a repeat), later ones the thread.
        if self._process is not None and self._process.accepting:
            try:
                return await self._process.run(operation)  # type: ignore[no-any-return]
            except NotHandedOver:
                pass  # it never got there: the writer thread runs it
        return await self.transact(operation)

    def _write_loop(self, group: GroupCommit) -> None:
        while True:
            first = self._ops.get()
            if first is _STOP:
                return
            batch: list[_Op] = [first]  # type: ignore[list-item]
            stop_after = False
            while len(batch) < self.max_batch:
                try:
                    item = self._ops.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop_after = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            self._run_batch(group, batch)
            if stop_after:
                return

    @staticmethod
    def _run_batch(group: GroupCommit, batch: list[_Op]) -> None:
        outcomes, problems = group.run([operation for operation, _loop, _future in batch])
        for problem in problems:
            _log_problem(problem)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_op, loop, future), (ok, value) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append((future, ok, value))
        for loop, results in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve_all, results)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

    # -- reports ------------------------------------------------------------------------
    async def commit_report(
        self,
        report: Report,
        raw: bytes | None = None,
        raw_content_type: str = "application/octet-stream",
        held: bool = False,
        hooks: Sequence[Operation] = (),
        closures: bool = False,
    ) -> Committed:
        """Durably store a report (and its raw original) unless its exact-duplicate key exists.

        ``hooks`` run in the same transaction, for state that must commit with the report. They go
        to the commit process, pickled, unless ``closures`` says one closes over this process's
        objects: then the report commits in the writer thread.
        """
        raw_row = None
        if raw is not None and report.raw is not None:
            raw_row = (report.raw.sha256, raw_content_type, raw)
        run = self.transact if closures else self.commit
        stored = report
        for _attempt in range(16):
            outgoing = Outgoing.of(stored)
            operation = InsertReport(_report_row(stored, outgoing, held), raw_row, tuple(hooks))
            try:
                existing = await run(operation)
            except TrackingCodeTaken:
                stored = stored.model_copy(update={"tracking_code": new_tracking_code()})
                continue
            if existing is not None:
                return Committed(existing[0], existing[1], True, None)
            return Committed(outgoing.id, stored.tracking_code, False, outgoing)
        raise OutboxUnavailable("no free tracking code after 16 draws")

    async def release(self, report: Report) -> Outgoing:
        """Replace a held report with its final version and make it publishable."""
        outgoing = Outgoing.of(report)

        def update(conn: sqlite3.Connection) -> Outgoing:
            conn.execute(
                "UPDATE reports SET payload=?, routing_key=?, state=? WHERE id=? AND state=?",
                (outgoing.payload, outgoing.routing_key, STATE_READY, report.id, STATE_HELD),
            )
            return outgoing

        return await self.transact(update)

    async def mark_published(self, ids: Iterable[str]) -> None:
        await self.commit(MarkPublished(tuple(ids), time.time()))

    async def record_failure(self, failures: Iterable[tuple[str, str]]) -> None:
        rows = [(error, report_id) for report_id, error in failures]

        def update(conn: sqlite3.Connection) -> None:
            conn.executemany("UPDATE reports SET attempts=attempts+1, last_error=? WHERE id=?", rows)

        await self.transact(update)

    async def get_value(self, key: str) -> str | None:
        return await asyncio.to_thread(self._read_value, key)

    def _read_value(self, key: str) -> str | None:
        with self.reader() as conn:
            row = conn.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def put_value(conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                     (key, value))

    # -- reading (any thread; WAL lets readers run beside the writer) --------------------------
    def reader(self) -> _Reader:
        return _Reader(self)

    def unpublished(self, limit: int, after_seq: int = 0) -> list[tuple[int, Outgoing]]:
        with self.reader() as conn:
            rows = conn.execute(UNPUBLISHED_ROWS, (after_seq, limit)).fetchall()
        return [(r[0], Outgoing(r[1], r[2], bytes(r[3]), r[4], r[5], r[6])) for r in rows]

    def status(self) -> OutboxStatus:
        with self.reader() as conn:
            total = conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0]
            rows = conn.execute(UNPUBLISHED_PER_CHANNEL).fetchall()
            held = conn.execute(HELD_COUNT).fetchone()[0]
        per_channel = {channel: count for channel, count, _oldest in rows}
        oldest_per_channel = {channel: oldest for channel, _count, oldest in rows}
        oldest = min(oldest_per_channel.values(), default=None)
        return OutboxStatus(total, sum(per_channel.values()), held, oldest, per_channel, oldest_per_channel)

    def writable(self) -> bool:
        """True when the writer runs and the database takes a write lock now (used by /readyz)."""
        if self._thread is None or not self._thread.is_alive():
            return False
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=2)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
            finally:
                conn.close()
            return True
        except sqlite3.Error:
            return False

    def raw_original(self, sha256: str) -> tuple[str, bytes] | None:
        with self.reader() as conn:
            row = conn.execute("SELECT content_type, data FROM raw_messages WHERE sha256=?", (sha256,)).fetchone()
        return None if row is None else (row[0], bytes(row[1]))


class _Reader:
    """A short-lived connection for one read (status, sweeps, the CLI)."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        self._conn = self._outbox._connect()
        return self._conn

    def __exit__(self, *_exc: object) -> None:
        if self._conn is not None:
            self._conn.close()


def _log_problem(problem: Problem) -> None:
    """What a group commit (in the writer thread or the commit process) has to tell the operator."""
    event, fields = problem
    log.error(event, **fields)


def _resolve_all(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in results:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

"""The outbox: a SQLite (WAL) database that is the gateway's commit point.

A report is accepted when its row is durably written here; only then does a channel get
its success answer. One writer thread owns the write connection and runs every queued
operation of a moment in one transaction (group commit), so many concurrent accepts share
one fsync. Rows an operation defers (the report's own, its raw original, a dedup entry)
go in with the whole batch's as one INSERT into a fan-out view whose triggers place each row
in its table; a batch of only those is that one statement, atomic without BEGIN or COMMIT.
If an operation raises, or a report turns out to be a repeat, the batch runs again with each
operation inside its own SAVEPOINT, so one failing operation does not take its batch-mates
down with it. Other modules (multipart SMS, IMAP checkpoints) keep
their durable state here too, through ``transact``, so it commits atomically with reports.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

import structlog

from gateway.ids import new_tracking_code
from schemas import Report

log = structlog.get_logger("outbox")
T = TypeVar("T")

# sqlite3 binds int, float and str as they are, but runs bytes and None through its adapter
# registry, and on a miss through two attribute lookups that format an AttributeError each:
# ~3,000 instructions a value, several a report in the writer's thread. Identity adapters make
# that one registry hit (callgrind loop: None 3.2k -> 1.1k, a 100-byte blob 4.2k -> 2.7k).
sqlite3.register_adapter(bytes, bytes)  # bytes(b) is b
sqlite3.register_adapter(type(None), cast(Callable[[None], None], {}.get))  # {}.get(None) is None: C, no frame

STATE_READY = 0  # waiting for the publisher
STATE_HELD = 1  # committed, but waiting for something (media fetch) before it may be published
STATE_PUBLISHED = 2

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


class OutboxUnavailable(Exception):
    """The outbox could not commit; the channel must answer with a retryable failure."""


class Outgoing(NamedTuple):
    """A committed report as the publisher needs it; handed over without re-reading the row.

    A NamedTuple: made once a report in the writer's thread, at a third of a frozen dataclass's cost.
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


_Op = tuple[Callable[[sqlite3.Connection], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]
_Outcomes = list[tuple[bool, Any]]  # per operation: (ran, its result) or (raised, its error)
_Failure = tuple[int, Exception]  # the operation that raised: its index in the batch, its error
_STOP = object()
_MAX_PARAMETERS = 30_000  # per statement; SQLite's own limit is 32,766 or more
_FANOUT_WIDTH = 12  # value columns of the fan-out view: the widest deferred row (reports: 11)


@dataclass(frozen=True, slots=True)
class RowInsert:
    """``INSERT OR IGNORE`` into one table, its rows gathered from a whole group commit (Outbox.defer).

    Every sqlite3 step hands the GIL to the event loop and back; one statement for a batch's rows
    (through the fan-out view, once its trigger exists) instead of several per report is what keeps
    the writer from throttling intake. ``verb="INSERT"`` makes a conflicting row fail the statement
    instead of being skipped.
    """

    table: str
    columns: tuple[str, ...]
    verb: str = "INSERT OR IGNORE"

    def __post_init__(self) -> None:
        if len(self.columns) > _FANOUT_WIDTH:
            raise ValueError(f"{self.table}: a deferred row has at most {_FANOUT_WIDTH} columns (the fan-out view's)")

    def statement(self, rows: int) -> str:
        values = "(" + ",".join("?" * len(self.columns)) + ")"
        return f"{self.verb} INTO {self.table} ({','.join(self.columns)}) VALUES " + ",".join([values] * rows)


RAW_MESSAGE = RowInsert("raw_messages", ("sha256", "content_type", "data"))
# Plain INSERT: a repeat's unique key (or a drawn tracking code already taken) fails the batch's
# report statement, and the batch runs again with one checked INSERT per report (_run_batch).
REPORT_ROW = RowInsert("reports", ("id", "tracking_code", "channel", "inbound_address", "message_id", "identity",
                                   "kind", "routing_key", "payload", "received_at", "state"), verb="INSERT")


def _report_row(report: Report, outgoing: Outgoing, held: bool) -> tuple[Any, ...]:
    """REPORT_ROW's values for ``report``, with what its Outgoing already holds."""
    source = report.source
    return (outgoing.id, report.tracking_code, outgoing.channel, source.inbound_address, source.message_id,
            report.reporter.identity, outgoing.kind, outgoing.routing_key, outgoing.payload, outgoing.received_at,
            STATE_HELD if held else STATE_READY)


class _WriterConnection(sqlite3.Connection):
    """The writer's connection. While ``lazy_begin`` is set, the first statement an operation runs
    opens the batch's transaction: a batch whose operations only defer rows then needs no BEGIN and
    no COMMIT, only its one fan-out INSERT (Outbox._insert_deferred)."""

    lazy_begin = False

    def begin(self) -> None:
        if not self.in_transaction:
            super().execute("BEGIN IMMEDIATE")

    def run(self, sql: str, parameters: Sequence[Any]) -> None:
        """``sql`` as is: outside a transaction, a transaction of its own."""
        super().execute(sql, parameters)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if self.lazy_begin:
            self.begin()
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        if self.lazy_begin:
            self.begin()
        return super().executemany(sql, parameters)


# Every deferred row of a group commit goes in through one INSERT into this view: a trigger per
# RowInsert, chosen by the row's tag, puts it into its table. One statement, whatever the tables.
_FANOUT_VIEW = "CREATE TEMP VIEW IF NOT EXISTS deferred_rows AS SELECT NULL AS tag, {} WHERE 0".format(
    ", ".join(f"NULL AS c{index}" for index in range(_FANOUT_WIDTH)))
# Padding is 0, not NULL: the triggers never read it, and sqlite3 binds an int as is where it runs a
# None through its adapter registry (see the adapters at the top).
_FANOUT_PADDING = [(0,) * (_FANOUT_WIDTH - width) for width in range(_FANOUT_WIDTH + 1)]


class Outbox:
    def __init__(self, path: Path, synchronous: str = "FULL", max_batch: int = 512) -> None:
        self.path = path
        self.synchronous = synchronous
        self.max_batch = max_batch
        self._ops: queue.SimpleQueue[_Op | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._writer: sqlite3.Connection | None = None
        # Writer thread only: rows deferred by the running operation, and by the batch's finished ones.
        self._op_rows: list[tuple[RowInsert, tuple[Any, ...]]] | None = None
        self._defer_reports = False  # set while a batch runs optimistically (_run_batch)
        self._batch_rows: list[tuple[RowInsert, tuple[Any, ...]]] = []
        self._fanout_tags: dict[RowInsert, int] = {}  # RowInserts with a fan-out trigger, and their tags
        self._fanout_wanted: set[RowInsert] = set()  # seen in a batch; their triggers come after its commit

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._connect(_WriterConnection)
        self._writer.executescript(SCHEMA)
        self._writer.execute(_FANOUT_VIEW)
        self._thread = threading.Thread(target=self._write_loop, name="outbox-writer", daemon=True)
        self._thread.start()

    def _connect(self, factory: type[sqlite3.Connection] = sqlite3.Connection) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30,
                               factory=factory)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    async def close(self) -> None:
        if self._thread is None:
            return
        self._ops.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- writing ----------------------------------------------------------------------------
    async def transact(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``operation`` in the writer's next group transaction; return once committed."""
        if self._thread is None:
            raise OutboxUnavailable("outbox is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ops.put((operation, loop, future))
        return await future

    def _write_loop(self) -> None:
        assert isinstance(self._writer, _WriterConnection)
        conn = self._writer
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
            self._run_batch(conn, batch)
            if stop_after:
                return

    def defer(self, insert: RowInsert, row: tuple[Any, ...]) -> None:
        """Inside an operation: insert ``row`` with the rest of this group commit's rows, before it commits.

        For rows nothing in the same batch reads back; they commit (or not) with the operation.
        """
        if self._op_rows is None:
            raise RuntimeError("Outbox.defer outside an outbox operation")
        self._op_rows.append((insert, row))

    def _run_batch(self, conn: _WriterConnection, batch: list[_Op]) -> None:
        outcomes: _Outcomes
        try:
            optimistic, failure = self._run_optimistic(conn, batch)
            if optimistic is None:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                optimistic = self._run_checked(conn, batch, failure)
                self._insert_deferred(conn)
            outcomes = optimistic
            if conn.in_transaction:  # else the batch was one fan-out INSERT, committed by itself
                conn.execute("COMMIT")
        except sqlite3.Error as error:
            log.error("outbox commit failed", error=str(error), batch=len(batch))
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            unavailable = OutboxUnavailable(f"outbox commit failed: {error}")
            outcomes = [(False, unavailable)] * len(batch)
        finally:
            self._op_rows, self._batch_rows = None, []
        if self._fanout_wanted:
            self._install_fanout(conn)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_op, loop, future), (ok, value) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append((future, ok, value))
        for loop, results in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve_all, results)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

    def _run_optimistic(self, conn: _WriterConnection, batch: list[_Op]) -> tuple[_Outcomes | None, _Failure | None]:
        """The usual batch: every report new, no operation failing. Its reports go in with the other
        deferred rows, so a batch costs a few sqlite steps, not one per report: when its operations
        only defer rows, a single statement and no transaction around it.

        Outcomes None if that did not hold, with the operation that raised if one did: the caller
        rolls back and runs the batch checked.
        """
        self._defer_reports = True
        conn.lazy_begin = True
        try:
            outcomes, failure = self._run_together(conn, batch)
            if failure is not None:
                return None, failure
            try:
                self._insert_deferred(conn)
            except sqlite3.IntegrityError:  # a repeat, or a tracking code already taken
                return None, None
            return outcomes, None
        finally:
            conn.lazy_begin = False
            self._defer_reports = False
            self._batch_rows = []

    def _run_checked(self, conn: sqlite3.Connection, batch: list[_Op], failure: _Failure | None) -> _Outcomes:
        """Each report's own INSERT decides whether it is a repeat. An operation that raised keeps its
        error (it is not run again), and the rest run again, each in a SAVEPOINT of its own, so a
        failure stays its own. (Operations run again repeat their Python side effects, a metric say.)"""
        if failure is None:
            outcomes, failure = self._run_together(conn, batch)
            if failure is None:
                return outcomes
            conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
        return self._run_isolated(conn, batch, failure)

    def _run_together(self, conn: sqlite3.Connection, batch: list[_Op]) -> tuple[_Outcomes, _Failure | None]:
        """Every operation straight into the transaction (no SAVEPOINT steps), up to the first that raises."""
        outcomes: _Outcomes = []
        for index, (operation, _loop, _future) in enumerate(batch):
            self._op_rows = []
            try:
                outcomes.append((True, operation(conn)))
            except Exception as error:
                self._batch_rows = []
                return outcomes, (index, error)
            self._batch_rows += self._op_rows
        return outcomes, None

    def _run_isolated(self, conn: sqlite3.Connection, batch: list[_Op], failed: _Failure) -> _Outcomes:
        outcomes: _Outcomes = []
        for index, (operation, _loop, _future) in enumerate(batch):
            if index == failed[0]:
                outcomes.append((False, failed[1]))
                continue
            self._op_rows = []
            conn.execute("SAVEPOINT op")
            try:
                outcomes.append((True, operation(conn)))
                conn.execute("RELEASE op")
                self._batch_rows += self._op_rows
            except Exception as error:  # one bad operation must not fail its batch-mates
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                outcomes.append((False, error))
        return outcomes

    def _insert_deferred(self, conn: _WriterConnection) -> None:
        statements = self._deferred_statements()
        if len(statements) > 1:
            conn.begin()
        for sql, parameters in statements:
            conn.run(sql, parameters)

    def _deferred_statements(self) -> list[tuple[str, list[Any]]]:
        """The batch's deferred rows as INSERTs: through the fan-out view when every RowInsert among
        them has its trigger, else one per table (and the missing triggers follow the commit)."""
        tags = self._fanout_tags
        statements: list[tuple[str, list[Any]]] = []
        rows = self._batch_rows
        if all(insert in tags for insert, _row in rows):
            for chunk in _slices(rows, _MAX_PARAMETERS // (_FANOUT_WIDTH + 1)):
                values: list[Any] = []
                for insert, row in chunk:
                    values.append(tags[insert])
                    values += row
                    values += _FANOUT_PADDING[len(row)]
                statements.append((_fanout_statement(len(chunk)), values))
            return statements
        by_insert: dict[RowInsert, list[tuple[Any, ...]]] = {}
        for insert, row in rows:
            by_insert.setdefault(insert, []).append(row)
        self._fanout_wanted.update(insert for insert in by_insert if insert not in tags)
        for insert, table_rows in by_insert.items():
            for chunk in _slices(table_rows, max(1, _MAX_PARAMETERS // len(insert.columns))):
                statements.append((insert.statement(len(chunk)), [value for row in chunk for value in row]))
        return statements

    def _install_fanout(self, conn: _WriterConnection) -> None:
        """Fan-out triggers for the RowInserts the last batch used without one (outside any transaction)."""
        for insert in self._fanout_wanted - self._fanout_tags.keys():
            tag = len(self._fanout_tags)
            values = ",".join(f"NEW.c{index}" for index in range(len(insert.columns)))
            try:
                conn.execute(
                    f"CREATE TEMP TRIGGER deferred_{tag} INSTEAD OF INSERT ON deferred_rows WHEN NEW.tag = {tag}"
                    f" BEGIN {insert.verb} INTO {insert.table} ({','.join(insert.columns)}) VALUES ({values}); END"
                )
            except sqlite3.Error as error:  # its rows keep their own INSERT; nothing is lost but a step
                log.error("outbox fan-out trigger not created", table=insert.table, error=str(error))
                continue
            self._fanout_tags[insert] = tag
        self._fanout_wanted.clear()

    # -- reports ------------------------------------------------------------------------
    async def commit_report(
        self,
        report: Report,
        raw: bytes | None = None,
        raw_content_type: str = "application/octet-stream",
        held: bool = False,
        extra: Callable[[sqlite3.Connection, Report], None] | None = None,
    ) -> Committed:
        """Durably store a report (and its raw original) unless its exact-duplicate key exists.

        ``extra`` runs in the same transaction, for state that must commit with the report.
        """

        def insert(conn: sqlite3.Connection) -> Committed:
            stored = report
            outgoing = Outgoing.of(stored)
            if self._defer_reports:
                self.defer(REPORT_ROW, _report_row(stored, outgoing, held))
            else:
                stored, outgoing, repeat = self._insert_checked(conn, stored, outgoing, held)
                if repeat is not None:
                    return repeat
            if raw is not None and stored.raw is not None:
                self.defer(RAW_MESSAGE, (stored.raw.sha256, raw_content_type, raw))
            if extra is not None:
                extra(conn, stored)
            return Committed(outgoing.id, stored.tracking_code, False, outgoing)

        return await self.transact(insert)

    @staticmethod
    def _insert_checked(
        conn: sqlite3.Connection, report: Report, outgoing: Outgoing, held: bool
    ) -> tuple[Report, Outgoing, Committed | None]:
        """One INSERT; on a conflict, the original of an exact repeat, or a fresh tracking code."""
        stored = report
        for _attempt in range(16):
            try:
                conn.execute(REPORT_ROW.statement(1), _report_row(stored, outgoing, held))
                return stored, outgoing, None
            except sqlite3.IntegrityError:
                existing = conn.execute(
                    "SELECT id, tracking_code FROM reports WHERE channel=? AND inbound_address=? AND message_id=?",
                    (outgoing.channel, report.source.inbound_address, report.source.message_id),
                ).fetchone()
                if existing is not None:
                    return stored, outgoing, Committed(existing[0], existing[1], True, None)
                # Otherwise the random tracking code was taken: draw another.
                stored = stored.model_copy(update={"tracking_code": new_tracking_code()})
                outgoing = Outgoing.of(stored)
        raise OutboxUnavailable("no free tracking code after 16 draws")

    async def release(self, report: Report) -> Outgoing:
        """Replace a held report with its final version and make it publishable."""

        def update(conn: sqlite3.Connection) -> Outgoing:
            outgoing = Outgoing.of(report)
            conn.execute(
                "UPDATE reports SET payload=?, routing_key=?, state=? WHERE id=? AND state=?",
                (outgoing.payload, outgoing.routing_key, STATE_READY, report.id, STATE_HELD),
            )
            return outgoing

        return await self.transact(update)

    async def mark_published(self, ids: Iterable[str]) -> None:
        chosen = list(ids)
        now = time.time()

        def update(conn: sqlite3.Connection) -> None:
            # One statement per chunk, not one step per id (executemany): see RowInsert.
            for chunk in _slices(chosen, _MAX_PARAMETERS):
                conn.execute(
                    "UPDATE reports SET state=2, published_at=?, last_error=NULL"
                    f" WHERE state=0 AND id IN ({','.join('?' * len(chunk))})",
                    (now, *chunk),
                )

        await self.transact(update)

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
            rows = conn.execute(
                "SELECT seq, id, routing_key, payload, channel, kind, received_at FROM reports"
                " WHERE state = 0 AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [(r[0], Outgoing(r[1], r[2], bytes(r[3]), r[4], r[5], r[6])) for r in rows]

    def status(self) -> OutboxStatus:
        with self.reader() as conn:
            total = conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0]
            rows = conn.execute(
                "SELECT channel, COUNT(*), MIN(received_at) FROM reports WHERE state != 2 GROUP BY channel"
            ).fetchall()
            held = conn.execute("SELECT COUNT(*) FROM reports WHERE state = 1").fetchone()[0]
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


def _slices(items: list[T], size: int) -> Iterator[list[T]]:
    """``items`` in consecutive slices of at most ``size``: one statement each, within SQLite's parameter limit."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


@cache
def _fanout_statement(rows: int) -> str:
    values = "(" + ",".join("?" * (_FANOUT_WIDTH + 1)) + ")"
    return "INSERT INTO deferred_rows VALUES " + ",".join([values] * rows)


def _resolve_all(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in results:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

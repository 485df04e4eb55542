"""Group commit on the outbox's write connection: the machinery and the report operations.

Operations are functions of the write connection, run by a GroupCommit in batches: one
transaction, and for the usual batch a few statements, for a moment's worth of them. Rows an
operation defers (a report's own, its raw original, a dedup entry) go in with the whole batch's
through a fan-out view whose triggers place each row in its table, in INSERTs of power-of-two row
counts; a batch of only those whose count is a power of two is one statement, atomic without BEGIN
or COMMIT. If an operation raises, or a report turns out to be a repeat, the batch runs again with
each operation inside its own SAVEPOINT, so one failing operation does not take its batch-mates
down with it.

The same batches run in the outbox's writer thread and in the commit process
(gateway/commit_process.py). This module imports nothing heavy, so that process starts in a
tenth of a second; operations sent there are picklable: instances of module-level classes or
partials of module-level functions, carrying plain values.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar, cast

T = TypeVar("T")

# sqlite3 binds int, float and str as they are, but runs bytes and None through its adapter
# registry, and on a miss through two attribute lookups that format an AttributeError each:
# ~3,000 instructions a value, several a report wherever reports commit. Identity adapters make
# that one registry hit (callgrind loop: None 3.2k -> 1.1k, a 100-byte blob 4.2k -> 2.7k).
sqlite3.register_adapter(bytes, bytes)  # bytes(b) is b
sqlite3.register_adapter(type(None), cast(Callable[[None], None], {}.get))  # {}.get(None) is None: C, no frame

STATE_READY = 0  # waiting for the publisher
STATE_HELD = 1  # committed, but waiting for something (media fetch) before it may be published
STATE_PUBLISHED = 2

Operation = Callable[[sqlite3.Connection], Any]
Outcomes = list[tuple[bool, Any]]  # per operation: (ran, its result) or (raised, its error)
# What a batch has to tell the operator: a log event and its fields. This module does not log:
# in the commit process there is no configured logger, so the gateway logs them (for both).
Problem = tuple[str, dict[str, Any]]
_Failure = tuple[int, Exception]  # the operation that raised: its index in the batch, its error
MAX_PARAMETERS = 30_000  # per statement; SQLite's own limit is 32,766 or more
_FANOUT_WIDTH = 12  # value columns of the fan-out view: the widest deferred row (reports: 11)


class OutboxUnavailable(Exception):
    """The outbox could not commit; the channel must answer with a retryable failure."""


class NotHandedOver(OutboxUnavailable):
    """The operation never reached the commit process (it had ended): the writer thread may run it."""


class TrackingCodeTaken(Exception):
    """The report's randomly drawn tracking code is already another report's: draw again."""


@dataclass(frozen=True, slots=True)
class RowInsert:
    """``INSERT OR IGNORE`` into one table, its rows gathered from a whole group commit (defer).

    A few statements for a batch's rows (through the fan-out view, once its trigger exists) instead
    of several per report: far fewer sqlite steps, and in the writer thread each step is a hand-off
    of the GIL to the event loop and back. ``verb="INSERT"`` makes a conflicting row fail the
    statement instead of being skipped.
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
# report statement, and the batch runs again with one checked INSERT per report (GroupCommit.run).
REPORT_ROW = RowInsert("reports", ("id", "tracking_code", "channel", "inbound_address", "message_id", "identity",
                                   "kind", "routing_key", "payload", "received_at", "state"), verb="INSERT")

# Every deferred row of a group commit goes in through one INSERT into this view: a trigger per
# RowInsert, chosen by the row's tag, puts it into its table. One statement, whatever the tables.
_FANOUT_VIEW = "CREATE TEMP VIEW IF NOT EXISTS deferred_rows AS SELECT NULL AS tag, {} WHERE 0".format(
    ", ".join(f"NULL AS c{index}" for index in range(_FANOUT_WIDTH)))
# Padding is 0, not NULL: the triggers never read it, and sqlite3 binds an int as is where it runs a
# None through its adapter registry (see the adapters at the top).
_FANOUT_PADDING = [(0,) * (_FANOUT_WIDTH - width) for width in range(_FANOUT_WIDTH + 1)]


def connect(path: str, synchronous: str, factory: type[sqlite3.Connection] = sqlite3.Connection) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30, factory=factory)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


class WriterConnection(sqlite3.Connection):
    """A write connection. While ``lazy_begin`` is set, the first statement an operation runs opens
    the batch's transaction: a batch whose operations only defer rows, as one fan-out INSERT, then
    needs no BEGIN and no COMMIT (GroupCommit._insert_deferred)."""

    lazy_begin = False
    group: GroupCommit

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

    def defer(self, insert: RowInsert, row: tuple[Any, ...]) -> None:
        """Inside an operation: insert ``row`` with the rest of this group commit's rows, before it commits.

        For rows nothing in the same batch reads back; they commit (or not) with the operation.
        """
        self.group.defer(insert, row)


def defer(conn: sqlite3.Connection, insert: RowInsert, row: tuple[Any, ...]) -> None:
    """``conn.defer`` for an operation, which is typed against any sqlite3 connection."""
    if not isinstance(conn, WriterConnection):
        raise RuntimeError("defer needs the outbox's write connection")
    conn.defer(insert, row)


class GroupCommit:
    """Runs batches of operations on one write connection, each batch one commit."""

    def __init__(self, conn: WriterConnection) -> None:
        self.conn = conn
        conn.group = self
        conn.execute(_FANOUT_VIEW)
        # Rows deferred by the running operation, and by the batch's finished ones.
        self._op_rows: list[tuple[RowInsert, tuple[Any, ...]]] | None = None
        self.defer_reports = False  # set while a batch runs optimistically (run)
        self._batch_rows: list[tuple[RowInsert, tuple[Any, ...]]] = []
        self._fanout_tags: dict[RowInsert, int] = {}  # RowInserts with a fan-out trigger, and their tags
        self._fanout_wanted: set[RowInsert] = set()  # seen in a batch; their triggers come after its commit

    def defer(self, insert: RowInsert, row: tuple[Any, ...]) -> None:
        if self._op_rows is None:
            raise RuntimeError("defer outside an outbox operation")
        self._op_rows.append((insert, row))

    def run(self, batch: Sequence[Operation]) -> tuple[Outcomes, list[Problem]]:
        """Run ``batch`` as one commit: each operation's outcome, and what the operator must hear of."""
        conn = self.conn
        problems: list[Problem] = []
        outcomes: Outcomes
        try:
            optimistic, failure = self._run_optimistic(batch)
            if optimistic is None:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                optimistic = self._run_checked(batch, failure)
                self._insert_deferred()
            outcomes = optimistic
            if conn.in_transaction:  # else the batch was one fan-out INSERT, committed by itself
                conn.execute("COMMIT")
        except sqlite3.Error as error:
            problems.append(("outbox commit failed", {"error": str(error), "batch": len(batch)}))
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
            problems += self._install_fanout()
        return outcomes, problems

    def _run_optimistic(self, batch: Sequence[Operation]) -> tuple[Outcomes | None, _Failure | None]:
        """The usual batch: every report new, no operation failing. Its reports go in with the other
        deferred rows, so a batch costs a few sqlite steps, not one per report: when its operations
        only defer rows, a single statement and no transaction around it.

        Outcomes None if that did not hold, with the operation that raised if one did: the caller
        rolls back and runs the batch checked.
        """
        self.defer_reports = True
        self.conn.lazy_begin = True
        try:
            outcomes, failure = self._run_together(batch)
            if failure is not None:
                return None, failure
            try:
                self._insert_deferred()
            except sqlite3.IntegrityError:  # a repeat, or a tracking code already taken
                return None, None
            return outcomes, None
        finally:
            self.conn.lazy_begin = False
            self.defer_reports = False
            self._batch_rows = []

    def _run_checked(self, batch: Sequence[Operation], failure: _Failure | None) -> Outcomes:
        """Each report's own INSERT decides whether it is a repeat. An operation that raised keeps its
        error (it is not run again), and the rest run again, each in a SAVEPOINT of its own, so a
        failure stays its own. (Operations run again repeat their Python side effects, a metric say.)"""
        if failure is None:
            outcomes, failure = self._run_together(batch)
            if failure is None:
                return outcomes
            self.conn.execute("ROLLBACK")
            self.conn.execute("BEGIN IMMEDIATE")
        return self._run_isolated(batch, failure)

    def _run_together(self, batch: Sequence[Operation]) -> tuple[Outcomes, _Failure | None]:
        """Every operation straight into the transaction (no SAVEPOINT steps), up to the first that raises."""
        outcomes: Outcomes = []
        for index, operation in enumerate(batch):
            self._op_rows = []
            try:
                outcomes.append((True, operation(self.conn)))
            except Exception as error:
                self._batch_rows = []
                return outcomes, (index, error)
            self._batch_rows += self._op_rows
        return outcomes, None

    def _run_isolated(self, batch: Sequence[Operation], failed: _Failure) -> Outcomes:
        conn = self.conn
        outcomes: Outcomes = []
        for index, operation in enumerate(batch):
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

    def _insert_deferred(self) -> None:
        statements = self._deferred_statements()
        if len(statements) > 1:
            self.conn.begin()
        for sql, parameters in statements:
            self.conn.run(sql, parameters)

    def _deferred_statements(self) -> list[tuple[str, list[Any]]]:
        """The batch's deferred rows as INSERTs: through the fan-out view when every RowInsert among
        them has its trigger, else one per table (and the missing triggers follow the commit)."""
        tags = self._fanout_tags
        statements: list[tuple[str, list[Any]]] = []
        rows = self._batch_rows
        if all(insert in tags for insert, _row in rows):
            for chunk in _fanout_chunks(rows):
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
            for chunk in slices(table_rows, max(1, MAX_PARAMETERS // len(insert.columns))):
                statements.append((insert.statement(len(chunk)), [value for row in chunk for value in row]))
        return statements

    def _install_fanout(self) -> list[Problem]:
        """Fan-out triggers for the RowInserts the last batch used without one (outside any transaction)."""
        problems: list[Problem] = []
        for insert in self._fanout_wanted - self._fanout_tags.keys():
            tag = len(self._fanout_tags)
            values = ",".join(f"NEW.c{index}" for index in range(len(insert.columns)))
            try:
                self.conn.execute(
                    f"CREATE TEMP TRIGGER deferred_{tag} INSTEAD OF INSERT ON deferred_rows WHEN NEW.tag = {tag}"
                    f" BEGIN {insert.verb} INTO {insert.table} ({','.join(insert.columns)}) VALUES ({values}); END"
                )
            except sqlite3.Error as error:  # its rows keep their own INSERT; nothing is lost but a step
                problems.append(("outbox fan-out trigger not created", {"table": insert.table, "error": str(error)}))
                continue
            self._fanout_tags[insert] = tag
        self._fanout_wanted.clear()
        return problems


# -- the report operations (picklable: they run in the commit process) -------------------------
@dataclass(frozen=True, slots=True)
class InsertReport:
    """Store a report's row (REPORT_ROW's values), its raw original, and what must commit with it.

    Returns None when stored, or the original's (id, tracking code) for an exact repeat, whose
    hooks then do not run. Raises TrackingCodeTaken: the caller draws another code.
    """

    row: tuple[Any, ...]
    raw_row: tuple[str, str, bytes] | None = None
    hooks: tuple[Operation, ...] = ()

    def __reduce__(self) -> tuple[type[InsertReport], tuple[Any, ...]]:
        # Pickled for the commit process: a third of a slots dataclass's default cost.
        return InsertReport, (self.row, self.raw_row, self.hooks)

    def __call__(self, conn: sqlite3.Connection) -> tuple[str, str] | None:
        assert isinstance(conn, WriterConnection)
        if conn.group.defer_reports:
            conn.defer(REPORT_ROW, self.row)
        else:
            try:
                conn.execute(REPORT_ROW.statement(1), self.row)
            except sqlite3.IntegrityError:
                existing = conn.execute(
                    "SELECT id, tracking_code FROM reports WHERE channel=? AND inbound_address=? AND message_id=?",
                    self.row[2:5],
                ).fetchone()
                if existing is not None:
                    return existing[0], existing[1]
                raise TrackingCodeTaken(self.row[1]) from None
        if self.raw_row is not None:
            conn.defer(RAW_MESSAGE, self.raw_row)
        for hook in self.hooks:
            hook(conn)
        return None


@dataclass(frozen=True, slots=True)
class MarkPublished:
    """Confirmed by the broker: these reports leave the outbox."""

    ids: tuple[str, ...]
    at: float

    def __reduce__(self) -> tuple[type[MarkPublished], tuple[Any, ...]]:
        # Pickled for the commit process: a third of a slots dataclass's default cost.
        return MarkPublished, (self.ids, self.at)

    def __call__(self, conn: sqlite3.Connection) -> None:
        # One statement per chunk, not one step per id (executemany): see RowInsert.
        for chunk in slices(list(self.ids), MAX_PARAMETERS):
            conn.execute(
                "UPDATE reports SET state=2, published_at=?, last_error=NULL"
                f" WHERE state=0 AND id IN ({','.join('?' * len(chunk))})",
                (self.at, *chunk),
            )


def slices(items: list[T], size: int) -> Iterator[list[T]]:
    """``items`` in consecutive slices of at most ``size``: one statement each, within SQLite's parameter limit."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


_FANOUT_MAX_ROWS = 1 << ((MAX_PARAMETERS // (_FANOUT_WIDTH + 1)).bit_length() - 1)


def _fanout_chunks(rows: list[T]) -> Iterator[list[T]]:
    """``rows`` in chunks whose sizes are powers of two, largest first (13 -> 8, 4, 1).

    Each size is its own statement text, prepared once and kept in the connection's statement
    cache. Sizes as they come (1 to 512 rows) filled that cache with up to 128 prepared statements
    of up to ~6,000 parameters: megabytes of the commit process's memory, for one step fewer.
    """
    start = 0
    size = _FANOUT_MAX_ROWS
    while start < len(rows):
        while size > len(rows) - start:
            size >>= 1
        yield rows[start:start + size]
        start += size


@cache
def _fanout_statement(rows: int) -> str:
    values = "(" + ",".join("?" * (_FANOUT_WIDTH + 1)) + ")"
    return "INSERT INTO deferred_rows VALUES " + ",".join([values] * rows)

"""The acknowledgement rows in the outbox database: written after the report, updated by the sender.

A stored report is the durable promise of its acknowledgement: the reports table's ``seq`` past
the cursor (kv ``acks.cursor``) is what still needs a row here. Rows are written in quiet moments
(AckService), so intake does no acknowledgement work at all.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from gateway.outbox import Outbox

PENDING, SENT, FAILED, SKIPPED = 0, 1, 2, 3
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))  # built once: this runs for every report

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS acks (
        report_id TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        provider TEXT NOT NULL,
        recipient TEXT,
        inputs TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        state INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        created_at REAL NOT NULL,
        sent_at REAL,
        provider_ref TEXT,
        last_error TEXT
    )""",
    f"CREATE INDEX IF NOT EXISTS acks_due ON acks (next_attempt_at) WHERE state = {PENDING}",
    "CREATE TABLE IF NOT EXISTS ack_email_replies (address TEXT PRIMARY KEY, last_at REAL NOT NULL)",
)


def create_schema(conn: sqlite3.Connection) -> None:
    # Statement by statement: executescript would COMMIT the report transaction this may run in.
    for statement in SCHEMA:
        conn.execute(statement)


@dataclass(frozen=True, slots=True)
class AckRow:
    report_id: str
    channel: str
    provider: str
    inputs: dict[str, Any]
    idempotency_key: str
    attempts: int
    due_at: float  # when it fell due (the first attempt: when the report was committed)


# Not through Outbox.defer: that would give the acks table a fan-out trigger, which every row intake
# defers would then pass through too (a trigger program per row and table), for rows written only here.
INSERT_SQL = ("INSERT OR IGNORE INTO acks (report_id, channel, provider, recipient, inputs, idempotency_key, state,"
              " next_attempt_at, created_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


CURSOR_KEY = "acks.cursor"  # the last reports.seq that has been given its acknowledgement row
ENABLED_KEY = "acks.enabled"  # "1" when the last run acknowledged reports, "0" when it ran with acks off
NEW_REPORTS_SQL = ("SELECT seq, CASE WHEN channel = 'web' THEN NULL ELSE payload END FROM reports"
                   " WHERE seq > ? ORDER BY seq LIMIT ?")
WAITING_SQL = "SELECT channel, COUNT(*) FROM reports WHERE seq > ? AND channel != 'web' GROUP BY channel"


def read_cursor(conn: sqlite3.Connection) -> tuple[int | None, str | None]:
    """The cursor (None before the first enabled run) and how the last run was configured."""
    values = dict(conn.execute("SELECT key, value FROM kv WHERE key IN (?, ?)", (CURSOR_KEY, ENABLED_KEY)))
    cursor = values.get(CURSOR_KEY)
    return (None if cursor is None else int(cursor)), values.get(ENABLED_KEY)


def write_cursor(conn: sqlite3.Connection, seq: int) -> None:
    Outbox.put_value(conn, CURSOR_KEY, str(seq))


def mark_run(conn: sqlite3.Connection, *, enabled: bool) -> int | None:
    """Before intake opens; the cursor this run starts from (None with acknowledgements off).

    A run with them on starts its cursor at the reports already stored when there is none yet or
    the last run had them off: reports accepted while they were switched off are not answered days
    later."""
    cursor, last_run = read_cursor(conn)
    Outbox.put_value(conn, ENABLED_KEY, "1" if enabled else "0")
    if not enabled:
        return None
    if cursor is None or last_run != "1":
        cursor = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM reports").fetchone()[0])
        write_cursor(conn, cursor)
    return cursor


def new_reports(conn: sqlite3.Connection, after: int, limit: int) -> list[tuple[int, bytes | None]]:
    """Reports stored after ``after`` (seq, payload; no payload for web reports, which need no message)."""
    return conn.execute(NEW_REPORTS_SQL, (after, limit)).fetchall()


def original_headers(conn: sqlite3.Connection, sha256: str, limit: int = 65536) -> bytes | None:
    """The start of a report's raw original, where a message's headers are."""
    row = conn.execute("SELECT substr(data, 1, ?) FROM raw_messages WHERE sha256=?", (limit, sha256)).fetchone()
    return None if row is None else bytes(row[0])


def row(
    *,
    report_id: str,
    channel: str,
    provider: str,
    recipient: str | None,
    inputs: dict[str, Any],
    state: int,
    due_at: float,
    reason: str | None = None,
) -> tuple[Any, ...]:
    """An acknowledgement row's values (INSERT_SQL), first due at ``due_at``."""
    return (report_id, channel, provider, recipient, _COMPACT_JSON.encode(inputs), f"ack-{report_id}", state, due_at,
            due_at, reason)


def insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Rows for reports that have none yet (a report's row is written once, whatever happens after)."""
    conn.executemany(INSERT_SQL, rows)


def remember_reply(conn: sqlite3.Connection, address: str, interval: float) -> bool:
    """Claim the right to auto-reply to ``address`` now; False if it was used within ``interval`` seconds."""
    now = time.time()
    last = conn.execute("SELECT last_at FROM ack_email_replies WHERE address=?", (address,)).fetchone()
    if last is not None and now - float(last[0]) < interval:
        return False
    conn.execute("INSERT INTO ack_email_replies (address, last_at) VALUES (?, ?)"
                 " ON CONFLICT(address) DO UPDATE SET last_at=excluded.last_at", (address, now))
    return True


# Reads of pending rows stay on the partial index acks_due (the state is a literal, as in the index),
# so a scan costs the backlog, not the years of sent rows beside it; tests check the plans.
DUE_SQL = (f"SELECT report_id, channel, provider, inputs, idempotency_key, attempts, next_attempt_at FROM acks"
           f" WHERE state={PENDING} AND next_attempt_at<=? ORDER BY next_attempt_at LIMIT ?")
NEXT_DUE_SQL = f"SELECT MIN(next_attempt_at) FROM acks WHERE state={PENDING} AND next_attempt_at>?"
PENDING_SQL = f"SELECT channel, COUNT(*) FROM acks WHERE state={PENDING} GROUP BY channel"


def due(outbox: Outbox, now: float, limit: int, exclude: frozenset[str]) -> tuple[list[AckRow], float | None]:
    """Pending rows whose time has come (oldest first), and when the next later one falls due."""
    with outbox.reader() as conn:
        rows = conn.execute(DUE_SQL, (now, limit + len(exclude))).fetchall()
        later = conn.execute(NEXT_DUE_SQL, (now,)).fetchone()[0]
    ready = [
        AckRow(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6]) for r in rows if r[0] not in exclude
    ]
    return ready[:limit], later


def pending_per_channel(outbox: Outbox) -> dict[str, int]:
    """Acknowledgements not sent yet: pending rows, and stored reports whose row is still to be written."""
    try:
        with outbox.reader() as conn:
            pending = dict(conn.execute(PENDING_SQL).fetchall())
            cursor, _ = read_cursor(conn)
            for channel, waiting in conn.execute(WAITING_SQL, (cursor or 0,)).fetchall():
                pending[channel] = pending.get(channel, 0) + waiting
            return pending
    except sqlite3.OperationalError:  # no acknowledgement written yet by this database
        return {}


def mark_sent(conn: sqlite3.Connection, report_id: str, provider_ref: str | None) -> None:
    conn.execute("UPDATE acks SET state=?, attempts=attempts+1, sent_at=?, provider_ref=?, last_error=NULL"
                 " WHERE report_id=? AND state=?", (SENT, time.time(), provider_ref, report_id, PENDING))


def mark_retry(conn: sqlite3.Connection, report_id: str, error: str, next_attempt_at: float) -> None:
    conn.execute("UPDATE acks SET attempts=attempts+1, last_error=?, next_attempt_at=? WHERE report_id=? AND state=?",
                 (error, next_attempt_at, report_id, PENDING))


def mark_failed(conn: sqlite3.Connection, report_id: str, error: str) -> None:
    conn.execute("UPDATE acks SET state=?, attempts=attempts+1, last_error=? WHERE report_id=? AND state=?",
                 (FAILED, error, report_id, PENDING))

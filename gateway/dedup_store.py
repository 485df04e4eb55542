"""What a report's dedup check leaves in the store: its entry, and which handles are one person.

Written in the report's own transaction by RecordEntry, a commit hook that carries plain values
so that it runs in the commit process (gateway/commit_process.py), which imports only this.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from gateway.commit import RowInsert, defer

PRUNE_BATCH = 512

DEDUP_ENTRY = RowInsert("dedup_entries", ("report_id", "identity", "seen_at", "cluster", "digest", "raw_len", "text",
                                          "lsh"))


@dataclass(frozen=True, slots=True)
class RecordEntry:
    """Commit hook: DEDUP_ENTRY's row, one person for the handles when there are several, and now
    and then a prune of expired entries."""

    entry: tuple[str, str | None, float, str, str, int, str, bytes]
    handles: tuple[str, ...]
    prune_before: float | None = None

    def __reduce__(self) -> tuple[type[RecordEntry], tuple[Any, ...]]:
        # Pickled for the commit process: a third of a slots dataclass's default cost.
        return RecordEntry, (self.entry, self.handles, self.prune_before)

    def __call__(self, conn: sqlite3.Connection) -> None:
        defer(conn, DEDUP_ENTRY, self.entry)
        # One handle needs no row: a handle without one is a person of its own. Most reports come
        # from a single handle, and its row cost two random b-tree leaves a report to write.
        if len(self.handles) > 1:
            link_identities(conn, self.handles)
        if self.prune_before is not None:
            conn.execute(
                "DELETE FROM dedup_entries WHERE seq IN (SELECT seq FROM dedup_entries ORDER BY seq LIMIT ?)"
                " AND seen_at < ?",
                (PRUNE_BATCH, self.prune_before),
            )


def link_identities(conn: sqlite3.Connection, handles: tuple[str, ...]) -> None:
    """One person for all handles of one report: merge the persons they belonged to so far."""
    if not handles:
        return
    marks = ",".join("?" * len(handles))
    persons = sorted({row[0] for row in conn.execute(f"SELECT person FROM dedup_alias WHERE alias IN ({marks})",
                                                     handles)})
    person = persons[0] if persons else handles[0]
    for other in persons[1:]:
        conn.execute("UPDATE dedup_alias SET person=? WHERE person=?", (person, other))
    conn.executemany(
        "INSERT INTO dedup_alias (alias, person) VALUES (?, ?) ON CONFLICT(alias) DO UPDATE SET person=excluded.person",
        [(handle, person) for handle in handles],
    )

"""Multipart (concatenated) SMS: parts stored durably as they come, one report when complete or timed out.

State lives in the outbox database (two tables), so it commits with the reports and survives a
restart. A group is the open set of parts of one (provider, inbound address, sender, ref, total).
The part that completes a group is stored in the same transaction as the assembled report, and that
transaction re-checks the group, so a part arriving while a timed-out group is being published is
never swallowed: the check fails, nothing commits, and the part is placed again (in a new group).
Closed groups keep their parts' ids for RETENTION so a provider's late retry stays a repeat.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from gateway.ids import new_report_id
from gateway.outbox import Outbox, OutboxUnavailable
from gateway.pipeline import Accepted, CommitHook, Intake
from gateway.tasks import cancel_and_wait
from schemas import Channel, RawMessage, Sender

log = structlog.get_logger("sms.multipart")

RETENTION = 48 * 3600.0  # Vonage retries for 24 h; a part id is remembered twice as long
RETRY_DELAY = 5.0  # a timed-out group whose publish failed (outbox unavailable) is tried again
PLACE_ATTEMPTS = 5
RAW_CONTENT_TYPE = "application/vnd.lapor.sms-parts+json"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sms_concat_groups (
        group_id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        inbound_address TEXT NOT NULL,
        sender TEXT NOT NULL,
        ref TEXT NOT NULL,
        total INTEGER NOT NULL,
        opened_at REAL NOT NULL,
        deadline REAL NOT NULL,
        report_id TEXT,
        closed_at REAL
    )""",
    """CREATE UNIQUE INDEX IF NOT EXISTS sms_concat_groups_open
        ON sms_concat_groups (provider, inbound_address, sender, ref, total) WHERE closed_at IS NULL""",
    "CREATE INDEX IF NOT EXISTS sms_concat_groups_closed ON sms_concat_groups (closed_at)",
    """CREATE TABLE IF NOT EXISTS sms_concat_parts (
        provider TEXT NOT NULL,
        inbound_address TEXT NOT NULL,
        part_id TEXT NOT NULL,
        group_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        text TEXT NOT NULL,
        received_at REAL NOT NULL,
        raw BLOB NOT NULL,
        raw_content_type TEXT NOT NULL,
        PRIMARY KEY (provider, inbound_address, part_id)
    )""",
    "CREATE INDEX IF NOT EXISTS sms_concat_parts_group ON sms_concat_parts (group_id, number)",
)


@dataclass(frozen=True, slots=True)
class Part:
    provider: str
    inbound_address: str
    sender: str
    ref: str
    total: int
    number: int
    # The provider's message id of this part. Without one, a part is a repeat only while its group is
    # open (same number): remembering "sender/ref/number" after the group closed would swallow the next
    # message that happens to reuse the ref (refs are 8-bit, often random), and losing it is worse
    # than publishing a retried fragment twice.
    part_id: str | None
    text: str
    received_at: datetime
    raw: bytes
    raw_content_type: str


@dataclass(frozen=True, slots=True)
class StoredPart:
    part_id: str
    number: int
    text: str
    received_at: float
    raw: bytes
    raw_content_type: str


@dataclass(frozen=True, slots=True)
class Group:
    group_id: str
    provider: str
    inbound_address: str
    sender: str
    total: int
    deadline: float
    parts: tuple[StoredPart, ...]


class GroupChanged(Exception):
    """The group was closed or grew after it was read: the publish is rolled back and redone."""


@dataclass(frozen=True, slots=True)
class _Repeat:
    pass


@dataclass(frozen=True, slots=True)
class _Stored:
    group_id: str
    deadline: float
    opened: bool


@dataclass(frozen=True, slots=True)
class _Complete:
    group: Group


def missing_marker(number: int, total: int) -> str:
    return f" […bagian {number} dari {total} hilang…] "


def assemble_text(parts: dict[int, str], total: int) -> str:
    """Parts in order; SMS splits fall anywhere, even mid-word, so present parts join with nothing between."""
    return "".join(parts.get(number, missing_marker(number, total)) for number in range(1, total + 1))


def create_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)


def _load_group(conn: sqlite3.Connection, group_id: str) -> Group | None:
    row = conn.execute(
        "SELECT provider, inbound_address, sender, total, deadline FROM sms_concat_groups"
        " WHERE group_id=? AND closed_at IS NULL", (group_id,),
    ).fetchone()
    if row is None:
        return None
    parts = tuple(
        StoredPart(*part) for part in conn.execute(
            "SELECT part_id, number, text, received_at, raw, raw_content_type FROM sms_concat_parts"
            " WHERE group_id=? ORDER BY number", (group_id,),
        )
    )
    return Group(group_id, row[0], row[1], row[2], row[3], row[4], parts)


def _insert_part(conn: sqlite3.Connection, part: Part, group_id: str) -> None:
    conn.execute(
        "INSERT INTO sms_concat_parts (provider, inbound_address, part_id, group_id, number, text, received_at,"
        " raw, raw_content_type) VALUES (?,?,?,?,?,?,?,?,?)",
        (part.provider, part.inbound_address, part.part_id or f"unnamed:{new_report_id()}", group_id, part.number,
         part.text, part.received_at.timestamp(), part.raw, part.raw_content_type),
    )


def _place(conn: sqlite3.Connection, part: Part, timeout: float) -> _Repeat | _Stored | _Complete:
    """Decide, atomically in the writer, what an arriving part is: a repeat, stored, or the last one."""
    create_schema(conn)
    if part.part_id is not None and conn.execute(
        "SELECT 1 FROM sms_concat_parts WHERE provider=? AND inbound_address=? AND part_id=?",
        (part.provider, part.inbound_address, part.part_id),
    ).fetchone():
        return _Repeat()
    key = (part.provider, part.inbound_address, part.sender, part.ref, part.total)
    row = conn.execute(
        "SELECT group_id FROM sms_concat_groups WHERE provider=? AND inbound_address=? AND sender=? AND ref=?"
        " AND total=? AND closed_at IS NULL", key,
    ).fetchone()
    if row is None:
        now = time.time()
        group_id, deadline = new_report_id(), now + timeout
        conn.execute(
            "INSERT INTO sms_concat_groups (group_id, provider, inbound_address, sender, ref, total, opened_at,"
            " deadline) VALUES (?,?,?,?,?,?,?,?)", (group_id, *key, now, deadline),
        )
        _insert_part(conn, part, group_id)
        return _Stored(group_id, deadline, opened=True)
    group = _load_group(conn, row[0])
    assert group is not None
    numbers = {stored.number for stored in group.parts}
    if part.number in numbers:
        return _Repeat()  # the same part again under another id: the first copy is kept
    if len(numbers) + 1 == group.total:
        return _Complete(group)
    _insert_part(conn, part, group.group_id)
    return _Stored(group.group_id, group.deadline, opened=False)


def _closer(group: Group, incoming: Part | None) -> CommitHook:
    """A commit hook: closes the group in the report's own transaction, if it is still as it was read."""
    expected = {stored.part_id for stored in group.parts}

    def close(conn: sqlite3.Connection, report_id: str) -> None:
        current = _load_group(conn, group.group_id)
        if current is None or {stored.part_id for stored in current.parts} != expected:
            raise GroupChanged(group.group_id)
        if incoming is not None:
            _insert_part(conn, incoming, group.group_id)
        now = time.time()
        conn.execute("UPDATE sms_concat_groups SET report_id=?, closed_at=? WHERE group_id=?",
                     (report_id, now, group.group_id))
        expired = "SELECT group_id FROM sms_concat_groups WHERE closed_at < ?"
        conn.execute(f"DELETE FROM sms_concat_parts WHERE group_id IN ({expired})", (now - RETENTION,))
        conn.execute("DELETE FROM sms_concat_groups WHERE closed_at < ?", (now - RETENTION,))

    return close


def assembled_message(group: Group, incoming: Part | None) -> RawMessage:
    parts = list(group.parts)
    if incoming is not None:
        parts.append(StoredPart(incoming.part_id or "", incoming.number, incoming.text,
                                incoming.received_at.timestamp(), incoming.raw, incoming.raw_content_type))
    parts.sort(key=lambda stored: stored.number)
    archive = [
        {"part": stored.number, "id": stored.part_id, "content_type": stored.raw_content_type,
         "data": stored.raw.decode("utf-8", "replace")}
        for stored in parts
    ]
    return RawMessage(
        channel=Channel.SMS,
        provider=group.provider,
        inbound_address=group.inbound_address,
        # The group's own id: a timeout publish and a late completion of one group are exact repeats.
        message_id=f"concat:{group.group_id}",
        body=assemble_text({stored.number: stored.text for stored in parts}, group.total),
        sender=Sender(phone=group.sender),
        received_at=datetime.fromtimestamp(min(stored.received_at for stored in parts), UTC),
        raw=json.dumps({"total": group.total, "parts": archive}, ensure_ascii=False).encode(),
        raw_content_type=RAW_CONTENT_TYPE,
    )


class ConcatAssembler:
    """Stores parts, publishes complete groups, and (as a service) times out incomplete ones."""

    def __init__(self, intake: Intake, outbox: Outbox, timeout: float) -> None:
        self.intake = intake
        self.outbox = outbox
        self.timeout = timeout
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def add(self, part: Part) -> Accepted | None:
        """Store one part; returns once it is committed: the report if this part completed its message."""
        for _attempt in range(PLACE_ATTEMPTS):
            placed = await self.outbox.transact(lambda conn: _place(conn, part, self.timeout))
            if isinstance(placed, _Repeat):
                return None
            if isinstance(placed, _Stored):
                if placed.opened:
                    self._arm(placed.group_id, placed.deadline)
                return None
            try:
                accepted = await self.intake.accept(assembled_message(placed.group, part),
                                                    extra=_closer(placed.group, part))
            except GroupChanged:
                continue
            if accepted.duplicate:
                continue  # the group was published meanwhile; place the part again
            self._disarm(placed.group.group_id)
            log.info("multipart sms assembled", provider=part.provider, parts=placed.group.total,
                     report_id=accepted.id)
            return accepted
        raise OutboxUnavailable("multipart group kept changing while a part was placed")

    async def expire(self, group_id: str) -> Accepted | None:
        """Publish an incomplete group with its missing parts marked (the timeout, also after a restart)."""
        for _attempt in range(PLACE_ATTEMPTS):
            group = await self.outbox.transact(lambda conn: _load_group(conn, group_id))
            if group is None:
                return None
            try:
                accepted = await self.intake.accept(assembled_message(group, None), extra=_closer(group, None))
            except GroupChanged:
                continue
            missing = group.total - len(group.parts)
            log.info("multipart sms timed out, published with parts missing", provider=group.provider,
                     missing=missing, total=group.total, report_id=accepted.id)
            return accepted
        return None

    # -- service: timers that survive a restart, because they are re-armed from the table --------------
    async def start(self) -> None:
        self._stopping = False

        def open_groups(conn: sqlite3.Connection) -> list[tuple[str, float]]:
            create_schema(conn)
            return list(conn.execute("SELECT group_id, deadline FROM sms_concat_groups WHERE closed_at IS NULL"))

        for group_id, deadline in await self.outbox.transact(open_groups):
            self._arm(group_id, deadline)

    async def stop(self) -> None:
        self._stopping = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        await cancel_and_wait(list(self._tasks))

    def _arm(self, group_id: str, deadline: float) -> None:
        if self._stopping:
            return
        self._disarm(group_id)
        loop = asyncio.get_running_loop()
        self._timers[group_id] = loop.call_later(max(0.0, deadline - time.time()), self._fire, group_id)

    def _disarm(self, group_id: str) -> None:
        handle = self._timers.pop(group_id, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, group_id: str) -> None:
        self._timers.pop(group_id, None)
        task = asyncio.get_running_loop().create_task(self._expire_or_retry(group_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _expire_or_retry(self, group_id: str) -> None:
        try:
            await self.expire(group_id)
        except OutboxUnavailable:
            log.warning("multipart sms timeout publish failed, retrying", retry_in=RETRY_DELAY)
            self._arm(group_id, time.time() + RETRY_DELAY)
        except Exception:
            log.exception("multipart sms timeout publish failed, retrying", retry_in=RETRY_DELAY)
            self._arm(group_id, time.time() + RETRY_DELAY)

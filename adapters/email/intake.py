"""What IMAP and SMTP share after receiving a message: screen, parse, commit or quarantine.

A message ends in exactly one durable place: a report in the outbox, or a row in the email
quarantine (auto-replies, bounces, loops, and what could not be turned into a report), with
its raw bytes either way. Only OutboxUnavailable escapes, so the channel can answer "retry"
(SMTP 451, IMAP: leave it unflagged); nothing else about one message can stop the next one.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

import structlog

from adapters.email.loops import screen
from adapters.email.mime import message_key, parse_message, to_raw_message
from gateway.metrics import Metrics
from gateway.outbox import Outbox, OutboxUnavailable
from gateway.pipeline import Intake
from schemas import RawMessage

log = structlog.get_logger("email")

QUARANTINE_SCHEMA = """
CREATE TABLE IF NOT EXISTS email_quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    provider TEXT NOT NULL,
    inbound_address TEXT NOT NULL,
    message_key TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT,
    sha256 TEXT NOT NULL,
    raw BLOB NOT NULL,
    UNIQUE (inbound_address, message_key)
)
"""

# Durable channel state (the IMAP checkpoint) that must commit with whatever the message became.
StateUpdate = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Literal["accepted", "duplicate", "quarantined"]
    report_id: str | None = None
    tracking_code: str | None = None
    reason: str | None = None


def prepare(
    raw: bytes,
    *,
    provider: str,
    inbound_address: str,
    own_domains: Collection[str],
    own_addresses: Collection[str],
    too_large: bool = False,
) -> RawMessage | tuple[str, str, str | None]:
    """The report-to-be, or (message key, quarantine reason, detail). Never raises."""
    key = f"sha256:{hashlib.sha256(raw).hexdigest()}"
    try:
        message = parse_message(raw)
        key = message_key(message, raw)
        if too_large:
            return key, "too_large", None
        reason = screen(message, raw, own_domains=own_domains, own_addresses=own_addresses)
        if reason is not None:
            return key, reason, None
        prepared = to_raw_message(message, raw, provider=provider, inbound_address=inbound_address)
    except Exception as error:  # any parser failure (even a RecursionError): keep the bytes, go on
        return key, "unparseable", repr(error)
    if prepared.sender.email is None:
        return key, "no_sender", None  # nobody to answer or to link reports to: for a person to look at
    return prepared


class MailIntake:
    def __init__(self, intake: Intake, outbox: Outbox, metrics: Metrics, own_domains: Collection[str]) -> None:
        self.intake = intake
        self.outbox = outbox
        self.metrics = metrics
        self.own_domains = frozenset(domain.lower() for domain in own_domains)

    async def take(
        self,
        raw: bytes,
        *,
        provider: str,
        inbound_address: str,
        own_addresses: Collection[str] = (),
        state: StateUpdate | None = None,
        too_large: bool = False,
    ) -> Outcome:
        """Commit ``raw`` as a report or quarantine it; ``state`` commits in the same transaction."""
        # Parsing a large message takes a while: off the event loop, so HTTP intake does not stall.
        prepared = await asyncio.to_thread(
            prepare, raw, provider=provider, inbound_address=inbound_address, own_domains=self.own_domains,
            own_addresses=frozenset(own_addresses), too_large=too_large,
        )
        if isinstance(prepared, RawMessage):
            return await self._accept(prepared, raw, prepared.message_id or "", state)
        key, reason, detail = prepared
        return await self._quarantine(raw, provider, inbound_address, key, reason, detail, state)

    async def _accept(self, message: RawMessage, raw: bytes, key: str, state: StateUpdate | None) -> Outcome:
        def with_state(conn: sqlite3.Connection, _report_id: str) -> None:
            if state is not None:
                state(conn)

        try:
            accepted = await self.intake.accept(message, extra=with_state)
        except OutboxUnavailable:
            raise
        except Exception as error:  # the normalizer or the schema refused it: audit it, do not retry forever
            return await self._quarantine(
                raw, message.provider, message.inbound_address, key, "rejected", repr(error), state
            )
        if accepted.duplicate and state is not None:
            await self.outbox.transact(state)  # commit hooks do not run for an exact repeat
        return Outcome("duplicate" if accepted.duplicate else "accepted", accepted.id, accepted.tracking_code)

    async def _quarantine(
        self,
        raw: bytes,
        provider: str,
        inbound_address: str,
        key: str,
        reason: str,
        detail: str | None,
        state: StateUpdate | None,
    ) -> Outcome:
        digest = hashlib.sha256(raw).hexdigest()

        def store(conn: sqlite3.Connection) -> None:
            conn.execute(QUARANTINE_SCHEMA)
            conn.execute(
                "INSERT OR IGNORE INTO email_quarantine (received_at, provider, inbound_address, message_key,"
                " reason, detail, sha256, raw) VALUES (?,?,?,?,?,?,?,?)",
                (time.time(), provider, inbound_address, key, reason, detail, digest, raw),
            )
            if state is not None:
                state(conn)

        await self.outbox.transact(store)
        self.metrics.quarantined.labels("email", reason).inc()
        log.warning("email quarantined, not a report", reason=reason, provider=provider, sha256=digest[:16],
                    size=len(raw), error=detail.partition("(")[0] if detail else None)
        return Outcome("quarantined", reason=reason)

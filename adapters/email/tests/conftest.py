"""Email test fixtures: a real Dovecot per test, mailbox inspection, outbox inspection."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from imapclient.imapclient import SEEN

from adapters.email.tests.dovecot import Dovecot
from gateway.daemon import Gateway
from tests.conftest import base_url, broker_names, http, make_gateway, queue_reader  # noqa: F401 - shared fixtures


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    server.start()
    yield server
    server.destroy()


class Mailbox:
    """The test's own IMAP view of the mailbox (a separate session from the gateway's)."""

    def __init__(self, server: Dovecot) -> None:
        self.server = server

    def _append(self, folder: str, messages: list[bytes]) -> list[int]:
        with self.server.client() as client:
            uids = []
            for raw in messages:
                reply = client.append(folder, raw)
                uids.append(int(reply.split(b"]")[0].split()[-1]))  # [APPENDUID validity uid]
            return uids

    async def append(self, messages: list[bytes], folder: str = "INBOX") -> list[int]:
        return await asyncio.to_thread(self._append, folder, messages)

    def _flags(self, folder: str) -> dict[int, tuple[bytes, ...]]:
        with self.server.client() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            return {uid: data[b"FLAGS"] for uid, data in client.fetch(uids, ["FLAGS"]).items()} if uids else {}

    async def flags(self, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        return await asyncio.to_thread(self._flags, folder)

    async def unseen(self, folder: str = "INBOX") -> list[int]:
        return sorted(uid for uid, flags in (await self.flags(folder)).items() if SEEN not in flags)

    async def message_ids(self, folder: str = "INBOX") -> dict[int, str]:
        def read() -> dict[int, str]:
            with self.server.client() as client:
                client.select_folder(folder, readonly=True)
                uids = client.search(["ALL"])
                if not uids:
                    return {}
                fetched = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
                return {
                    uid: data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().split("<")[-1].split(">")[0]
                    for uid, data in fetched.items()
                }
        return await asyncio.to_thread(read)

    async def run(self, action: Callable[[Any], Any]) -> Any:
        def call() -> Any:
            with self.server.client() as client:
                return action(client)
        return await asyncio.to_thread(call)


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Mailbox:
    return Mailbox(dovecot)


def outbox_rows(gateway: Gateway, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(gateway.config.storage.path, timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as error:  # the quarantine table appears with the first quarantined mail
        if "no such table" in str(error):
            return []
        raise
    finally:
        conn.close()


def email_reports(gateway: Gateway) -> list[str]:
    """message_id of every committed email report, in commit order."""
    return [row[0] for row in outbox_rows(gateway, "SELECT message_id FROM reports WHERE channel='email' ORDER BY seq")]


def quarantined(gateway: Gateway) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in outbox_rows(gateway, "SELECT message_key, reason FROM email_quarantine")]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def imap_channel(server: Dovecot, **overrides: Any) -> dict[str, Any]:
    return {"email": {"own_domains": ["lapor.test"], "imap": server.imap_config(idle_renew=2.0, **overrides)}}

"""IMAP intake: read a mailbox (IDLE, or polling), commit each message, then flag or move it.

imapclient is synchronous, so the session runs in its own thread and hands each message to the
gateway's event loop. The order per message is: FETCH BODY.PEEK[] (the message stays unseen),
commit the report together with the (UIDVALIDITY, last UID) checkpoint, then flag \\Seen or MOVE.
A crash after the commit but before the flag is harmless: the checkpoint says the message is
done (it is flagged on the next connect), and the Message-ID dedup catches a re-scan.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import structlog
from imapclient import IMAPClient
from imapclient.imapclient import SEEN

from adapters.email.intake import MailIntake, StateUpdate
from gateway.config import ImapConfig
from gateway.outbox import Outbox

log = structlog.get_logger("email.imap")
T = TypeVar("T")


class ImapService:
    def __init__(self, config: ImapConfig, mail: MailIntake, outbox: Outbox) -> None:
        self.config = config
        self.mail = mail
        self.outbox = outbox
        self.mailbox = f"{config.username}/{config.folder}"
        self.checkpoint_key = f"email.imap.checkpoint:{self.mailbox}"
        self.own_addresses = frozenset({config.username.lower()} if "@" in config.username else ())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._delay = config.reconnect_initial
        self.connected = threading.Event()  # set while a session has its folder selected (for tests, readiness)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"imap:{self.mailbox}", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Finish the message in hand (commit, then flag), log out, and return."""
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    # -- the session thread -------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            client: IMAPClient | None = None
            try:
                client = self._connect()
                self._session(client)
            except Exception as error:  # any drop, protocol error or outbox outage: reconnect after a pause
                log.warning("imap session ended, reconnecting", mailbox=self.mailbox, error=repr(error)[:300],
                            retry_in=round(self._delay, 2))
            finally:
                self.connected.clear()
                if client is not None:
                    _close(client)
            if self._stop.wait(self._delay):
                return
            self._delay = min(self._delay * 2, self.config.reconnect_max)

    def _connect(self) -> IMAPClient:
        config = self.config
        client = IMAPClient(config.host, port=config.port, ssl=config.tls, timeout=config.timeout)
        try:
            client.login(config.username, config.password)
            if config.processed_folder and not client.folder_exists(config.processed_folder):
                client.create_folder(config.processed_folder)
        except BaseException:
            _close(client)
            raise
        return client

    def _session(self, client: IMAPClient) -> None:
        idle = self.config.idle and client.has_capability("IDLE")
        log.info("imap connected", mailbox=self.mailbox, mode="idle" if idle else "polling")
        first = True
        while not self._stop.is_set():
            # Mail that arrived during a scan is announced in replies imapclient discards: scan until quiet.
            while self._scan(client, finish_pending=first) and not self._stop.is_set():
                first = False
            first = False
            self._delay = self.config.reconnect_initial  # a full scan worked: the next outage starts afresh
            if idle:
                self._idle(client)
            elif self._stop.wait(self.config.poll_interval):
                return

    def _idle(self, client: IMAPClient) -> None:
        """Wait for news; IDLE is re-issued every idle_renew seconds (servers drop it at 30 minutes)."""
        client.idle()
        try:
            deadline = time.monotonic() + self.config.idle_renew
            while not self._stop.is_set() and time.monotonic() < deadline:
                # Short checks keep stop() responsive and notice a closed connection within a second.
                if _buffered_input(client) or client.idle_check(timeout=1.0):
                    return
                if _peer_closed(client):
                    raise ConnectionError("the IMAP server closed the connection")
        finally:
            client.idle_done()

    def _scan(self, client: IMAPClient, finish_pending: bool) -> int:
        """Commit every message after the checkpoint; returns how many there were."""
        folder = self.config.folder
        selected = client.select_folder(folder)
        self.connected.set()
        uidvalidity = int(selected[b"UIDVALIDITY"])
        stored = self._read_checkpoint()
        if stored is None or stored[0] != uidvalidity:
            if stored is not None:
                log.warning("imap UIDVALIDITY changed, re-scanning the folder (Message-ID dedup applies)",
                            mailbox=self.mailbox, old=stored[0], new=uidvalidity)
            self._call(self.outbox.transact(self._state(uidvalidity, 0)))
            last_uid = 0
        else:
            last_uid = stored[1]
        if finish_pending and last_uid:
            self._finish_pending(client, last_uid)
        uids = sorted(uid for uid in client.search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid)
        if not uids:
            return 0
        sizes = client.fetch(uids, ["RFC822.SIZE"])
        for uid in uids:
            if self._stop.is_set():
                break
            size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
            too_large = size > self.config.max_message_bytes
            part = b"BODY.PEEK[HEADER]" if too_large else b"BODY.PEEK[]"
            fetched = client.fetch([uid], [part]).get(uid)
            if fetched is None:
                continue  # expunged by someone else meanwhile
            raw = fetched.get(b"BODY[HEADER]" if too_large else b"BODY[]") or b""
            outcome = self._call(self.mail.take(
                bytes(raw), provider="imap", inbound_address=self.mailbox, own_addresses=self.own_addresses,
                state=self._state(uidvalidity, uid), too_large=too_large,
            ))
            self._mark_processed(client, [uid])
            log.info("imap message committed", mailbox=self.mailbox, uid=uid, outcome=outcome.status,
                     report_id=outcome.report_id, tracking_code=outcome.tracking_code, reason=outcome.reason)
        return len(uids)

    def _finish_pending(self, client: IMAPClient, last_uid: int) -> None:
        """Flag (or move) messages committed before a crash that came before their flag."""
        criteria: list[Any] = ["UID", f"1:{last_uid}"]
        if not self.config.processed_folder:
            criteria.append("UNSEEN")
        pending = [uid for uid in client.search(criteria) if uid <= last_uid]
        if pending:
            log.info("imap flagging messages committed before a restart", mailbox=self.mailbox, count=len(pending))
            self._mark_processed(client, pending)

    def _mark_processed(self, client: IMAPClient, uids: Sequence[int]) -> None:
        target = self.config.processed_folder
        if not target:
            client.add_flags(uids, [SEEN], silent=True)
        elif client.has_capability("MOVE"):
            client.move(uids, target)
        else:
            client.copy(uids, target)
            client.delete_messages(uids, silent=True)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
            else:
                client.expunge()

    # -- checkpoint ------------------------------------------------------------------------------
    def _read_checkpoint(self) -> tuple[int, int] | None:
        value = self._call(self.outbox.get_value(self.checkpoint_key))
        if value is None:
            return None
        data = json.loads(value)
        return int(data["uidvalidity"]), int(data["last_uid"])

    def _state(self, uidvalidity: int, last_uid: int) -> StateUpdate:
        value = json.dumps({"uidvalidity": uidvalidity, "last_uid": last_uid})

        def put(conn: sqlite3.Connection) -> None:
            Outbox.put_value(conn, self.checkpoint_key, value)

        return put

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()


def _buffered_input(client: IMAPClient) -> bool:
    """True when server lines already sit in the client's buffers.

    An EXISTS that arrives together with the "+ idling" continuation is read into imaplib's
    buffer (or the TLS layer's) and idle_check, which polls the socket, would never see it.
    """
    sock = client.socket()
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    reader = getattr(getattr(client, "_imap", None), "file", None)
    if reader is None:
        return False
    timeout = sock.gettimeout()
    sock.setblocking(False)  # peek must not wait for the network when the buffer is empty
    try:
        return bool(reader.peek(1))
    except OSError:
        return False
    finally:
        sock.settimeout(timeout)


def _peer_closed(client: IMAPClient) -> bool:
    """True when the server has closed the TCP connection.

    imapclient's idle_check treats EOF like "no news", so a server that went away would look
    idle until the next IDLE renewal. Peeking below any TLS layer sees the FIN at once.
    """
    sock = client.socket()
    timeout = sock.gettimeout()
    sock.setblocking(False)  # with a timeout set, recv would first wait up to that long for data
    try:
        return socket.socket.recv(sock, 1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:
        try:
            client.shutdown()
        except Exception:
            pass

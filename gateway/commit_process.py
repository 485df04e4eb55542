"""The commit process: report commits off the gateway's GIL.

The outbox's writer thread shares the GIL with the event loop. Each sqlite step releases it, and
taking it back waits until the busy loop lets go (up to the 5 ms switch interval), several times a
batch: measured under load, a batch of 16 reports spent 1.2 ms on the CPU and 4.5 ms in all, most
of the difference waiting for the GIL, while the event loop sat idle for want of answered commits.
This process runs the same group commits (gateway/commit.py) with a GIL of its own; the event loop
talks to it over a socket pair, so neither ever waits for the other's interpreter.

Wire format, both ways: a 4-byte big-endian length, then a pickle. To the process: (sequence
numbers, pickled list of operations); back: a list of (sequence number, ok, result or error).

The process serves until its socket closes, and dies with the gateway (see main). Started by
``python -m gateway.commit_process GATEWAY_PID FD PATH SYNCHRONOUS MAX_BATCH`` from the thread
that opens the outbox, which must live as long as the gateway (the parent-death signal follows
that thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import Any, cast

from gateway.commit import GroupCommit, Operation, OutboxUnavailable, WriterConnection, connect, slices

_LENGTH = struct.Struct(">I")
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _frame(payload: object) -> bytes:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def _split_frames(buffer: bytearray) -> list[bytes]:
    """The complete frames at the front of ``buffer``, removed from it."""
    frames: list[bytes] = []
    start = 0
    while len(buffer) - start >= 4:
        (length,) = _LENGTH.unpack_from(buffer, start)
        if len(buffer) - start - 4 < length:
            break
        frames.append(bytes(buffer[start + 4:start + 4 + length]))
        start += 4 + length
    del buffer[:start]
    return frames


# -- the process --------------------------------------------------------------------------------
def serve(sock: socket.socket, group: GroupCommit, max_batch: int) -> None:
    buffer = bytearray()
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return
        buffer += data
        with contextlib.suppress(BlockingIOError):  # whatever else has arrived joins this batch
            while more := sock.recv(1 << 20, socket.MSG_DONTWAIT):
                buffer += more
        requests: list[tuple[int, Operation | None]] = []
        for frame in _split_frames(buffer):
            sequences, operations = pickle.loads(frame)
            try:
                requests += zip(sequences, pickle.loads(operations), strict=True)
            except Exception as error:  # cannot happen for what the gateway sends; answered, not hung
                requests += ((sequence, None) for sequence in sequences)
                sys.stderr.write(f"commit process: operations not readable: {error!r}\n")
        for chunk in slices(requests, max_batch):
            runnable = [(sequence, operation) for sequence, operation in chunk if operation is not None]
            outcomes, _failed = group.run([operation for _sequence, operation in runnable])
            replies: list[tuple[int, bool, Any]] = [
                (sequence, False, OutboxUnavailable("operation not readable by the commit process"))
                for sequence, operation in chunk if operation is None]
            replies += ((sequence, ok, value) for (sequence, _op), (ok, value) in zip(runnable, outcomes, strict=True))
            sock.sendall(_reply_frame(replies))


def _reply_frame(replies: list[tuple[int, bool, Any]]) -> bytes:
    try:
        return _frame(replies)
    except Exception:  # a result or error that does not pickle: its operation still ran
        return _frame([(sequence, ok, value if _pickles(value) else OutboxUnavailable(repr(value)))
                       for sequence, ok, value in replies])


def _pickles(value: object) -> bool:
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


def main(argv: list[str]) -> None:
    parent, fd, path, synchronous, max_batch = int(argv[0]), int(argv[1]), argv[2], argv[3], int(argv[4])
    # Killed with the gateway (SIGKILL): a commit it waits on must not land after the gateway is
    # gone, as it would not in the gateway's own thread. SIGTERM and SIGINT, which a service manager
    # sends the whole group, are the gateway's to handle: it closes the socket once it has drained.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        return  # the gateway died before the line above took effect
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    conn = connect(path, synchronous, WriterConnection)
    assert isinstance(conn, WriterConnection)
    try:
        serve(sock, GroupCommit(conn), max_batch)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the gateway is gone: nobody waits for these answers, the commits stand
    finally:
        conn.close()


# -- the gateway's side -------------------------------------------------------------------------
class CommitProcess(asyncio.Protocol):
    """The gateway's handle on its commit process: ``run`` an operation there, once committed.

    Operations of one event-loop iteration go out as one write. If the process ends, every
    operation still waiting fails with OutboxUnavailable (it may have committed: a retry with the
    same message id is answered as a repeat) and ``alive`` turns False.
    """

    def __init__(self, path: str, synchronous: str, max_batch: int, on_exit: Callable[[str], None]) -> None:
        ours, theirs = socket.socketpair()
        self._socket = ours
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.commit_process", str(os.getpid()), str(theirs.fileno()), path, synchronous,
             str(max_batch)],
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        self._on_exit = on_exit
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._unsent: list[tuple[int, Operation]] = []
        self._sequence = 0
        self._buffer = bytearray()
        self.alive = True

    async def run(self, operation: Operation) -> Any:
        if self._transport is None:
            await self._connect()
        if not self.alive:
            raise OutboxUnavailable("the commit process has ended")
        loop = asyncio.get_running_loop()
        self._sequence += 1
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[self._sequence] = future
        if not self._unsent:
            loop.call_soon(self._flush)
        self._unsent.append((self._sequence, operation))
        return await future

    async def _connect(self) -> None:
        if self._connecting is None:
            loop = asyncio.get_running_loop()
            self._connecting = loop.create_future()
            try:
                await loop.connect_accepted_socket(lambda: self, sock=self._socket)
            finally:
                self._connecting.set_result(None)
        else:
            await asyncio.shield(self._connecting)

    def _flush(self) -> None:
        batch, self._unsent = self._unsent, []
        if not batch or self._transport is None or not self.alive:
            self._fail(batch, "the commit process has ended")
            return
        sequences = tuple(sequence for sequence, _op in batch)
        try:
            operations = pickle.dumps([operation for _sequence, operation in batch], protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # a programming error: the caller hears of it, the rest are sent alone
            if len(batch) == 1:
                self._fail(batch, f"operation cannot go to the commit process: {error!r}")
                return
            for item in batch:
                self._unsent = [item]
                self._flush()
            return
        self._transport.write(_frame((sequences, operations)))

    def _fail(self, batch: list[tuple[int, Operation]], reason: str) -> None:
        for sequence, _op in batch:
            future = self._pending.pop(sequence, None)
            if future is not None and not future.done():
                future.set_exception(OutboxUnavailable(reason))

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        for frame in _split_frames(self._buffer):
            for sequence, ok, value in pickle.loads(frame):
                future = self._pending.pop(sequence, None)
                if future is None or future.done():
                    continue  # its caller was cancelled; the operation ran all the same
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def connection_lost(self, exc: Exception | None) -> None:
        was_alive, self.alive = self.alive, False
        waiting, self._pending = self._pending, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(OutboxUnavailable("the commit process has ended"))
        if was_alive:
            self._on_exit(f"exit status {self.process.poll()}" if exc is None else str(exc))

    # -- stopping -----------------------------------------------------------------------------------
    async def close(self, timeout: float = 10.0) -> None:
        """Close the socket once nothing waits on it; the process then finishes and exits."""
        self.alive = False
        for _ in range(int(timeout * 100)):
            if not self._pending:
                break
            await asyncio.sleep(0.01)
        if self._transport is not None:
            self._transport.close()
        else:
            self._socket.close()
        try:
            await asyncio.to_thread(self.process.wait, timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)


if __name__ == "__main__":
    main(sys.argv[1:])

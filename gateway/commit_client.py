"""The gateway's side of the commit process (gateway/commit_process.py): an asyncio protocol on its socket."""

from __future__ import annotations

import asyncio
import os
import pickle
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any, cast

from gateway.commit import NotHandedOver, Operation, OutboxUnavailable, Problem
from gateway.commit_process import frame, split_frames


class CommitProcess(asyncio.Protocol):
    """The gateway's handle on its commit process: ``run`` an operation there, once committed.

    Operations of one event-loop iteration go out as one write. If the process ends, every
    operation still waiting fails with OutboxUnavailable (it may have committed: a retry with the
    same message id is answered as a repeat) and ``accepting`` turns False, as it does once
    ``close`` begins (what was already handed over is still sent and answered).
    """

    def __init__(self, path: str, synchronous: str, max_batch: int, on_exit: Callable[[str], None],
                 on_problem: Callable[[Problem], None]) -> None:
        ours, theirs = socket.socketpair()
        self._socket = ours
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.commit_process", str(os.getpid()), str(theirs.fileno()), path, synchronous,
             str(max_batch)],
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        self._on_exit = on_exit
        self._on_problem = on_problem
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._unsent: list[tuple[int, Operation]] = []
        self._sequence = 0
        self._buffer = bytearray()
        self._alive = True  # the socket is open, as far as this side knows
        self._closing = False

    @property
    def accepting(self) -> bool:
        return self._alive and not self._closing

    @property
    def running(self) -> bool:
        """``accepting``, and the process has not exited (which the socket tells only once in use)."""
        return self.accepting and self.process.poll() is None

    async def run(self, operation: Operation) -> Any:
        if self._transport is None:
            await self._connect()
        if not self.accepting:
            raise NotHandedOver("the commit process has ended")
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
                if self.process.poll() is not None:  # it ended before its first use
                    self.connection_lost(None)
            finally:
                self._connecting.set_result(None)
        else:
            await asyncio.shield(self._connecting)

    def _flush(self) -> None:
        batch, self._unsent = self._unsent, []
        if not batch or self._transport is None or not self._alive:
            self._fail([sequence for sequence, _op in batch], NotHandedOver("the commit process has ended"))
            return
        sequences = tuple(sequence for sequence, _op in batch)
        try:
            operations = pickle.dumps([operation for _sequence, operation in batch], protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # a programming error: the caller hears of it, the rest are sent alone
            if len(batch) == 1:
                self._fail([batch[0][0]], OutboxUnavailable(f"operation cannot go to the commit process: {error!r}"))
                return
            for item in batch:
                self._unsent = [item]
                self._flush()
            return
        self._transport.write(frame((sequences, operations)))

    def _fail(self, sequences: list[int], error: OutboxUnavailable) -> None:
        for sequence in sequences:
            future = self._pending.pop(sequence, None)
            if future is not None and not future.done():
                future.set_exception(error)

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        for reply in split_frames(self._buffer):
            for sequence, ok, value in pickle.loads(reply):
                if sequence == 0:
                    self._on_problem(value)
                    continue
                future = self._pending.pop(sequence, None)
                if future is None or future.done():
                    continue  # its caller was cancelled; the operation ran all the same
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def connection_lost(self, exc: Exception | None) -> None:
        was_alive, self._alive = self._alive, False
        self._fail(list(self._pending), OutboxUnavailable("the commit process has ended"))
        if was_alive and not self._closing:
            status = self.process.poll()
            self._on_exit(str(exc) if exc is not None else "its socket closed" if status is None
                          else f"exit status {status}")

    # -- stopping -----------------------------------------------------------------------------------
    async def close(self, timeout: float = 10.0) -> None:
        """Close the socket once nothing waits on it; the process then finishes and exits."""
        self._closing = True
        if self._pending:
            await asyncio.wait(list(self._pending.values()), timeout=timeout)
        if self._transport is not None:
            self._transport.close()
        else:
            self._socket.close()
        try:
            await asyncio.to_thread(self.process.wait, timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)

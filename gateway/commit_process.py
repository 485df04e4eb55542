"""The commit process: report commits off the gateway's GIL.

The outbox's writer thread shares the GIL with the event loop. Each sqlite step releases it, and
taking it back waits until the busy loop lets go (up to the 5 ms switch interval), several times a
batch: measured under load, a batch of 16 reports spent 1.2 ms on the CPU and 4.5 ms in all, most
of the difference waiting for the GIL, while the event loop sat idle for want of answered commits.
This process runs the same group commits (gateway/commit.py) with a GIL of its own; the event loop
talks to it over a socket pair (gateway/commit_client.py), so neither waits for the other's
interpreter. It imports only the stdlib and gateway/commit.py (16 MB resident at start).

Wire format, both ways: a 4-byte big-endian length, then a pickle. To the process: (sequence
numbers, pickled list of operations); back: a list of (sequence number, ok, result or error),
where sequence number 0 carries a problem for the gateway to log: (event, fields).

The process serves until its socket closes, and dies with the gateway (see main). Started by
``python -m gateway.commit_process GATEWAY_PID FD PATH SYNCHRONOUS MAX_BATCH`` from the thread
that opens the outbox, which must live as long as the gateway (the parent-death signal follows
that thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import socket
import struct
import sys
from typing import Any

from gateway.commit import GroupCommit, Operation, OutboxUnavailable, WriterConnection, connect, slices

_LENGTH = struct.Struct(">I")
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def frame(payload: object) -> bytes:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def split_frames(buffer: bytearray) -> list[bytes]:
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
    # Received into one buffer: a fresh 1 MB bytes object a call left the heap fragmented (RSS).
    incoming = memoryview(bytearray(1 << 18))
    while True:
        received = sock.recv_into(incoming)
        if not received:
            return
        buffer += incoming[:received]
        with contextlib.suppress(BlockingIOError):  # whatever else has arrived joins this batch
            while received := sock.recv_into(incoming, 0, socket.MSG_DONTWAIT):
                buffer += incoming[:received]
        requests: list[tuple[int, Operation | None]] = []
        for request in split_frames(buffer):
            sequences, operations = pickle.loads(request)
            try:
                requests += zip(sequences, pickle.loads(operations), strict=True)
            except Exception as error:  # cannot happen for what the gateway sends; answered, not hung
                requests += ((sequence, None) for sequence in sequences)
                sys.stderr.write(f"commit process: operations not readable: {error!r}\n")
        for chunk in slices(requests, max_batch):
            runnable = [(sequence, operation) for sequence, operation in chunk if operation is not None]
            outcomes, problems = group.run([operation for _sequence, operation in runnable])
            replies: list[tuple[int, bool, Any]] = [
                (sequence, False, OutboxUnavailable("operation not readable by the commit process"))
                for sequence, operation in chunk if operation is None]
            # For the gateway's log: sequence 0 is never an operation's.
            replies += ((0, False, problem) for problem in problems)
            replies += ((sequence, ok, value) for (sequence, _op), (ok, value) in zip(runnable, outcomes, strict=True))
            sock.sendall(_reply_frame(replies))


def _reply_frame(replies: list[tuple[int, bool, Any]]) -> bytes:
    try:
        return frame(replies)
    except Exception:  # a result or error that does not pickle: its operation still ran
        return frame([(sequence, ok, value if _pickles(value) else OutboxUnavailable(repr(value)))
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


if __name__ == "__main__":
    main(sys.argv[1:])

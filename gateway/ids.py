"""Report ids (ULIDs) and citizen-facing tracking codes."""

from __future__ import annotations

import os
import threading
import time

from ulid import ULID

# No 0/O or 1/I: a citizen reads the code off a phone screen, aloud, to a call centre.
TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
TRACKING_LENGTH = 8  # 32**8 ≈ 1.1e12 codes; collisions are still checked at commit


class _RandomPool:
    """os.urandom in 4 KiB draws: one system call per ~250 ids instead of one per id.

    The bytes are the kernel's CSPRNG output either way; on a loaded VM each urandom call
    costs far more than the few bytes it returns.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._buffer = b""
        self._offset = 0
        self._lock = threading.Lock()

    def take(self, count: int) -> bytes:
        with self._lock:
            if self._offset + count > len(self._buffer):
                self._buffer, self._offset = os.urandom(self._size), 0
            chunk = self._buffer[self._offset : self._offset + count]
            self._offset += count
            return chunk

    def reset_after_fork(self) -> None:
        # A child must not hand out the parent's remaining bytes again.
        self._buffer, self._offset = b"", 0


_pool = _RandomPool()
os.register_at_fork(after_in_child=_pool.reset_after_fork)


def new_report_id() -> str:
    milliseconds = time.time_ns() // 1_000_000
    return str(ULID(milliseconds.to_bytes(6, "big") + _pool.take(10)))


def new_tracking_code() -> str:
    # 40 random bits, 5 per character: 32 symbols map exactly, so every code is equally likely.
    bits = int.from_bytes(_pool.take(5), "big")
    return "LPR-" + "".join(TRACKING_ALPHABET[(bits >> (5 * i)) & 31] for i in range(TRACKING_LENGTH))

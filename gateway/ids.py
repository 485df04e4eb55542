"""Report ids (ULIDs) and citizen-facing tracking codes."""

from __future__ import annotations

import base64
import os
import threading
import time

# No 0/O or 1/I: a citizen reads the code off a phone screen, aloud, to a call centre.
TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
TRACKING_LENGTH = 8  # 32**8 ≈ 1.1e12 codes; collisions are still checked at commit
ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32

# Both are base32 with another alphabet: the C base32 encoder (RFC 4648) plus one translate,
# instead of a Python step per character.
_RFC4648 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_ULID = bytes.maketrans(_RFC4648, ULID_ALPHABET.encode())
_TO_TRACKING = bytes.maketrans(_RFC4648, TRACKING_ALPHABET.encode())


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
    """A ULID: 48 bits of milliseconds, 80 random bits, as 26 characters of Crockford's base32."""
    return ulid_text(time.time_ns() // 1_000_000, _pool.take(10))


def ulid_text(milliseconds: int, randomness: bytes) -> str:
    value = milliseconds << 80 | int.from_bytes(randomness, "big")
    # 26 characters carry 130 bits, the first two zero; base32 reads from the top bit, so the
    # 128 bits are moved up to end on a byte boundary (136 bits) and the last 2 characters dropped.
    return base64.b32encode((value << 6).to_bytes(17, "big"))[:26].translate(_TO_ULID).decode()


def new_tracking_code() -> str:
    # 40 random bits, 5 per character: 32 symbols map exactly, so every code is equally likely.
    return "LPR-" + base64.b32encode(_pool.take(5)).translate(_TO_TRACKING).decode()

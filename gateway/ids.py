"""Report ids (ULIDs) and citizen-facing tracking codes."""

from __future__ import annotations

import os
import threading
import time

# No 0/O or 1/I: a citizen reads the code off a phone screen, aloud, to a call centre.
TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
TRACKING_LENGTH = 8  # 32**8 ≈ 1.1e12 codes; collisions are still checked at commit
ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32

# Each random byte becomes one symbol through a 256-entry table (byte & 31: every symbol equally
# likely), and the ULID's time through 10-bit pairs of symbols. Python 3.11's base64.b32encode is a
# Python loop over big integers; this is one C translate and five small lookups (40k -> 12k
# instructions an id, 18k -> 6k a tracking code, in a callgrind loop).
_ULID_SYMBOL = bytes(ULID_ALPHABET.encode()[byte & 31] for byte in range(256))
_TRACKING_SYMBOL = bytes(TRACKING_ALPHABET.encode()[byte & 31] for byte in range(256))
_ULID_PAIRS = [first + second for first in ULID_ALPHABET for second in ULID_ALPHABET]


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
            start = self._offset
            end = start + count
            if end > len(self._buffer):
                self._buffer, start, end = os.urandom(self._size), 0, count
            self._offset = end
            return self._buffer[start:end]

    def reset_after_fork(self) -> None:
        # A child must not hand out the parent's remaining bytes again.
        self._buffer, self._offset = b"", 0


_pool = _RandomPool()
os.register_at_fork(after_in_child=_pool.reset_after_fork)


def new_report_id() -> str:
    """A ULID: 48 bits of milliseconds, 80 random bits, as 26 characters of Crockford's base32."""
    return ulid_text(time.time_ns() // 1_000_000, _pool.take(16))


def ulid_text(milliseconds: int, symbols: bytes) -> str:
    """The ULID of ``milliseconds`` whose 16 random symbols are the low 5 bits of ``symbols``' bytes."""
    pairs = _ULID_PAIRS
    # 10 time symbols carry 50 bits, the first two zero: five pairs of 10 bits.
    return (pairs[milliseconds >> 40] + pairs[milliseconds >> 30 & 1023] + pairs[milliseconds >> 20 & 1023]
            + pairs[milliseconds >> 10 & 1023] + pairs[milliseconds & 1023]
            + symbols.translate(_ULID_SYMBOL).decode())


def new_tracking_code() -> str:
    # 8 symbols of 5 random bits: 32 symbols map exactly, so every code is equally likely.
    return "LPR-" + _pool.take(TRACKING_LENGTH).translate(_TRACKING_SYMBOL).decode()

"""Report ids (ULIDs) and citizen-facing tracking codes."""

from __future__ import annotations

import secrets

from ulid import ULID

# No 0/O or 1/I: a citizen reads the code off a phone screen, aloud, to a call centre.
TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
TRACKING_LENGTH = 8  # 32**8 ≈ 1.1e12 codes; collisions are still checked at commit


def new_report_id() -> str:
    return str(ULID())


def new_tracking_code() -> str:
    # 40 random bits, 5 per character: 32 symbols map exactly, so every code is equally likely.
    bits = int.from_bytes(secrets.token_bytes(5), "big")
    return "LPR-" + "".join(TRACKING_ALPHABET[(bits >> (5 * i)) & 31] for i in range(TRACKING_LENGTH))

"""The form's abuse guards, all stateless or in-process: signed CSRF tokens, a per-address rate limit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Callable, Sequence

from adapters.common import constant_time_equal


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """HMAC-signed, time-limited tokens: a double-submit CSRF cookie and signed confirmation links.

    Nothing is stored server-side; with no configured secret each process makes its own, so tokens
    issued by one process are refused by another (run one process or configure csrf_secret).
    """

    def __init__(self, secret: str | None, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self._key = hashlib.sha256(secret.encode()).digest() if secret else secrets.token_bytes(32)
        self.ttl = ttl
        self._clock = clock

    def _mac(self, purpose: str, message: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}|{message}".encode(), hashlib.sha256).digest())

    def new_csrf_token(self) -> str:
        payload = f"{int(self._clock()):x}.{_b64(secrets.token_bytes(16))}"
        return f"{payload}.{self._mac('csrf', payload)}"

    def csrf_age(self, token: str | None) -> float | None:
        """Seconds since a valid token was issued; None when it is forged, malformed or expired."""
        if not token or len(token) > 200:
            return None
        payload, _, mac = token.rpartition(".")
        if not constant_time_equal(mac, self._mac("csrf", payload)):
            return None
        try:
            issued = int(payload.split(".", 1)[0], 16)
        except ValueError:
            return None
        age = self._clock() - issued
        return age if 0 <= age <= self.ttl else None

    def csrf_valid(self, cookie: str | None, field: str | None) -> bool:
        return cookie is not None and constant_time_equal(field, cookie) and self.csrf_age(cookie) is not None

    def link_signature(self, value: str) -> str:
        return self._mac("link", value)[:22]

    def link_valid(self, value: str, signature: str | None) -> bool:
        return constant_time_equal(signature, self.link_signature(value))


class RateLimiter:
    """At most ``limit`` hits per key in a fixed window; in-process memory, pruned as it grows."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.limit, self.window, self._clock, self._max_keys = limit, window, clock, max_keys
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> float | None:
        """Count a hit; None if allowed, else the seconds until the key may try again."""
        if self.limit <= 0:
            return None
        now = self._clock()
        started, count = self._windows.get(key, (now, 0))
        if now - started >= self.window:
            started, count = now, 0
        if count >= self.limit:
            return self.window - (now - started)
        if len(self._windows) >= self._max_keys:
            self._prune(now)
        self._windows[key] = (started, count + 1)
        return None

    def _prune(self, now: float) -> None:
        expired = [key for key, (started, _) in self._windows.items() if now - started >= self.window]
        for key in expired:
            del self._windows[key]
        if len(self._windows) >= self._max_keys:
            # Still full of live windows: forgetting them is better than growing without bound.
            self._windows.clear()


def client_address(remote: str | None, forwarded_for: str | None, trusted_proxies: Sequence[str]) -> str:
    """The client's address; X-Forwarded-For is believed only when it comes from a trusted proxy."""
    address = remote or "unknown"
    if not trusted_proxies or address not in trusted_proxies or not forwarded_for:
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address
        if hop not in trusted_proxies:
            return hop
    return address

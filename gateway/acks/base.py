"""What every acknowledgement sender shares: the message to send and how a failure is classified."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from schemas import Report


@dataclass(frozen=True, slots=True)
class Skip:
    """No acknowledgement for this report, and why (recorded on the row and in metrics)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Target:
    """Where an acknowledgement goes: ``recipient`` for the row, ``fields`` for the sender (JSON)."""

    recipient: str
    fields: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AckMessage:
    report_id: str
    channel: str
    provider: str
    fields: Mapping[str, str]
    text: str
    subject: str
    tracking_code: str
    idempotency_key: str


class SendFailed(Exception):
    """A send that did not go through; ``permanent`` ones are not retried."""

    def __init__(self, reason: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class Sender(Protocol):
    def target(self, conn: sqlite3.Connection, report: Report) -> Target | Skip:
        """Where the stored ``report``'s acknowledgement goes; runs in the outbox transaction (``conn``)
        that writes the acknowledgement row: no network."""
        ...

    async def send(self, http: aiohttp.ClientSession, message: AckMessage) -> str | None:
        """Deliver; returns the provider's message reference. Raises SendFailed."""
        ...


# 408/425/429 and 5xx are the provider's momentary trouble; other 4xx will not improve by retrying.
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def request(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    what: str,
    momentary: Callable[[dict[str, Any]], bool] | None = None,
    **kwargs: Any,
) -> bytes:
    """One HTTP call returning the body. Transport errors and retryable statuses raise a temporary
    SendFailed; other 4xx a permanent one, unless ``momentary`` recognises the JSON error body."""
    try:
        async with http.request(method, url, **kwargs) as response:
            body = await response.read()
            status = response.status
            retry_after = _retry_after(response)
    except (TimeoutError, aiohttp.ClientError, OSError) as error:
        raise SendFailed(f"{what}: {type(error).__name__}", permanent=False) from None
    if retry_after is None and status == 429:  # Telegram puts it in the body: parameters.retry_after
        parameters = json_object(body).get("parameters")
        if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), int | float):
            retry_after = float(parameters["retry_after"])
    if status >= 500 or status in _RETRYABLE_4XX:
        raise SendFailed(f"{what}: HTTP {status}", permanent=False, retry_after=retry_after)
    if status >= 400:
        temporary = momentary is not None and momentary(json_object(body))
        raise SendFailed(f"{what}: HTTP {status}", permanent=not temporary, retry_after=retry_after)
    return body


def json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}

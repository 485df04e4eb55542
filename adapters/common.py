"""What every HTTP adapter shares: reading a capped body, answering after the commit."""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from aiohttp import web

from gateway.http import RequestError
from gateway.media import MediaFetcher
from gateway.outbox import OutboxUnavailable
from gateway.pipeline import Accepted, Intake
from schemas import RawMessage


def constant_time_equal(given: str | bytes | None, expected: str | bytes) -> bool:
    """Compare secrets without leaking, through timing, how much of a guess was right."""
    if given is None:
        return False
    # aiohttp hands over non-UTF-8 header bytes as surrogates; a hostile header must compare
    # unequal, not raise.
    given_bytes = given.encode("utf-8", "surrogateescape") if isinstance(given, str) else given
    expected_bytes = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(given_bytes, expected_bytes)


async def read_body(request: web.Request) -> bytes:
    """The raw body; over the configured cap it is a 413 JSON error (aiohttp enforces the cap)."""
    return await request.read()


def json_object_body(data: bytes, what: str = "request body") -> dict[str, Any]:
    """A request body that must be one JSON object: not UTF-8 or not JSON is a 400, another shape a 422."""
    text = decode_utf8(data)
    try:
        value = orjson.loads(text)  # stricter than json.loads: no NaN, no lone surrogate, depth 1024
    except orjson.JSONDecodeError as error:
        raise RequestError(400, "malformed_json", f"request body is not valid JSON: {error.msg}") from None
    if not isinstance(value, dict):
        raise RequestError(422, "invalid_fields", f"{what} must be a JSON object")
    return value


def decode_utf8(data: bytes, field: str = "body") -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError(
            400, "invalid_encoding", f"request {field} is not valid UTF-8 (byte {error.start})", field=field
        ) from None


async def commit(
    intake: Intake, raw: RawMessage, *, hold: bool = False, media: MediaFetcher | None = None
) -> Accepted:
    """Hand a message to the pipeline; a failed commit becomes a retryable 503 for the channel.

    With ``media``, remote attachments (media ids) are committed held and fetched after the answer.
    """
    try:
        if media is not None:
            return await media.accept(raw)
        return await intake.accept(raw, hold=hold)
    except OutboxUnavailable:
        raise RequestError(503, "outbox_unavailable", "the report could not be stored; retry later") from None

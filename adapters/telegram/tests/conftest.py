"""Telegram test fixtures: the Bot API stand-in, payloads from testdata/, webhook posting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.telegram.tests.standin import BotApiStandIn
from gateway.daemon import Gateway
from tests.conftest import base_url, broker_names, http, make_gateway, queue_reader  # noqa: F401 - shared fixtures

TESTDATA = Path(__file__).with_name("testdata")
SECRET = "s3cr3t-Token_for-tests"


def payload_bytes(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(payload_bytes(name))
    return data


@pytest.fixture
async def bot_api() -> AsyncIterator[BotApiStandIn]:
    standin = BotApiStandIn()
    await standin.start()
    yield standin
    await standin.stop()


def telegram_section(bot_api: BotApiStandIn, **extra: Any) -> dict[str, Any]:
    section: dict[str, Any] = {"bot_token": bot_api.token, "secret_token": SECRET, "api_url": bot_api.url,
                               "mode": "webhook"}
    section.update(extra)
    return section


async def post_update(
    session: aiohttp.ClientSession, gateway: Gateway, body: bytes, secret: str | None = SECRET,
    content_type: str = "application/json",
) -> tuple[int, dict[str, Any]]:
    """POST to the webhook; retries while the gateway still waits for getMe (503 not_ready)."""
    headers = {"Content-Type": content_type}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    for _ in range(100):
        async with session.post(f"{base_url(gateway)}/webhooks/telegram", data=body, headers=headers) as response:
            answer = await response.json()
            if not (response.status == 503 and answer.get("error") == "not_ready"):
                return response.status, answer
        await asyncio.sleep(0.05)
    raise AssertionError("the gateway never learned the bot's username")

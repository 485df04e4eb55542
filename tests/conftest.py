"""Shared fixtures: a real gateway per test on a loopback port, against the real RabbitMQ."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.config import LoggingConfig, parse_config
from gateway.daemon import Gateway
from gateway.logs import configure_logging
from tests.support.broker import BrokerNames, QueueReader

configure_logging(LoggingConfig(level="warning", format="json"))

GatewayFactory = Callable[..., Awaitable[Gateway]]


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def gateway_config_data(tmp_path: Path, names: BrokerNames, **overrides: Any) -> dict[str, Any]:
    base = {
        "http": {"host": "127.0.0.1", "port": 0},
        "storage": {"path": str(tmp_path / "outbox.sqlite3"), "attachments_dir": str(tmp_path / "attachments")},
        "broker": names.config(),
        "logging": {"level": "warning", "format": "json"},
    }
    return deep_merge(base, overrides)


@pytest.fixture
async def broker_names() -> AsyncIterator[BrokerNames]:
    names = BrokerNames.unique()
    yield names
    await names.delete()


@pytest.fixture
async def queue_reader(broker_names: BrokerNames) -> QueueReader:
    reader = QueueReader(broker_names)
    await reader.bind()
    return reader


@pytest.fixture
async def make_gateway(tmp_path: Path, broker_names: BrokerNames) -> AsyncIterator[GatewayFactory]:
    """Start a gateway with test-unique broker names; ``make_gateway(channels={...})`` adds config."""
    started: list[Gateway] = []

    async def factory(**overrides: Any) -> Gateway:
        gateway = Gateway(parse_config(gateway_config_data(tmp_path, broker_names, **overrides)))
        await gateway.start()
        started.append(gateway)
        return gateway

    yield factory
    for gateway in started:
        await gateway.stop(drain_timeout=0.5)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def base_url(gateway: Gateway) -> str:
    return f"http://127.0.0.1:{gateway.port}"


async def wait_connected(gateway: Gateway, timeout: float) -> None:
    """Wait, at most ``timeout`` seconds, until the gateway's publisher has its broker link (topology declared)."""
    for _ in range(int(timeout / 0.05)):
        if gateway.publisher.connected:
            return
        await asyncio.sleep(0.05)

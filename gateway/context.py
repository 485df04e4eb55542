"""What a channel is given when it is installed: the HTTP surface, the intake and its config."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from gateway.config import Config
from gateway.http import HttpSurface
from gateway.metrics import Metrics
from gateway.outbox import Outbox
from gateway.pipeline import Intake


class Service(Protocol):
    """A channel loop that runs beside the HTTP server (IMAP, SMTP, Telegram polling, media)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class ChannelContext:
    config: Config
    surface: HttpSurface
    intake: Intake
    outbox: Outbox
    metrics: Metrics
    services: list[Service] = field(default_factory=list)
    # Run once the outbox is open, before intake opens (state a service must settle first).
    preparations: list[Callable[[], Awaitable[object]]] = field(default_factory=list)

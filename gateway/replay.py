"""`outbox replay`: publish every unpublished report now, also while the daemon runs.

Both may publish the same report; delivery is at-least-once and the report id is the AMQP
message_id, so consumers drop the repeat.
"""

from __future__ import annotations

import asyncio
import time

from gateway.config import Config
from gateway.metrics import Metrics
from gateway.outbox import Outbox
from gateway.publisher import Publisher


async def replay(config: Config, timeout: float) -> tuple[int, int]:
    outbox = Outbox(config.storage.path, config.storage.synchronous)
    outbox.open()
    metrics = Metrics()
    publisher = Publisher(config.broker, outbox, metrics, sweep_interval=0.5)
    before = outbox.status().unpublished
    await publisher.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if publisher.connected:
                await publisher.sweep_once()
                if publisher.backlog == 0 and (await asyncio.to_thread(outbox.status)).unpublished == 0:
                    break
            await asyncio.sleep(0.2)
        await publisher.drain(max(deadline - time.monotonic(), 0.1))
    finally:
        await publisher.stop()
        await outbox.close()
    left = Outbox(config.storage.path).status().unpublished
    return max(before - left, 0), left

"""Stopping background tasks without trusting every library to honour a cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import structlog

log = structlog.get_logger("tasks")

RECANCEL_AFTER = 1.0


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], *, grace: float = 5.0) -> bool:
    """Cancel ``tasks`` and wait until they end; True if they all did within ``grace`` seconds.

    On Python 3.11 ``asyncio.wait_for`` (ours or a library's) swallows a cancel that lands just as
    its inner call completes, and the task then carries on. So a task still running after
    RECANCEL_AFTER is cancelled again, and one still running after ``grace`` is left behind with
    an error log: shutdown must end, and SIGTERM must stay an exit, not a hang.
    """
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while pending:
        for task in pending:
            task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.error("tasks ignored cancellation; shutting down without them",
                      tasks=sorted(task.get_name() for task in pending))
            return False
        _, pending = await asyncio.wait(pending, timeout=min(RECANCEL_AFTER, remaining))
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("background task had failed", task=task.get_name(), error=type(error).__name__)
    return True

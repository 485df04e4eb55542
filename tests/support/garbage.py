"""What the cyclic garbage collector finds: objects that reference counting alone never frees."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp.web_request import BaseRequest

from schemas import RawMessage, Report

# The objects of one report's way through the gateway: left in a reference cycle, each report's
# whole object graph waits for the collector, whose every pass under load then costs more.
REPORT_OBJECTS = (BaseRequest, RawMessage, Report)


@contextmanager
def cyclic_garbage(kinds: tuple[type, ...] = REPORT_OBJECTS) -> Iterator[Counter[str]]:
    """Counts, by type name, the objects of ``kinds`` that became cyclic garbage inside the block."""
    found: Counter[str] = Counter()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds unreachable is kept in gc.garbage, not freed
    try:
        yield found
        gc.collect()
        found.update(type(item).__name__ for item in gc.garbage if isinstance(item, kinds))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()

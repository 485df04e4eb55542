"""What acknowledgements cost intake, counted rather than timed: acks off and on, alternating, in one run.

The HTTP series in bench/ingest.py (sms against sms_acks) time the cost, and on these shared
2-core machines a pair of runs spreads by 10-30 %. This counts the work instead: a real Gateway
(outbox, RabbitMQ publisher, acknowledgement service, a loopback provider sink) takes SMS reports
through Intake.accept in concurrent waves, and for the load alone it counts

- Python function calls per report, in the event loop's thread and in the outbox writer's thread
  (a profile hook in each), which is how much Python intake ran;
- sqlite statements per report on the writer's connection (a trigger program counts as one);

and, in a load of its own without the profile hooks, the process's CPU per report (timed, so
noisy: for reference only).

With acknowledgements on it then waits until the sink has every acknowledgement and counts the
work after the load separately: that is where an acknowledgement's rows and sends are done.

    .venv/bin/python bench/ack_cost.py [--reports 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import Sink  # noqa: E402  (the provider stand-in the HTTP benchmark uses)
from gateway.config import parse_config  # noqa: E402
from gateway.daemon import Gateway  # noqa: E402
from schemas import Channel, RawMessage, Sender  # noqa: E402
from tests.conftest import gateway_config_data  # noqa: E402
from tests.support.broker import BrokerNames  # noqa: E402

WAVE = 64  # reports accepted concurrently, as many webhook requests in flight would be
TOKEN = "bench-token"


class CallCounter:
    """A profile hook counting Python function calls in the thread it is installed in."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, _frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call":
            self.calls += 1


def report(serial: int) -> RawMessage:
    return RawMessage(
        channel=Channel.SMS, provider="generic", inbound_address="1708", message_id=f"bench-{serial}",
        body=f"Laporan {serial}: jalan rusak parah di depan sekolah dasar nomor {serial % 97}, mohon diperbaiki",
        sender=Sender(phone=f"0812{serial % 10_000_000:08d}"),
    )


async def install_counters(gateway: Gateway) -> tuple[CallCounter, CallCounter, list[int]]:
    loop_calls, writer_calls, statements = CallCounter(), CallCounter(), [0]

    def in_writer(conn: Any) -> None:
        sys.setprofile(writer_calls)  # per thread: this runs in the writer's own thread
        conn.set_trace_callback(lambda _sql: statements.__setitem__(0, statements[0] + 1))

    await gateway.outbox.transact(in_writer)
    sys.setprofile(loop_calls)
    return loop_calls, writer_calls, statements


async def remove_counters(gateway: Gateway) -> None:
    sys.setprofile(None)

    def in_writer(conn: Any) -> None:
        sys.setprofile(None)
        conn.set_trace_callback(None)

    await gateway.outbox.transact(in_writer)


def snapshot(counters: tuple[CallCounter, CallCounter, list[int]]) -> tuple[int, int, int]:
    loop_calls, writer_calls, statements = counters
    return loop_calls.calls, writer_calls.calls, statements[0]


def per_report(before: tuple[int, int, int], after: tuple[int, int, int], n: int) -> dict[str, float]:
    return {
        "loop_calls": round((after[0] - before[0]) / n, 1),
        "writer_calls": round((after[1] - before[1]) / n, 1),
        "statements": round((after[2] - before[2]) / n, 3),
    }


async def measure(acks: bool, reports: int, first_serial: int, sink: Sink, workdir: Path) -> dict[str, Any]:
    names = BrokerNames.unique()
    data = gateway_config_data(
        workdir, names,
        channels={"sms": {"generic": {"token": TOKEN, "send_url": f"{sink.url}/send"}}},
        acks={"enabled": acks},
    )
    gateway = Gateway(parse_config(data))
    await gateway.start()
    sink_start = sink.calls
    try:
        await gateway.intake.accept(report(first_serial - 1))  # warm: code paths, fan-out triggers, caches
        await wait_for(lambda: gateway.publisher.backlog == 0 and sink.calls - sink_start >= acks)
        cpu_before = time.process_time()
        await load(gateway, first_serial, reports)
        cpu_us = round(1e6 * (time.process_time() - cpu_before) / reports, 1)
        await wait_for(lambda: gateway.publisher.backlog == 0 and sink.calls - sink_start >= (reports + 1) * acks)
        counters = await install_counters(gateway)
        sink_before = sink.calls
        before = snapshot(counters)
        await load(gateway, first_serial + reports, reports)
        load_end = snapshot(counters)
        sent_during_load = sink.calls - sink_before
        await wait_for(lambda: sink.calls - sink_before >= (reports if acks else 0) and gateway.publisher.backlog == 0)
        await asyncio.sleep(0.2)  # the last sends' rows marked sent
        after = snapshot(counters)
        await remove_counters(gateway)
        return {"acks": acks, "intake": per_report(before, load_end, reports),
                "after_load": per_report(load_end, after, reports), "sent_during_load": sent_during_load,
                "intake_cpu_us_unprofiled": cpu_us}
    finally:
        sys.setprofile(None)
        await gateway.stop(drain_timeout=5)
        await names.delete()


async def load(gateway: Gateway, first_serial: int, reports: int) -> None:
    for start in range(0, reports, WAVE):
        await asyncio.gather(*(gateway.intake.accept(report(first_serial + serial))
                               for serial in range(start, min(reports, start + WAVE))))


async def wait_for(check: Callable[[], bool], limit: float = 300.0) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out: the gateway did not publish or acknowledge everything")
        await asyncio.sleep(0.05)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3, help="off/on alternations")
    args = parser.parse_args()
    sink = Sink()
    await sink.start()
    results: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    try:
        for round_number in range(args.rounds):
            for acks in (False, True) if round_number % 2 == 0 else (True, False):
                with tempfile.TemporaryDirectory(prefix="lapor-ackcost-") as workdir:
                    serial = (2 * round_number + acks) * 1_000_000 + 1
                    result = await measure(acks, args.reports, serial, sink, Path(workdir))
                results[acks].append(result)
                print(result, flush=True)
    finally:
        await sink.stop()
    counted = ("loop_calls", "writer_calls", "statements")
    summary = [(phase, key) for phase in ("intake", "after_load") for key in counted]
    for phase, key in [*summary, ("intake", "cpu_us")]:
        off, on = (statistics.median(value(r, phase, key) for r in results[acks]) for acks in (False, True))
        ratio = f"{on / off:.3f}" if off else "-"
        print(f"{phase:10} {key:12} median off {off:10.1f}  on {on:10.1f}  on/off {ratio}")


def value(result: dict[str, Any], phase: str, key: str) -> float:
    return float(result["intake_cpu_us_unprofiled"] if key == "cpu_us" else result[phase][key])

if __name__ == "__main__":
    asyncio.run(main())

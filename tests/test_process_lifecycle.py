"""The daemon as operators run it: SIGKILL mid-load loses nothing; SIGTERM drains and exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import gateway_config_data
from tests.support.process import GatewayProcess, write_toml
from tests.support.proxy import free_port


@pytest.fixture
async def gateway_process(tmp_path, broker_names) -> AsyncIterator[GatewayProcess]:
    port = free_port()
    data = gateway_config_data(tmp_path, broker_names, http={"port": port}, logging={"level": "info"})
    process = GatewayProcess(write_toml(tmp_path / "gateway.toml", data), port, tmp_path / "gateway.log")
    yield process
    process.stop_quietly()


async def load(url: str, sent: dict[str, str | None], stop: asyncio.Event, workers: int = 16) -> None:
    """Post until ``stop``; ``sent`` maps each Idempotency-Key to the id of its 2xx (None: no answer)."""
    counter = iter(range(10**9))

    async def worker(session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            key = f"kill-{next(counter)}"
            sent[key] = None
            try:
                async with session.post(f"{url}/v1/reports", json={"body": f"laporan {key}"},
                                        headers={"Idempotency-Key": key}) as response:
                    if response.status == 202:
                        sent[key] = (await response.json())["id"]
            except (TimeoutError, aiohttp.ClientError):
                await asyncio.sleep(0.01)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        await asyncio.gather(*(worker(session) for _ in range(workers)))


async def test_sigkill_mid_load_then_restart_delivers_every_acknowledged_report(gateway_process, queue_reader):
    await gateway_process.start()
    sent: dict[str, str | None] = {}
    stop = asyncio.Event()
    load_task = asyncio.create_task(load(gateway_process.url, sent, stop))
    await asyncio.sleep(1.5)
    gateway_process.kill()  # SIGKILL: no flush, no goodbye
    stop.set()
    await load_task
    acknowledged = {key: report_id for key, report_id in sent.items() if report_id}
    assert len(acknowledged) > 50, "the load did not get going before the kill"

    await gateway_process.start()
    await queue_reader.take_ids(set(acknowledged.values()), timeout=90)
    for report in queue_reader.bodies():
        key = report["source"]["message_id"]
        assert key in sent, f"the consumer saw a report nobody sent: {key}"
        if acknowledged.get(key):
            assert report["id"] == acknowledged[key]
    assert gateway_process.terminate() == 0


async def post_reports(url: str, count: int) -> list[str]:
    """``count`` reports, one after another; their ids (each answered 202)."""
    ids = []
    async with aiohttp.ClientSession() as session:
        for index in range(count):
            async with session.post(f"{url}/v1/reports", json={"body": f"lapor {index}"}) as response:
                assert response.status == 202
                ids.append((await response.json())["id"])
    return ids


async def test_sigterm_stops_intake_flushes_and_exits_zero(gateway_process, queue_reader):
    await gateway_process.start()
    ids = await post_reports(gateway_process.url, 30)
    assert gateway_process.terminate() == 0
    await queue_reader.take_ids(set(ids), timeout=10)
    log_lines = [json.loads(line) for line in gateway_process.log_file.read_text().splitlines()
                 if line.startswith("{")]
    stopped = [line for line in log_lines if line.get("event") == "gateway stopped"]
    assert stopped and stopped[-1]["fully_drained"] is True


def commit_process_of(gateway_process: GatewayProcess) -> int:
    """The pid of the gateway's commit process (gateway/commit_process.py), its one child."""
    assert gateway_process.process is not None
    pid = gateway_process.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, f"expected the commit process alone, found children {children}"
    assert "gateway.commit_process" in Path(f"/proc/{children[0]}/cmdline").read_text()
    return int(children[0])


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # a zombie has ended; only its parent's (or init's) wait remains


async def test_the_commit_process_dies_with_a_killed_gateway(gateway_process):
    # A commit process outliving the gateway could commit a report nobody was answered for after the
    # gateway is gone, and hold the outbox's write lock against the restarted one.
    await gateway_process.start()
    child = commit_process_of(gateway_process)
    gateway_process.kill()
    for _ in range(100):
        if gone(child):
            break
        await asyncio.sleep(0.05)
    assert gone(child), "the commit process outlived its gateway"


async def test_sigterm_to_the_whole_group_still_drains_every_report(gateway_process, queue_reader):
    # A service manager signals every process of the service; the commit process leaves the draining to
    # the gateway and ends when the gateway closes its socket.
    await gateway_process.start()
    child = commit_process_of(gateway_process)
    ids = await post_reports(gateway_process.url, 20)
    os.kill(child, signal.SIGTERM)
    assert gateway_process.terminate() == 0
    await queue_reader.take_ids(set(ids), timeout=10)
    assert gone(child)

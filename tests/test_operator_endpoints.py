"""/metrics, /healthz and /readyz as an operator's monitoring reads them."""

from __future__ import annotations

import asyncio
import re

from structlog.testing import capture_logs

from tests.conftest import base_url
from tests.support.proxy import TcpProxy


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} (\S+)$"
    match = re.search(pattern, text, re.M)
    assert match, f"{name}{labels} not in metrics"
    return float(match.group(1))


async def test_metrics_show_backlog_per_channel_while_broker_is_down_then_drain(
    broker_names, make_gateway, http, queue_reader
):
    proxy = TcpProxy(target_port=5672)
    gateway = await make_gateway(broker=broker_names.config(url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/"))
    url = base_url(gateway)
    ids = []
    for key in ("a", "b", "c", "a"):
        async with http.post(f"{url}/v1/reports", json={"body": "pipa bocor"}, headers={"Idempotency-Key": key}) as r:
            ids.append((await r.json())["id"])
    async with http.get(f"{url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    assert metric(text, "lapor_reports_accepted_total", '{channel="web"}') == 3
    assert metric(text, "lapor_reports_duplicates_total", '{channel="web",match="exact"}') == 1
    assert metric(text, "lapor_outbox_depth", '{channel="web"}') == 3
    assert metric(text, "lapor_outbox_oldest_unpublished_age_seconds", '{channel="web"}') >= 0
    assert metric(text, "lapor_broker_connected") == 0
    assert metric(text, "lapor_outbox_commit_process_up") == 1
    async with http.get(f"{url}/readyz") as response:
        body = await response.json()
    assert response.status == 200 and body["broker"] == "disconnected"

    await proxy.start()
    try:
        await queue_reader.take_ids(set(ids), timeout=30)
        async with http.get(f"{url}/metrics") as response:
            text = await response.text()
        assert metric(text, "lapor_reports_published_total", '{channel="web"}') >= 3
        assert 'lapor_outbox_depth{channel="web"}' not in text
        assert metric(text, "lapor_broker_connected") == 1
    finally:
        await proxy.stop()


async def test_healthz(make_gateway, http):
    gateway = await make_gateway()
    async with http.get(f"{base_url(gateway)}/healthz") as response:
        assert response.status == 200 and (await response.json())["status"] == "ok"


async def test_metrics_show_when_the_commit_process_has_ended_and_reports_still_commit(
    make_gateway, http, queue_reader
):
    gateway = await make_gateway()
    url = base_url(gateway)
    process = gateway.outbox._process.process
    process.kill()  # before any report: nothing was ever handed to it
    await asyncio.to_thread(process.wait)
    async with http.get(f"{url}/metrics") as response:
        assert metric(await response.text(), "lapor_outbox_commit_process_up") == 0
    with capture_logs() as logs:
        async with http.post(f"{url}/v1/reports", json={"body": "lampu jalan mati"}) as response:
            assert response.status == 202  # committed by the writer thread
            report_id = (await response.json())["id"]
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == [
        "outbox commit process ended; reports now commit in the writer thread"]
    await queue_reader.take_ids({report_id})
    async with http.get(f"{url}/readyz") as response:
        assert response.status == 200

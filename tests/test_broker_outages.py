"""Nothing accepted is lost when the broker is down, restarted, or cuts the connection."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import aio_pika

from tests.conftest import base_url, gateway_config_data, wait_connected
from tests.support.broker import AMQP_URL, QueueReader, close_broker_connections
from tests.support.process import write_toml
from tests.support.proxy import TcpProxy

ROOT = Path(__file__).parents[1]


def outbox_status(config_file: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "outbox", "status", "--json", "--config", str(config_file)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout
    return json.loads(out)


async def post_many(http, gateway, count: int, prefix: str) -> dict[str, str]:
    """Post ``count`` reports concurrently; return {id: idempotency key} of every 2xx."""
    async def post(index: int) -> tuple[str, str]:
        key = f"{prefix}-{index}"
        async with http.post(f"{base_url(gateway)}/v1/reports", json={"body": f"laporan {prefix} {index}"},
                             headers={"Idempotency-Key": key}) as response:
            assert response.status == 202, await response.text()
            return (await response.json())["id"], key

    return dict(await asyncio.gather(*(post(i) for i in range(count))))


async def test_broker_unreachable_at_start_reports_accepted_then_delivered_without_restart(
    tmp_path, broker_names, make_gateway, http, queue_reader
):
    proxy = TcpProxy(target_port=5672)  # not started: the broker is unreachable
    broker = broker_names.config(url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/")
    gateway = await make_gateway(broker=broker)

    async with http.get(f"{base_url(gateway)}/readyz") as response:
        ready = await response.json()
    assert response.status == 200 and ready["broker"] == "disconnected"

    accepted = await post_many(http, gateway, 40, "outage")
    config_file = write_toml(tmp_path / "gw.toml", gateway_config_data(tmp_path, broker_names, broker=broker))
    status = await asyncio.to_thread(outbox_status, config_file)
    assert status["unpublished"] == 40
    assert status["unpublished_per_channel"] == {"web": 40}

    await proxy.start()  # the broker becomes reachable; the same gateway process drains by itself
    try:
        await queue_reader.take_ids(set(accepted), timeout=30)
        assert {m.message_id for m in queue_reader.messages} == set(accepted)
        for _ in range(50):
            if (await asyncio.to_thread(outbox_status, config_file))["unpublished"] == 0:
                break
            await asyncio.sleep(0.1)
        assert (await asyncio.to_thread(outbox_status, config_file))["unpublished"] == 0
    finally:
        await proxy.stop()


async def test_link_cut_mid_load_loses_nothing(broker_names, make_gateway, http, queue_reader):
    proxy = TcpProxy(target_port=5672)
    await proxy.start()
    gateway = await make_gateway(broker=broker_names.config(url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/"))

    async def cut_twice() -> None:
        for _ in range(2):
            await asyncio.sleep(0.15)
            await proxy.stop()
            await asyncio.sleep(0.3)
            await proxy.start()

    try:
        results = await asyncio.gather(post_many(http, gateway, 300, "cut"), cut_twice())
        accepted = results[0]
        await queue_reader.take_ids(set(accepted), timeout=60)
        assert {m.message_id for m in queue_reader.messages} == set(accepted)
    finally:
        await proxy.stop()


async def test_confirms_lost_with_the_connection_are_retried_at_once_not_after_the_confirm_timeout(
    broker_names, make_gateway, http, queue_reader
):
    proxy = TcpProxy(target_port=5672)
    await proxy.start()
    broker = {**broker_names.config(url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/"), "confirm_timeout": 120.0}
    gateway = await make_gateway(broker=broker)
    try:
        await wait_connected(gateway, 5)
        proxy.hold_replies()  # the broker routes each report, but its confirms stay in the proxy
        accepted = await post_many(http, gateway, 30, "held")
        await queue_reader.take_ids(set(accepted), timeout=30)  # on the queue: sent, confirm held back
        assert gateway.publisher.backlog == 30
        await proxy.stop()  # the connection goes, and with it every confirm still owed
        await proxy.start()
        # Within 10 s, against a confirm timeout of 120 s.
        assert await wait_until_published(gateway), "the lost confirms waited for the confirm timeout"
    finally:
        await proxy.stop()


async def test_broker_side_close_all_connections_mid_load_loses_nothing(
    broker_names, make_gateway, http, queue_reader
):
    gateway = await make_gateway()
    await wait_connected(gateway, 5)

    async def close_from_broker() -> int:
        await asyncio.sleep(0.2)
        return await asyncio.to_thread(close_broker_connections, broker_names.connection_name)

    accepted, closed = await asyncio.gather(post_many(http, gateway, 400, "close"), close_from_broker())
    assert closed >= 1, "rabbitmqctl found no gateway connection to close"
    await queue_reader.take_ids(set(accepted), timeout=60)
    assert {m.message_id for m in queue_reader.messages} == set(accepted)
    async with http.get(f"{base_url(gateway)}/metrics") as response:
        metrics = await response.text()
    assert 'lapor_reports_published_total{channel="web"}' in metrics


async def test_outbox_replay_publishes_what_a_stopped_gateway_left_behind(
    tmp_path, broker_names, make_gateway, http, queue_reader
):
    proxy = TcpProxy(target_port=5672)  # never started: this gateway never reaches the broker
    gateway = await make_gateway(broker=broker_names.config(url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/"))
    accepted = await post_many(http, gateway, 25, "replay")
    await gateway.stop(drain_timeout=0.1)

    config_file = write_toml(tmp_path / "replay.toml", gateway_config_data(tmp_path, broker_names))
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gateway.cli", "outbox", "replay", "--timeout", "30", "--config", str(config_file)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "published 25; 0 still unpublished" in result.stdout
    await queue_reader.take_ids(set(accepted), timeout=10)
    assert (await asyncio.to_thread(outbox_status, config_file))["unpublished"] == 0


async def test_an_unroutable_report_is_retried_with_its_reason_until_a_queue_is_bound(
    broker_names, make_gateway, http
):
    # The operator manages the topology (declare_topology = false) and has not bound a queue yet:
    # the broker returns every mandatory publish. Nothing may be marked published or dropped.
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await channel.declare_exchange(broker_names.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    gateway = await make_gateway(broker={**broker_names.config(), "declare_topology": False})
    accepted = await post_many(http, gateway, 12, "unroutable")
    errors = await wait_for_errors(gateway, 12)
    assert len(errors) == 12
    assert all(error.startswith("unroutable: no queue bound for routing key report.") for error in errors), errors
    async with http.get(f"{base_url(gateway)}/metrics") as response:
        retries = re.search(r'^lapor_publish_retries_total\{channel="web"\} (\S+)', await response.text(), re.M)
    assert retries is not None and float(retries.group(1)) >= 12

    reader = QueueReader(broker_names)
    await reader.bind()  # a queue appears: the retries now land
    await reader.take_ids(set(accepted), timeout=30)
    assert await wait_until_published(gateway)


async def test_a_report_the_broker_nacks_is_retried_with_its_reason_until_it_is_taken(
    broker_names, make_gateway, http, queue_reader
):
    # A queue bound by someone else refuses every message (x-overflow reject-publish at length 0):
    # the broker nacks each publish. Nothing may be marked published or dropped meanwhile.
    full = f"{broker_names.queue}.full"
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(broker_names.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(full, arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
        await queue.bind(exchange, "#")
    try:
        gateway = await make_gateway(broker=broker_names.config())
        accepted = await post_many(http, gateway, 12, "nacked")
        assert await wait_for_errors(gateway, 12) == ["broker refused the message: Nack"] * 12
        assert gateway.publisher.backlog == 12

        await delete_queue(full)  # the refusing queue goes: the retries land
        assert await wait_until_published(gateway)
        await queue_reader.take_ids(set(accepted), timeout=10)
    finally:
        await delete_queue(full)


def unpublished_errors(gateway) -> list[str | None]:
    """The last publish error of every report not marked published."""
    with gateway.outbox.reader() as conn:
        return [row[0] for row in conn.execute("SELECT last_error FROM reports WHERE state != 2")]


async def wait_for_errors(gateway, count: int) -> list[str | None]:
    """``unpublished_errors`` once ``count`` reports each carry one, or after 10 s."""
    for _ in range(100):
        errors = unpublished_errors(gateway)
        if len(errors) == count and all(errors):
            break
        await asyncio.sleep(0.1)
    return errors


async def wait_until_published(gateway) -> bool:
    """True once every report is marked published and the publisher holds none (within 10 s)."""
    for _ in range(100):
        if not unpublished_errors(gateway) and gateway.publisher.backlog == 0:
            return True
        await asyncio.sleep(0.1)
    return False


async def delete_queue(name: str) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        await (await connection.channel()).queue_delete(name)

"""A gateway SIGKILLed between the commit and the send still acknowledges, once, after its restart."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.acks.conftest import API_CASES, acks_config, channels_config, citizen_mail, eventually, send_mail
from tests.conftest import gateway_config_data
from tests.support.process import GatewayProcess, write_toml
from tests.support.proxy import TcpProxy, free_port


def rows(database: Path) -> list[tuple[str, int, int]]:
    """(report_id, state, attempts) of every acknowledgement, read beside the running gateway."""
    try:
        with sqlite3.connect(database, timeout=5) as conn:
            return list(conn.execute("SELECT report_id, state, attempts FROM acks").fetchall())
    except sqlite3.OperationalError:
        return []


@pytest.fixture
async def links(providers, smtp_sink) -> AsyncIterator[tuple[TcpProxy, TcpProxy]]:
    """The gateway reaches the provider stand-in and the SMTP sink only through these; both start down."""
    api, relay = TcpProxy(int(providers.url.rsplit(":", 1)[1])), TcpProxy(smtp_sink.port)
    yield api, relay
    await api.stop()
    await relay.stop()


async def test_killed_between_commit_and_send_every_channel_still_acknowledges(
    tmp_path, broker_names, providers, smtp_sink, links
):
    api, relay = links
    port, smtp_port = free_port(), free_port()
    data = gateway_config_data(
        tmp_path, broker_names, http={"port": port}, logging={"level": "info"},
        channels=channels_config(f"http://127.0.0.1:{api.port}", smtp_port),
        acks=acks_config(relay.port, retry_max=0.3),
    )
    gateway = GatewayProcess(write_toml(tmp_path / "gateway.toml", data), port, tmp_path / "gateway.log",
                             module="tests.acks.harness")
    database = Path(data["storage"]["path"])
    try:
        await gateway.start()
        codes: dict[str, str] = {}
        async with aiohttp.ClientSession() as session:
            for case in API_CASES:
                raw = case.raw(f"Laporan lewat {case.name}: jalan rusak dan berlubang di dekat pasar")
                sender = {"phone": raw.sender.phone, "telegram_id": raw.sender.telegram_id,
                          "whatsapp_id": raw.sender.whatsapp_id}
                body = {"channel": raw.channel.value, "provider": raw.provider, "inbound_address": raw.inbound_address,
                        "message_id": raw.message_id, "body": raw.body,
                        "sender": {key: value for key, value in sender.items() if value}}
                async with session.post(f"{gateway.url}/test/raw", json=body) as response:
                    assert response.status == 202
                    codes[case.route] = (await response.json())["tracking_code"]
        await send_mail(smtp_port, citizen_mail("Laporan lewat email: saluran air mampet di depan sekolah"))
        # Every acknowledgement is committed and has failed at least once against the dead links.
        await eventually(lambda: len(rows(database)) == 7 and all(r[2] >= 1 and r[1] == 0 for r in rows(database)),
                         what="seven pending acknowledgements, each tried")
        gateway.kill()
        assert providers.received == [] and smtp_sink.mails == []

        await api.start()
        await relay.start()
        await gateway.start()
        await eventually(lambda: len(providers.received) == 6 and len(smtp_sink.mails) == 1, timeout=20,
                         what="every acknowledgement after the restart")
        await asyncio.sleep(1.0)  # a repeat would arrive within a few retry periods
        assert sorted(item.route for item in providers.received) == sorted(codes)
        for item in providers.received:
            assert codes[item.route] in item.text
        with sqlite3.connect(database) as conn:
            [(email_code,)] = conn.execute("SELECT tracking_code FROM reports WHERE channel='email'").fetchall()
        assert email_code.encode() in smtp_sink.mails[0].content
        assert all(state == 1 for _, state, _ in rows(database))
        assert gateway.terminate() == 0
    finally:
        gateway.stop_quietly()

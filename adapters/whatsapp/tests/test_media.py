"""Media after the answer: retried, stored, given up after media_timeout, and restart-safe."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

import pytest

from adapters.whatsapp.tests.conftest import APP_SECRET, payload_bytes, post_signed, stored_reports, whatsapp_section
from adapters.whatsapp.tests.standin import JPEG
from adapters.whatsapp.webhook import signature_for
from gateway.daemon import Gateway
from gateway.media import MediaFetcher
from tests.conftest import gateway_config_data
from tests.support.process import GatewayProcess, write_toml
from tests.support.proxy import free_port

IMAGE = "courier/image.json"  # media id "id_image"
BASE64_SHA_IMAGE = "built/image-base64-sha.json"  # media id "1003383421387256"


def fetcher_of(gateway: Gateway) -> MediaFetcher:
    [fetcher] = [s for s in gateway.context.services if isinstance(s, MediaFetcher)]
    return fetcher


async def published_report(queue_reader: Any, timeout: float = 30.0) -> dict[str, Any]:
    [message] = await queue_reader.take(1, timeout=timeout)
    report: dict[str, Any] = json.loads(message.body)
    return report


async def test_fetch_that_fails_then_succeeds_is_stored_and_answer_does_not_wait(
    graph, start_whatsapp, http, queue_reader
):
    medium = graph.add("id_image", JPEG, "image/jpeg", failures=2, status=503)
    gateway = await start_whatsapp()
    started = time.monotonic()
    status, answer = await post_signed(http, gateway, payload_bytes(IMAGE))
    assert status == 200 and time.monotonic() - started < 1.0
    assert await queue_reader.settle(0.3) == []  # held: the first fetches fail and back off

    report = await published_report(queue_reader)
    assert report["id"] == answer["reports"][0]["id"]
    [attachment] = report["attachments"]
    assert attachment["status"] == "stored"
    assert attachment["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert medium.metadata_requests == 3 and medium.download_requests == 1
    assert fetcher_of(gateway).pending_rows() == 0


async def test_fetch_that_never_succeeds_publishes_unavailable_after_media_timeout(
    graph, start_whatsapp, http, queue_reader
):
    medium = graph.add("1003383421387256", JPEG, "image/jpeg", failures=-1)
    gateway = await start_whatsapp(media_timeout=1.5)
    started = time.monotonic()
    status, answer = await post_signed(http, gateway, payload_bytes(BASE64_SHA_IMAGE))
    assert status == 200 and time.monotonic() - started < 1.0

    report = await published_report(queue_reader)
    waited = time.monotonic() - started
    assert 1.4 <= waited < 10, waited
    assert report["id"] == answer["reports"][0]["id"]
    assert report["body"] == "Jalan berlubang di depan SDN 3 #jalanrusak"
    [attachment] = report["attachments"]
    assert attachment["status"] == "unavailable" and attachment["url"] is None and attachment["sha256"] is None
    assert attachment["reason"].startswith("not fetched within 1.5s after ")
    assert "media host answered HTTP 500" in attachment["reason"]
    assert medium.metadata_requests >= 2 and medium.download_requests == 0
    assert fetcher_of(gateway).pending_rows() == 0


@pytest.mark.parametrize(("setup", "reason"), [
    ("unknown media id", "media host answered HTTP 400"),
    ("revoked access token", "media host answered HTTP 401"),
])
async def test_permanent_failure_is_unavailable_at_once(setup, reason, graph, start_whatsapp, http, queue_reader):
    gateway = await start_whatsapp(media_timeout=60)
    if setup == "revoked access token":
        graph.add("id_image", JPEG, "image/jpeg")
        graph.token = "a-token-the-gateway-does-not-have"
    started = time.monotonic()
    status, _ = await post_signed(http, gateway, payload_bytes(IMAGE))
    assert status == 200
    report = await published_report(queue_reader, timeout=10)
    assert time.monotonic() - started < 10  # not the 60 s media_timeout
    [attachment] = report["attachments"]
    assert (attachment["status"], attachment["reason"]) == ("unavailable", reason)


async def test_medium_over_the_size_cap_is_refused_without_reading_it_all(graph, start_whatsapp, http, queue_reader):
    graph.add("id_image", JPEG, "image/jpeg")
    gateway = await start_whatsapp({"storage": {"max_attachment_bytes": 1000}})
    status, _ = await post_signed(http, gateway, payload_bytes(IMAGE))
    assert status == 200
    [attachment] = (await published_report(queue_reader))["attachments"]
    assert (attachment["status"], attachment["reason"]) == ("refused", "larger than 1000 bytes")


async def test_redelivery_while_held_is_a_duplicate_and_fetched_once(graph, start_whatsapp, http, queue_reader):
    medium = graph.add("id_image", JPEG, "image/jpeg", failures=1)
    gateway = await start_whatsapp()
    body = payload_bytes(IMAGE)
    _, first = await post_signed(http, gateway, body)
    _, again = await post_signed(http, gateway, body)
    assert again["reports"] == [{**first["reports"][0], "duplicate": True}]
    await published_report(queue_reader)
    assert len(await queue_reader.settle(1.0)) == 1
    assert medium.download_requests == 1 and stored_reports(gateway) == 1


async def test_report_held_for_media_survives_a_restart(graph, start_whatsapp, http, queue_reader):
    medium = graph.add("id_image", JPEG, "image/jpeg", failures=-1)
    first = await start_whatsapp(media_timeout=120)
    status, answer = await post_signed(http, first, payload_bytes(IMAGE))
    assert status == 200
    while medium.metadata_requests < 1:
        await queue_reader.settle(0.05)
    await first.stop()
    assert queue_reader.messages == []
    assert fetcher_of(first).pending_rows() == 1

    medium.failures = 0  # Meta's media host is back while the gateway was down
    second = await start_whatsapp(media_timeout=120)
    report = await published_report(queue_reader)
    assert report["id"] == answer["reports"][0]["id"]
    assert report["tracking_code"] == answer["reports"][0]["tracking_code"]
    [attachment] = report["attachments"]
    assert attachment["status"] == "stored" and attachment["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert fetcher_of(second).pending_rows() == 0


async def test_media_deadline_passed_while_down_still_tries_once_then_publishes(
    graph, start_whatsapp, http, queue_reader
):
    medium = graph.add("id_image", JPEG, "image/jpeg", failures=-1)
    first = await start_whatsapp(media_timeout=120)
    await post_signed(http, first, payload_bytes(IMAGE))
    await first.stop()
    tried_before = medium.metadata_requests

    await start_whatsapp(media_timeout=0.2)  # the operator shortened it; the report is already older
    [attachment] = (await published_report(queue_reader))["attachments"]
    assert attachment["status"] == "unavailable"
    assert attachment["reason"].startswith("not fetched within 0.2s")
    assert medium.metadata_requests > tried_before


async def test_held_report_of_a_disabled_channel_is_published_not_stuck(
    graph, start_whatsapp, make_gateway, http, queue_reader
):
    graph.add("id_image", JPEG, "image/jpeg", failures=-1)
    first = await start_whatsapp(media_timeout=120)
    await post_signed(http, first, payload_bytes(IMAGE))
    await first.stop()

    await make_gateway(channels={"telegram": None})  # WhatsApp section removed from the config
    [attachment] = (await published_report(queue_reader))["attachments"]
    assert (attachment["status"], attachment["reason"]) == ("unavailable", "channel whatsapp is not configured")


async def test_sigkill_while_held_then_restart_publishes_with_the_media(tmp_path, broker_names, graph, http,
                                                                       queue_reader):
    medium = graph.add("id_image", JPEG, "image/jpeg", failures=-1)
    port = free_port()
    data = gateway_config_data(tmp_path, broker_names, http={"port": port}, logging={"level": "info"},
                               channels={"whatsapp": whatsapp_section(graph, media_timeout=120)})
    process = GatewayProcess(write_toml(tmp_path / "gateway.toml", data), port, tmp_path / "gateway.log")
    try:
        await process.start()
        body = payload_bytes(IMAGE)
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature_for(APP_SECRET, body)}
        async with http.post(f"{process.url}/webhooks/whatsapp", data=body, headers=headers) as response:
            assert response.status == 200
            answer = await response.json()
        while medium.metadata_requests < 1:
            await asyncio.sleep(0.05)
        process.kill()

        medium.failures = 0
        await process.start()
        report = await published_report(queue_reader)
    finally:
        process.stop_quietly()
    assert report["id"] == answer["reports"][0]["id"]
    [attachment] = report["attachments"]
    assert attachment["status"] == "stored" and attachment["sha256"] == hashlib.sha256(JPEG).hexdigest()

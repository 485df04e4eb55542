"""Kannel: get-url requests (fixture, UCS-2, charsets, '+' spaces) become the expected reports; tokens enforced."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, quote_from_bytes

import pytest

from adapters.sms.tests.support import KANNEL_TOKEN, nothing_published, sms_config, stored_reports, subset
from tests.conftest import base_url

TESTDATA = Path(__file__).parents[1] / "testdata"
PATH = "/webhooks/sms/kannel"


def fixture_request() -> str:
    lines = (TESTDATA / "kannel.txt").read_text().splitlines()
    return next(line for line in lines if line.startswith(PATH))


def ucs2(text: str) -> str:
    return quote_from_bytes(text.encode("utf-16-be"))


CASES = [
    pytest.param(fixture_request(), {
        "source.provider": "kannel", "source.inbound_address": "24453", "source.message_id": "asdf-asdf",
        "reporter.identity": "tel:+2349067554729", "body": "Join",
    }, id="user-guide-fixture"),
    pytest.param(f"{PATH}?sender=081234567890&to=1708&id=k1&coding=2&charset=UTF-16BE&text="
                 + ucs2("Longsor di Desa Banaran ⚠️ jalan tertutup"), {
        "body": "Longsor di Desa Banaran ⚠️ jalan tertutup", "urgency": "emergency",
        "reporter.identity": "tel:+6281234567890", "source.inbound_address": "1708",
    }, id="ucs2-utf16be-charset"),
    pytest.param(f"{PATH}?sender=%2B6285712345678&to=1708&id=k2&coding=2&text=" + ucs2("Ini 🚑 darurat"), {
        "body": "Ini 🚑 darurat", "urgency": "emergency",
    }, id="ucs2-coding-without-charset"),
    pytest.param(f"{PATH}?sender=6281234567890&to=1708&id=k3&text=Jalan+rusak+di+Jl.+Sudirman%2C+100%25+parah", {
        "body": "Jalan rusak di Jl. Sudirman, 100% parah", "reporter.phone": "+6281234567890",
    }, id="plus-spaces-and-percent"),
    pytest.param(f"{PATH}?sender={quote('０８１２３４５６７８９０')}&to=1708&id=k4&charset=ISO-8859-1"
                 "&text=caf%E9+tutup", {
        "body": "café tutup", "reporter.phone": "+6281234567890",
    }, id="latin1-charset-fullwidth-sender"),
    pytest.param(f"{PATH}?sender=0062%20812%203456%207890&to=1708&text=" + quote("ASPIRASI: tambah 🚌 TransJakarta"), {
        "kind": "aspiration", "reporter.phone": "+6281234567890", "source.message_id": None,
    }, id="utf8-emoji-no-id"),
]


@pytest.mark.parametrize(("target", "expected"), CASES)
async def test_request_becomes_expected_report(make_gateway, http, queue_reader, target, expected):
    gateway = await make_gateway(**sms_config())
    async with http.get(base_url(gateway) + target + "&token=" + KANNEL_TOKEN) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "text/plain"
        assert await response.text() == ""
    [message] = await queue_reader.take(1)
    report = json.loads(message.body)
    if expected.get("source.message_id", "") is None:
        expected = {**expected, "source.message_id": report["id"]}  # no Kannel id: the report's own
    assert subset(report, expected) == expected


async def test_bearer_token_form_post_and_no_token_in_stored_original(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config())
    async with http.post(base_url(gateway) + PATH, data={"sender": "081234567890", "to": "1708", "text": "Halo"},
                         headers={"Authorization": f"Bearer {KANNEL_TOKEN}"}) as response:
        assert response.status == 200
    async with http.get(f"{base_url(gateway)}{PATH}?sender=081234567890&token={KANNEL_TOKEN}&text=Dua") as response:
        assert response.status == 200
    await queue_reader.take(2)
    with gateway.outbox.reader() as conn:
        originals = [row[0] for row in conn.execute("SELECT data FROM raw_messages")]
    assert sorted(originals) == [b"sender=081234567890&text=Dua", b"sender=081234567890&to=1708&text=Halo"]


async def test_retried_id_is_published_once(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config())
    for _ in range(2):
        async with http.get(f"{base_url(gateway)}{fixture_request()}&token={KANNEL_TOKEN}") as response:
            assert response.status == 200
    await queue_reader.take(1)
    assert len(await queue_reader.settle(1.5)) == 1


@pytest.mark.parametrize(("query", "headers"), [
    pytest.param("", {}, id="missing-token"),
    pytest.param("&token=wrong", {}, id="wrong-token"),
    pytest.param(f"&token={KANNEL_TOKEN}x", {}, id="token-with-suffix"),
    pytest.param("", {"Authorization": "Bearer wrong"}, id="wrong-bearer"),
    pytest.param("", {"Authorization": f"Basic {KANNEL_TOKEN}"}, id="not-bearer"),
])
async def test_bad_token_is_403_and_nothing_stored(make_gateway, http, queue_reader, query, headers):
    gateway = await make_gateway(**sms_config())
    async with http.get(base_url(gateway) + fixture_request() + query, headers=headers) as response:
        assert response.status == 403
        assert (await response.json())["error"] == "forbidden"
    assert stored_reports(gateway) == 0
    assert await nothing_published(queue_reader)

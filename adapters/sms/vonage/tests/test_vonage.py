"""Vonage: GET, form and JSON inbound SMS become the expected reports; every signature method is enforced."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from adapters.sms.tests.support import (
    VONAGE_SECRET,
    form,
    nothing_published,
    signatures,
    sms_config,
    stored_reports,
    subset,
    vonage_signed,
)
from adapters.sms.vonage.handler import signature
from tests.conftest import base_url

TESTDATA = Path(__file__).parents[1] / "testdata"
PATH = "/webhooks/sms/vonage"


def fixture_fields() -> dict[str, str]:
    lines = (TESTDATA / "vonage-inbound.txt").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


FIXTURE = fixture_fields()


def vonage(**fields: str) -> dict[str, str]:
    base = {"to": "1708", "type": "text", "message-timestamp": "2026-11-23 19:00:00", "timestamp": "1795460400",
            "api-key": "abcd1234"}
    return {**base, **fields}


def send(http, gateway, how: str, params: dict[str, str]):
    url = base_url(gateway) + PATH
    if how == "get":
        return http.get(url + "?" + urlencode(params))
    if how == "json":
        return http.post(url, json=params)
    body, headers = form(params)
    return http.post(url, data=body, headers=headers)


CASES = [
    pytest.param("get", FIXTURE, {
        "source.provider": "vonage", "source.inbound_address": "447700900000",
        "source.message_id": "030000000926C4C2", "body": "Hello!",
        # 447700900xxx is Ofcom's drama range: not a valid number, so it is kept exactly as given.
        "reporter.phone": None, "reporter.address_as_given": "447700900001",
        "reporter.identity": "sms:447700900001",
    }, id="docs-fixture-get"),
    pytest.param("form", vonage(msisdn="6281234567890", messageId="0A01", text="Jalan+rusak & berlubang=bahaya"), {
        "reporter.identity": "tel:+6281234567890", "body": "Jalan+rusak & berlubang=bahaya",
        "source.inbound_address": "1708",
    }, id="form-reserved-characters"),
    pytest.param("json", vonage(msisdn="6285712345678", messageId="0A02", type="unicode",
                                text="Gempa! rumah roboh di Palu 😢 tolong"), {
        "urgency": "emergency", "body": "Gempa! rumah roboh di Palu 😢 tolong", "reporter.phone": "+6285712345678",
    }, id="json-unicode-emoji"),
    pytest.param("get", vonage(msisdn="6281234567890", messageId="0A03", text="INFO: jadwal   bansos bulan ini?"), {
        "kind": "information_request", "body": "INFO: jadwal bansos bulan ini?",
    }, id="get-info-keyword"),
    pytest.param("get", vonage(msisdn="6281234567890", messageId="0A04", text="#longsor jalan desa tertutup"), {
        "tags": ["longsor"], "urgency": "emergency",
    }, id="get-hashtag-disaster"),
]


@pytest.mark.parametrize(("how", "params", "expected"), CASES)
async def test_payload_becomes_expected_report(make_gateway, http, queue_reader, how, params, expected):
    gateway = await make_gateway(**sms_config())
    async with send(http, gateway, how, vonage_signed(params)) as response:
        assert response.status == 204, await response.text()
    [message] = await queue_reader.take(1)
    report = json.loads(message.body)
    assert subset(report, expected) == expected
    assert report["channel"] == "sms"


async def test_retried_message_id_is_published_once(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config())
    params = vonage_signed(vonage(msisdn="6281234567890", messageId="0Aretry", text="Sampah belum diangkut"))
    for how in ("get", "form", "json"):
        async with send(http, gateway, how, params) as response:
            assert response.status == 204
    await queue_reader.take(1)
    assert len(await queue_reader.settle(1.5)) == 1
    assert stored_reports(gateway) == 1


def test_shared_signature_vectors():
    vector = signatures()["vonage"]
    params = list(vector["params"].items())
    assert signature(vector["secret"], "md5hash", params) == vector["md5hash"]
    assert signature(vector["secret"], "sha256", params) == vector["sha256"]
    # the 'sig' parameter itself is never part of what is signed
    assert signature(vector["secret"], "md5hash", [*params, ("sig", "x")]) == vector["md5hash"]


@pytest.mark.parametrize("method", ["md5hash", "md5", "sha1", "sha256", "sha512"])
async def test_each_configured_method_is_verified(make_gateway, http, queue_reader, method):
    gateway = await make_gateway(**sms_config(vonage_method=method))
    params = vonage(msisdn="6281234567890", messageId=f"0A-{method}", text="Lampu jalan mati")
    other = "sha512" if method != "sha512" else "sha256"
    async with send(http, gateway, "get", vonage_signed(params, method=other)) as response:
        assert response.status == 403
    async with send(http, gateway, "get", vonage_signed(params, method=method)) as response:
        assert response.status == 204
    # Vonage's sig is hex; its case does not matter
    upper = {**params, "messageId": f"0B-{method}"}
    async with send(http, gateway, "get", {**upper, "sig": vonage_signed(upper, method)["sig"].upper()}) as r:
        assert r.status == 204
    await queue_reader.take(2)


GOOD = vonage(msisdn="6281234567890", messageId="0Abad", text="Pungli di kelurahan")


@pytest.mark.parametrize(("how", "params"), [
    pytest.param("get", {**vonage_signed(GOOD), "text": "Pungli di kelurahan!"}, id="tampered-text"),
    pytest.param("json", {**vonage_signed(GOOD), "msisdn": "6281111111111"}, id="tampered-sender"),
    pytest.param("form", GOOD, id="missing-sig"),
    pytest.param("get", vonage_signed(GOOD, secret=VONAGE_SECRET + "x"), id="wrong-secret"),
    pytest.param("get", {**vonage_signed(GOOD), "extra": "1"}, id="added-parameter"),
])
async def test_bad_signature_is_403_and_nothing_stored(make_gateway, http, queue_reader, how, params):
    gateway = await make_gateway(**sms_config())
    async with send(http, gateway, how, params) as response:
        assert response.status == 403
        assert (await response.json())["error"] == "forbidden"
    assert stored_reports(gateway) == 0
    assert await nothing_published(queue_reader)

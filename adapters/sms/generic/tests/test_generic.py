"""Generic: JSON, form and GET (UTF-8 or hex UCS-2) become the expected reports; the token is enforced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.sms.tests.support import GENERIC_TOKEN, nothing_published, sms_config, stored_reports, subset
from tests.conftest import base_url

TESTDATA = Path(__file__).parents[1] / "testdata"
PATH = "/webhooks/sms/generic"
AUTH = {"Authorization": f"Bearer {GENERIC_TOKEN}"}


def request(http, gateway, how: str, payload: str | bytes, headers: dict[str, str] | None = None):
    url = base_url(gateway) + PATH
    headers = {**AUTH, **(headers or {})}
    if how == "get":
        query = payload.decode() if isinstance(payload, bytes) else payload
        return http.get(f"{url}?{query}", headers=headers)
    content_type = "application/json" if how == "json" else "application/x-www-form-urlencoded"
    return http.post(url, data=payload, headers={"Content-Type": content_type, **headers})


CASES = [
    pytest.param("json", (TESTDATA / "inbound.json").read_bytes(), {
        "source.provider": "generic", "source.inbound_address": "1708", "source.message_id": "gw-20261123-0001",
        "reporter.identity": "tel:+6281234567890", "tags": ["pohontumbang"], "urgency": "high",
        "body": "Pohon tumbang menutup jalan di Jl. Diponegoro, mohon segera dibersihkan #pohontumbang",
    }, id="json-fixture"),
    pytest.param("form", (TESTDATA / "inbound.form").read_bytes(), {
        "source.message_id": "gw-20261123-0002", "kind": "aspiration", "reporter.phone": "+6281234567890",
        "body": "Saran: perbanyak tempat sampah di alun-alun",
    }, id="form-fixture"),
    pytest.param("get", "from=081234567890&id=g3&coding=ucs2&text=" + "Kebakaran 🔥 pasar".encode("utf-16-be").hex(), {
        "body": "Kebakaran 🔥 pasar", "urgency": "emergency", "source.inbound_address": "1708",
    }, id="get-ucs2-hex"),
    pytest.param("get", "from=%2B1+650+555+1234&to=1708&id=g4&text=Road+broken+near+the+school", {
        "reporter.phone": "+16505551234", "language": "en",
    }, id="get-foreign-number-plus-spaces"),
]


@pytest.mark.parametrize(("how", "payload", "expected"), CASES)
async def test_payload_becomes_expected_report(make_gateway, http, queue_reader, how, payload, expected):
    gateway = await make_gateway(**sms_config())
    async with request(http, gateway, how, payload) as response:
        assert response.status == 200, await response.text()
        answer = await response.json()
    [message] = await queue_reader.take(1)
    report = json.loads(message.body)
    assert subset(report, expected) == expected
    assert answer == {"status": "accepted", "id": report["id"], "tracking_code": report["tracking_code"]}


async def test_repeat_answers_the_original(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config())
    answers = []
    for _ in range(2):
        async with request(http, gateway, "json", (TESTDATA / "inbound.json").read_bytes()) as response:
            answers.append(await response.json())
    assert answers[1] == {**answers[0], "status": "duplicate"}
    await queue_reader.take(1)
    assert len(await queue_reader.settle(1.0)) == 1


async def test_two_part_message_is_one_report(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config())
    parts = [("2", "di RT 05 belum diperbaiki"), ("1", "Jembatan gantung putus ")]
    statuses = []
    for number, text in parts:
        payload = json.dumps({"from": "081234567890", "id": f"p{number}", "text": text,
                              "concat-ref": "77", "concat-total": "2", "concat-part": number})
        async with request(http, gateway, "json", payload) as response:
            statuses.append((await response.json())["status"])
    assert statuses == ["part_stored", "accepted"]
    [message] = await queue_reader.take(1)
    assert json.loads(message.body)["body"] == "Jembatan gantung putus di RT 05 belum diperbaiki"


@pytest.mark.parametrize("headers", [
    pytest.param({"Authorization": ""}, id="missing"),
    pytest.param({"Authorization": "Bearer " + GENERIC_TOKEN[:-1]}, id="truncated"),
    pytest.param({"Authorization": "Bearer " + GENERIC_TOKEN.upper()}, id="other-case"),
])
async def test_bad_token_is_403_and_nothing_stored(make_gateway, http, queue_reader, headers):
    gateway = await make_gateway(**sms_config())
    async with request(http, gateway, "json", (TESTDATA / "inbound.json").read_bytes(), headers) as response:
        assert response.status == 403
    assert stored_reports(gateway) == 0
    assert await nothing_published(queue_reader)

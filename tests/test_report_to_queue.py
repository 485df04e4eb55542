"""A report posted over HTTP arrives on the queue, valid against the committed JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tests.conftest import base_url
from tests.support.garbage import cyclic_garbage

SCHEMA = json.loads(Path(__file__).parents[1].joinpath("schemas/report-v1.schema.json").read_text())


async def test_posted_report_arrives_on_queue_valid_and_routed(make_gateway, http, queue_reader):
    gateway = await make_gateway(routing={"default_agency": "pemkot-bandung"})
    payload = {
        "body": "Jalan di depan SDN 3 berlubang besar, sudah 2 minggu. #jalanrusak",
        "kind": "complaint",
        "subject": "Jalan berlubang",
        "name": "Siti",
        "phone": "0812-3456-7890",
        "email": "Siti@Example.ID",
        "location": {"latitude": -6.9147, "longitude": 107.6098, "address": "Jl. Merdeka 1"},
    }
    async with http.post(f"{base_url(gateway)}/v1/reports", json=payload, headers={"Idempotency-Key": "k-1"}) as r:
        assert r.status == 202
        accepted = await r.json()

    [message] = await queue_reader.take(1)
    report = json.loads(message.body)
    jsonschema.validate(report, SCHEMA)
    assert message.message_id == report["id"] == accepted["id"]
    assert report["tracking_code"] == accepted["tracking_code"]
    assert message.routing_key == "report.pemkot-bandung.complaint.web"
    assert message.content_type == "application/json"
    assert message.delivery_mode == 2
    assert message.type == "lapor.report"
    assert {k: message.headers[k] for k in ("schema", "channel", "kind")} == {
        "schema": "lapor.report/1", "channel": "web", "kind": "complaint"}
    assert report["source"] == {"provider": "api", "inbound_address": "web", "message_id": "k-1", "thread_ref": None}
    assert report["reporter"]["identity"] == "tel:+6281234567890"
    assert report["reporter"]["phone"] == "+6281234567890"
    assert report["reporter"]["email"] == "siti@example.id"
    assert report["tags"] == ["jalanrusak"]
    assert report["language"] == "id"
    assert report["location"]["source"] == "gps"
    assert report["raw"]["content_type"] == "application/json"


async def test_repeat_with_same_idempotency_key_returns_original_and_is_not_published_twice(
    make_gateway, http, queue_reader
):
    gateway = await make_gateway()
    url = f"{base_url(gateway)}/v1/reports"
    answers = []
    for status in (202, 200, 200):
        async with http.post(url, json={"body": "Lampu jalan mati"}, headers={"Idempotency-Key": "same"}) as r:
            assert r.status == status
            answers.append(await r.json())
    assert len({(a["id"], a["tracking_code"]) for a in answers}) == 1
    assert [a["status"] for a in answers] == ["accepted", "duplicate", "duplicate"]
    await queue_reader.take(1)
    assert len(await queue_reader.settle(1.5)) == 1


async def test_tracking_codes_are_unique_and_unambiguous(make_gateway, http, queue_reader):
    gateway = await make_gateway()
    codes = set()
    for index in range(50):
        async with http.post(f"{base_url(gateway)}/v1/reports", json={"body": f"laporan {index}"}) as r:
            assert r.status == 202
            codes.add((await r.json())["tracking_code"])
    assert len(codes) == 50
    for code in codes:
        assert code.startswith("LPR-") and len(code) == 12
        assert not set(code[4:]) & set("01OI")
    await queue_reader.take(50)


async def test_an_accepted_report_leaves_no_reference_cycle_behind(make_gateway, http, queue_reader):
    gateway = await make_gateway()
    with cyclic_garbage() as found:
        for index in range(3):
            async with http.post(f"{base_url(gateway)}/v1/reports", json={"body": f"Lampu jalan mati {index}"},
                                 headers={"Idempotency-Key": f"cycle-{index}"}) as response:
                assert response.status == 202
            async with http.post(f"{base_url(gateway)}/v1/reports", json={"body": f"Lampu jalan mati {index}"},
                                 headers={"Idempotency-Key": f"cycle-{index}"}) as response:
                assert response.status == 200  # an exact repeat takes the other way out
    assert not found

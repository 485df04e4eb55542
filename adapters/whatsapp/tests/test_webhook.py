"""WhatsApp webhooks end to end: real public payloads in, normalised reports out of RabbitMQ."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import structlog
from openapi_spec_validator import validate

from adapters.whatsapp.tests.conftest import (
    APP_SECRET,
    VERIFY_TOKEN,
    nothing_published,
    payload_bytes,
    post_signed,
    stored_reports,
)
from adapters.whatsapp.tests.standin import JPEG, MP4, OGG, PDF, WEBP
from adapters.whatsapp.webhook import signature_for
from tests.conftest import base_url

COURIER_SENDER = {"identity": "tel:+250788123123", "phone": "+250788123123", "whatsapp_id": "250788123123",
                  "name": "Kerry Fisher"}
COURIER_SOURCE = {"provider": "meta", "inbound_address": "12345", "message_id": "external_id", "thread_ref": None}
BUDI = {"identity": "tel:+6281234567890", "phone": "+6281234567890", "whatsapp_id": "6281234567890",
        "name": "Budi Santoso"}

# (fixture, media the Graph stand-in serves {id: (bytes, mime)}, expected report fields, expected attachment)
CASES: list[tuple[str, dict[str, tuple[bytes, str]], dict[str, Any], dict[str, Any] | None]] = [
    ("meta-text.json", {}, {
        "body": "Does it come in another color?",
        "reporter": {"identity": "tel:+16505551234", "phone": "+16505551234", "whatsapp_id": "16505551234",
                     "name": "Sheena Nelson"},
        "source": {"provider": "meta", "inbound_address": "106540352242922",
                   "message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", "thread_ref": None},
        "location": None}, None),
    ("courier/image.json", {"id_image": (JPEG, "image/jpeg")},
     {"body": "Check out my new phone!", "reporter": COURIER_SENDER, "source": COURIER_SOURCE},
     {"content_type": "image/jpeg", "data": JPEG}),
    ("courier/document.json", {"id_document": (PDF, "application/pdf")},
     {"body": "80skaraokesonglistartist", "reporter": COURIER_SENDER},
     {"content_type": "application/pdf", "data": PDF}),
    # The payload claims image/jpeg for an audio message: the stored type comes from the bytes.
    ("courier/audio.json", {"id_audio": (OGG, "audio/ogg")},
     {"body": "Check out my new phone!"}, {"content_type": "audio/ogg", "data": OGG}),
    ("courier/voice.json", {"id_voice": (OGG, "audio/ogg; codecs=opus")},
     {"body": ""}, {"content_type": "audio/ogg", "data": OGG}),
    ("courier/video.json", {"id_video": (MP4, "video/mp4")},
     {"body": "Check out my new phone!"}, {"content_type": "video/mp4", "data": MP4}),
    # wa_id "5678" is no phone number: kept verbatim, the identity says where it came from.
    ("courier/sticker.json", {"id_sticker": (WEBP, "image/webp")},
     {"body": "", "reporter": {"identity": "whatsapp:+5678", "phone": None, "address_as_given": "+5678",
                               "whatsapp_id": "5678", "name": "Kerry Fisher"}},
     {"content_type": "image/webp", "data": WEBP}),
    ("courier/location.json", {}, {
        "body": "", "reporter": COURIER_SENDER,
        "location": {"latitude": 0.0, "longitude": 1.0, "address": "Main Street Beach, Santa Cruz, CA",
                     "source": "whatsapp"}}, None),
    ("courier/button.json", {}, {
        "body": "No", "source": {**COURIER_SOURCE, "thread_ref": "gBGGFmkiWVVPAgkgQkwi7IORac0"}}, None),
    ("courier/button_reply.json", {}, {"body": "Yes", "reporter": COURIER_SENDER}, None),
    ("courier/list_reply.json", {}, {"body": "Yes", "reporter": COURIER_SENDER}, None),
    ("built/contacts.json", {}, {"body": "Siti Aminah: +62 811-2233-4455", "reporter": BUDI}, None),
    ("built/unsupported.json", {}, {"body": "", "reporter": BUDI, "attachments": []}, None),
    ("built/image-base64-sha.json", {"1003383421387256": (JPEG, "image/jpeg")},
     {"body": "Jalan berlubang di depan SDN 3 #jalanrusak", "tags": ["jalanrusak"], "reporter": BUDI,
      "language": "id"}, {"content_type": "image/jpeg", "data": JPEG}),
]


def subset(actual: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """``actual`` cut down to the keys ``expected`` names (nested), for one readable assertion."""
    return {key: subset(actual[key], value) if isinstance(value, dict) and isinstance(actual.get(key), dict)
            else actual.get(key) for key, value in expected.items()}


@pytest.mark.parametrize(("fixture", "media", "expected", "attachment"), CASES, ids=[c[0] for c in CASES])
async def test_payload_becomes_report(fixture, media, expected, attachment, graph, start_whatsapp, http, queue_reader):
    for media_id, (data, mime) in media.items():
        graph.add(media_id, data, mime)
    gateway = await start_whatsapp()
    body = payload_bytes(fixture)
    status, answer = await post_signed(http, gateway, body)
    assert status == 200, answer
    [accepted] = answer["reports"]
    assert accepted["duplicate"] is False and answer["statuses"] == 0

    [message] = await queue_reader.take(1)
    report = json.loads(message.body)
    assert report["id"] == accepted["id"] and report["tracking_code"] == accepted["tracking_code"]
    assert report["channel"] == "whatsapp"
    assert message.routing_key == "report.unassigned.complaint.whatsapp"
    assert subset(report, expected) == expected
    assert report["raw"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert gateway.outbox.raw_original(report["raw"]["sha256"]) == ("application/json", body)
    if attachment is None:
        assert report["attachments"] == []
        return
    [stored] = report["attachments"]
    assert stored["status"] == "stored" and stored["content_type"] == attachment["content_type"]
    assert stored["sha256"] == hashlib.sha256(attachment["data"]).hexdigest()
    assert await asyncio.to_thread(Path(urlparse(stored["url"]).path).read_bytes) == attachment["data"]
    assert graph.unauthorized == 0


async def test_status_callbacks_are_acknowledged_not_reports(graph, start_whatsapp, http, queue_reader):
    gateway = await start_whatsapp()
    status, answer = await post_signed(http, gateway, payload_bytes("courier/valid_status.json"))
    assert (status, answer) == (200, {"reports": [], "statuses": 1})
    assert await nothing_published(queue_reader)
    assert stored_reports(gateway) == 0


async def test_three_messages_and_a_status_are_three_reports_and_a_redelivery_adds_none(
    graph, start_whatsapp, http, queue_reader
):
    gateway = await start_whatsapp()
    body = payload_bytes("built/three-messages-one-status.json")
    status, first = await post_signed(http, gateway, body)
    assert status == 200 and first["statuses"] == 1
    assert [r["duplicate"] for r in first["reports"]] == [False, False, False]
    messages = await queue_reader.take(3)
    reports = {r["source"]["message_id"]: r for r in queue_reader.bodies()}
    assert {m.message_id for m in messages} == {r["id"] for r in first["reports"]}
    assert {k: (r["reporter"]["name"], r["source"]["inbound_address"], r["body"]) for k, r in reports.items()} == {
        "wamid.multi-1": ("Budi Santoso", "106540352242922", "Lampu jalan mati di Jl. Merdeka"),
        "wamid.multi-2": ("Siti Aminah", "106540352242922", "Sampah menumpuk di pasar"),
        "wamid.multi-3": ("Budi Santoso", "106540352242923", "Banjir setinggi lutut di Dayeuhkolot"),
    }

    status, again = await post_signed(http, gateway, body)  # Meta re-delivers the same payload
    assert status == 200
    assert again["reports"] == [{**r, "duplicate": True} for r in first["reports"]]
    assert len(await queue_reader.settle(1.5)) == 3
    assert stored_reports(gateway) == 3


async def test_verification_handshake(graph, start_whatsapp, http):
    gateway = await start_whatsapp()
    url = f"{base_url(gateway)}/webhooks/whatsapp"
    good = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    async with http.get(url, params=good) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert await response.text() == "1158201444"
    refused = [
        {**good, "hub.verify_token": "wrong"}, {**good, "hub.verify_token": VERIFY_TOKEN + "x"},
        {**good, "hub.verify_token": ""}, {**good, "hub.mode": "unsubscribe"},
        {k: v for k, v in good.items() if k != "hub.verify_token"}, {},
    ]
    for params in refused:
        async with http.get(url, params=params) as response:
            assert response.status == 403, params
            assert (await response.json())["error"] == "forbidden"
    for params in ({k: v for k, v in good.items() if k != "hub.challenge"}, {**good, "hub.challenge": "9" * 1000}):
        async with http.get(url, params=params) as response:
            assert response.status == 400
            assert (await response.json())["field"] == "hub.challenge"


def test_signature_matches_the_public_meta_vector():
    vector = json.loads(payload_bytes("signatures.json"))["meta"]
    assert signature_for(vector["app_secret"], vector["raw_body"].encode()) == vector["header"]


async def test_meta_vector_passes_the_signature_check_then_fails_as_json(start_whatsapp, graph, http):
    vector = json.loads(payload_bytes("signatures.json"))["meta"]
    gateway = await start_whatsapp(app_secret=vector["app_secret"])
    status, answer = await post_signed(http, gateway, vector["raw_body"].encode(), signature=vector["header"])
    assert (status, answer["error"]) == (400, "malformed_json")
    status, answer = await post_signed(http, gateway, b"tesT", signature=vector["header"])
    assert (status, answer["error"]) == (403, "forbidden")


def _signatures(body: bytes) -> list[str | None]:
    good = signature_for(APP_SECRET, body)
    return [
        None, "", "sha256=", good[len("sha256="):], good.upper(), "sha1=" + good[7:], good[:-1], good + "0",
        signature_for(APP_SECRET + "x", body), signature_for(APP_SECRET, body + b" "), "sha256=" + "0" * 64,
    ]


async def test_bad_signatures_are_403_nothing_stored_body_not_logged(graph, start_whatsapp, http, queue_reader):
    gateway = await start_whatsapp()
    body = payload_bytes("meta-text.json")
    url = f"{base_url(gateway)}/webhooks/whatsapp"
    with structlog.testing.capture_logs() as events:
        for signature in _signatures(body):
            headers = {"Content-Type": "application/json"}
            if signature is not None:
                headers["X-Hub-Signature-256"] = signature
            async with http.post(url, data=body, headers=headers) as response:
                assert response.status == 403, signature
                answer = await response.json()
                assert answer["error"] == "forbidden" and "X-Hub-Signature-256" in answer["message"]
    refusals = [e for e in events if e["event"] == "whatsapp webhook refused: bad signature"]
    assert len(refusals) == len(_signatures(body)) and all(e["log_level"] == "warning" for e in refusals)
    logged = repr(events)
    assert "another color" not in logged and "16505551234" not in logged and APP_SECRET not in logged
    assert stored_reports(gateway) == 0
    assert await nothing_published(queue_reader, 0.5)


def _signed_payload(messages: Any) -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"metadata": {"phone_number_id": "1"}, "messages": messages}}]}]}).encode()


HOSTILE: list[tuple[str, bytes, int, str]] = [
    ("not json", b"{nope", 400, "malformed_json"),
    ("not utf-8", b'{"object": "whatsapp_business_account", "x": "\xff\xfe"}', 400, "invalid_encoding"),
    ("nested too deeply", b"[" * 200_000 + b"]" * 200_000, 400, "malformed_json"),
    ("number of 5000 digits", b'{"object": ' + b"7" * 5000 + b"}", 400, "malformed_json"),
    ("array", b"[]", 422, "invalid_fields"),
    ("other object", b'{"object": "page", "entry": []}', 422, "invalid_fields"),
    ("entry not a list", b'{"object": "whatsapp_business_account", "entry": 5}', 422, "invalid_fields"),
    ("messages not a list", _signed_payload({"id": "x"}), 422, "invalid_fields"),
    ("text body a number", _signed_payload([{"from": "1", "id": "w", "type": "text", "text": {"body": 5}}]),
     422, "invalid_fields"),
    ("image without id", _signed_payload([{"from": "1", "id": "w", "type": "image", "image": {}}]),
     422, "invalid_fields"),
]


@pytest.mark.parametrize(("body", "status", "code"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
async def test_hostile_signed_bodies_get_clear_errors_and_nothing_stored(body, status, code, graph, start_whatsapp,
                                                                          http):
    gateway = await start_whatsapp()
    got, answer = await post_signed(http, gateway, body)
    assert (got, answer["error"]) == (status, code), answer
    assert stored_reports(gateway) == 0


async def test_oversized_body_is_413(graph, start_whatsapp, http):
    gateway = await start_whatsapp({"http": {"max_body_bytes": 4096}})
    body = _signed_payload([{"from": "6281234567890", "id": "w", "type": "text", "text": {"body": "x" * 8000}}])
    status, answer = await post_signed(http, gateway, body)
    assert (status, answer["error"]) == (413, "body_too_large")
    assert stored_reports(gateway) == 0


async def test_openapi_documents_both_whatsapp_operations_validly(start_whatsapp, http):
    gateway = await start_whatsapp()
    async with http.get(f"{base_url(gateway)}/openapi.json") as response:
        document = await response.json()
    validate(document)
    operations = document["paths"]["/webhooks/whatsapp"]
    assert operations["get"]["operationId"] == "whatsappVerify"
    assert set(operations["post"]["responses"]) == {"200", "400", "403", "413", "422", "503"}


async def test_phone_number_id_routes_to_its_agency(start_whatsapp, http, queue_reader):
    gateway = await start_whatsapp({"routing": {"addresses": {"106540352242922": "dinas-pu"}}})
    status, _ = await post_signed(http, gateway, payload_bytes("meta-text.json"))
    assert status == 200
    [message] = await queue_reader.take(1)
    assert message.routing_key == "report.dinas-pu.complaint.whatsapp"
    assert json.loads(message.body)["agency"] == "dinas-pu"

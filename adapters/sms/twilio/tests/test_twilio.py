"""Twilio: fixture and Indonesian payloads become the expected reports; X-Twilio-Signature is enforced."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from adapters.sms.tests.support import (
    PUBLIC_URL,
    TWILIO_TOKEN,
    form,
    nothing_published,
    signatures,
    sms_config,
    stored_reports,
    subset,
    twilio_headers,
)
from adapters.sms.twilio.handler import EMPTY_TWIML, signature, url_variants, valid_signature
from tests.conftest import base_url

TESTDATA = Path(__file__).parents[1] / "testdata"
PATH = "/webhooks/sms/twilio"
FIXTURE = dict(parse_qsl((TESTDATA / "twilio-inbound.form").read_text().strip(), keep_blank_values=True))


def twilio(**fields: str) -> dict[str, str]:
    base = {"AccountSid": "AC0123", "ApiVersion": "2010-04-01", "NumMedia": "0", "NumSegments": "1",
            "SmsStatus": "received", "To": "1708"}
    return {**base, **fields}


CASES = [
    pytest.param(FIXTURE, {
        "source.provider": "twilio", "source.inbound_address": "+12028831111",
        "source.message_id": "SMe287d7109a5a925f182f0e07fe5b223b", "reporter.identity": "tel:+14133881111",
        "reporter.phone": "+14133881111", "body": "Msg", "channel": "sms", "kind": "complaint", "urgency": "normal",
    }, id="courier-fixture"),
    pytest.param(twilio(MessageSid="SM01", From="+6281234567890",
                        Body="Banjir setinggi lutut di Kampung Melayu sejak pagi #banjir"), {
        "source.inbound_address": "1708", "reporter.identity": "tel:+6281234567890",
        "tags": ["banjir"], "urgency": "high", "language": "id", "kind": "complaint",
    }, id="indonesian-flood-hashtag"),
    pytest.param(twilio(MessageSid="SM02", From="+6285712345678",
                        Body="ASPIRASI   mohon taman kota\r\n\r\n\r\ndiperbanyak 🌳🙏 "), {
        "kind": "aspiration", "body": "ASPIRASI mohon taman kota\n\ndiperbanyak 🌳🙏",
        "reporter.phone": "+6285712345678",
    }, id="aspiration-keyword-emoji-whitespace"),
    pytest.param(twilio(MessageSid="SM03", From="INFOSMS", Body="INFO jadwal vaksin di puskesmas?"), {
        "kind": "information_request", "reporter.phone": None, "reporter.address_as_given": "INFOSMS",
        "reporter.identity": "sms:INFOSMS",
    }, id="alphanumeric-sender-kept-as-given"),
    pytest.param(twilio(MessageSid="SM04", From="+6281234567890", Body="Gempa! rumah roboh 100% rusak & retak"), {
        "urgency": "emergency", "body": "Gempa! rumah roboh 100% rusak & retak",
    }, id="emergency-and-reserved-characters"),
]


@pytest.mark.parametrize(("params", "expected"), CASES)
async def test_payload_becomes_expected_report(make_gateway, http, queue_reader, params, expected):
    gateway = await make_gateway(**sms_config())
    body, headers = form(params)
    headers |= twilio_headers(PATH, params)
    async with http.post(base_url(gateway) + PATH, data=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "text/xml"
        assert await response.text() == EMPTY_TWIML
    [message] = await queue_reader.take(1)
    report = json.loads(message.body)
    assert subset(report, expected) == expected
    assert report["raw"]["content_type"] == "application/x-www-form-urlencoded"


async def test_retried_message_sid_is_published_once(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config())
    params = twilio(MessageSid="SMretry", From="+6281234567890", Body="Lampu jalan mati")
    body, headers = form(params)
    for _ in range(3):
        async with http.post(base_url(gateway) + PATH, data=body,
                             headers=headers | twilio_headers(PATH, params)) as response:
            assert response.status == 200
    await queue_reader.take(1)
    assert len(await queue_reader.settle(1.5)) == 1
    assert stored_reports(gateway) == 1


def test_shared_signature_vector():
    vector = signatures()["twilio"]
    params = list(vector["params"].items())
    assert signature(vector["auth_token"], vector["url"], params) == vector["signature"]
    assert valid_signature(vector["auth_token"], vector["url"], params, vector["signature"])
    assert not valid_signature("54321", vector["url"], params, vector["signature"])
    assert not valid_signature(vector["auth_token"], vector["url"] + "&x=1", params, vector["signature"])


@pytest.mark.parametrize(("signed", "received"), [
    ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "https://mycompany.com/myapp.php?foo=1&bar=2"),
    ("https://mycompany.com/myapp.php?foo=1&bar=2", "https://mycompany.com:443/myapp.php?foo=1&bar=2"),
    ("http://mycompany.com:80/myapp.php", "http://mycompany.com/myapp.php"),
])
def test_default_port_variants_are_accepted(signed, received):
    vector = signatures()["twilio"]
    params = list(vector["params"].items())
    assert valid_signature(vector["auth_token"], received, params, signature(vector["auth_token"], signed, params))


def test_a_non_default_port_is_not_a_variant():
    assert url_variants("https://mycompany.com:8443/x") == ["https://mycompany.com:8443/x"]


async def test_signature_over_public_url_with_query_and_default_port(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config())
    params = twilio(MessageSid="SMport", From="+6281234567890", Body="Sampah menumpuk")
    path = PATH + "?agency=dlh&x=a%20b"
    body, headers = form(params)
    signed_url = PUBLIC_URL.replace(".go.id", ".go.id:443") + path
    async with http.post(base_url(gateway) + path, data=body,
                         headers=headers | twilio_headers(path, params, url=signed_url)) as response:
        assert response.status == 200
    await queue_reader.take(1)


async def test_get_webhook_is_signed_over_its_url(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config())
    path = PATH + "?" + urlencode(twilio(MessageSid="SMget", From="+6281234567890", Body="Lampu+mati & gelap"))
    async with http.get(base_url(gateway) + path, headers=twilio_headers(path, {})) as response:
        assert response.status == 200
    async with http.get(base_url(gateway) + path + "&x=1", headers=twilio_headers(path, {})) as response:
        assert response.status == 403
    [message] = await queue_reader.take(1)
    assert json.loads(message.body)["body"] == "Lampu+mati & gelap"


async def test_without_public_url_the_request_url_is_what_was_signed(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config(public_url=None))
    params = twilio(MessageSid="SMdirect", From="+6281234567890", Body="Langsung tanpa proxy")
    body, headers = form(params)
    signed = twilio_headers(PATH, params, url=base_url(gateway) + PATH)
    async with http.post(base_url(gateway) + PATH, data=body, headers=headers | signed) as response:
        assert response.status == 200
    async with http.post(base_url(gateway) + PATH, data=body, headers=headers | twilio_headers(PATH, params)) as r:
        assert r.status == 403  # signed for the public URL, which this deployment does not have
    await queue_reader.take(1)


GOOD = twilio(MessageSid="SMbad", From="+6281234567890", Body="Jalan berlubang")


@pytest.mark.parametrize(("sent", "headers"), [
    pytest.param({**GOOD, "Body": "Jalan berlubang!"}, twilio_headers(PATH, GOOD), id="tampered-body"),
    pytest.param(GOOD, twilio_headers(PATH + "?x=1", GOOD), id="tampered-url"),
    pytest.param(GOOD, twilio_headers(PATH, GOOD, url="https://evil.example" + PATH), id="other-host"),
    pytest.param(GOOD, {}, id="missing-header"),
    pytest.param(GOOD, twilio_headers(PATH, GOOD, token=TWILIO_TOKEN + "x"), id="wrong-secret"),
])
async def test_bad_signature_is_403_and_nothing_stored(make_gateway, http, queue_reader, sent, headers):
    gateway = await make_gateway(**sms_config())
    body, form_headers = form(sent)
    async with http.post(base_url(gateway) + PATH, data=body, headers=form_headers | headers) as response:
        assert response.status == 403
        assert (await response.json())["error"] == "forbidden"
    assert stored_reports(gateway) == 0
    assert await nothing_published(queue_reader)
    async with http.get(base_url(gateway) + "/metrics") as response:
        assert 'lapor_requests_rejected_total{channel="sms",reason="signature"} 1.0' in await response.text()

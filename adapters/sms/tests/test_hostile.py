"""Hostile and malformed webhook requests get a 4xx JSON error (never a 500) and store nothing."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from adapters.sms.tests.support import (
    GENERIC_TOKEN,
    KANNEL_TOKEN,
    PUBLIC_URL,
    sms_config,
    stored_parts,
    stored_reports,
    twilio_headers,
    vonage_signed,
)
from adapters.sms.twilio.handler import signature as twilio_signature
from tests.conftest import base_url

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BEARER = {"Authorization": f"Bearer {GENERIC_TOKEN}"}
GENERIC = "/webhooks/sms/generic"
KANNEL = f"/webhooks/sms/kannel?token={KANNEL_TOKEN}&sender=081234567890"


def generic_json(**fields: object) -> bytes:
    return json.dumps({"from": "081234567890", "id": "h1", "text": "teks", **fields}).encode()


def twilio_raw_body(body: bytes) -> dict[str, str]:
    """Headers for a Twilio POST whose body is not even decodable (the signature cannot be checked)."""
    return FORM | {"X-Twilio-Signature": twilio_signature("x", PUBLIC_URL + "/webhooks/sms/twilio", [])}


CASES = [
    # (method, path, headers, body, status, error)
    pytest.param("POST", GENERIC, BEARER | FORM, b"from=1&text=" + b"a" * 5000, 413, "body_too_large", id="oversized"),
    pytest.param("POST", "/webhooks/sms/twilio", twilio_raw_body(b""), b"x=" + b"b" * 5000, 413, "body_too_large",
                 id="oversized-twilio"),
    pytest.param("POST", GENERIC, BEARER | FORM, b"from=081234567890&text=%FF%FEabc", 400, "invalid_encoding",
                 id="percent-encoded-invalid-utf8"),
    pytest.param("POST", GENERIC, BEARER | FORM, b"from=081234567890&text=\xc3\x28", 400, "invalid_encoding",
                 id="raw-invalid-utf8"),
    pytest.param("POST", "/webhooks/sms/twilio", twilio_raw_body(b""), b"From=%2B62812&Body=%C0%AF", 400,
                 "invalid_encoding", id="twilio-invalid-utf8"),
    pytest.param("POST", "/webhooks/sms/vonage", FORM, b"msisdn=62812&text=\xff\xfe&sig=00", 400, "invalid_encoding",
                 id="vonage-invalid-utf8"),
    pytest.param("POST", GENERIC, BEARER | FORM, b"\x00\x01\x02=\x03&&==&\x7f", 400, "malformed_form",
                 id="garbage-form"),
    pytest.param("POST", GENERIC, BEARER | FORM, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 400, "invalid_encoding",
                 id="binary-as-form"),
    pytest.param("POST", GENERIC, BEARER | FORM, "&".join(f"k{i}=v" for i in range(150)).encode(), 400,
                 "malformed_form", id="too-many-fields"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "text/plain"}, b"hello", 415, "unsupported_media_type",
                 id="text-plain"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "application/json"}, b"[1, 2]", 422, "invalid_fields",
                 id="json-array"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "application/json"}, b'{"from": "08', 400,
                 "malformed_json", id="truncated-json"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "application/json"}, b"[" * 1500 + b"]" * 1500, 400,
                 "malformed_json", id="json-nested-deep"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "application/json"}, b'{"text": "tanpa pengirim"}', 422,
                 "invalid_fields", id="missing-sender"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "application/json"}, generic_json(coding="ebcdic"), 422,
                 "invalid_fields", id="unknown-coding"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "application/json"},
                 generic_json(coding="ucs2", text="00zz"), 400, "invalid_encoding", id="bad-ucs2-hex"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "application/json"},
                 generic_json(coding="ucs2", text="d83d"), 400, "invalid_encoding", id="lone-surrogate-ucs2"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "application/json"},
                 generic_json(**{"concat-ref": "1", "concat-total": "3", "concat-part": "4"}), 422, "invalid_fields",
                 id="part-beyond-total"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "application/json"},
                 generic_json(**{"concat-ref": "1", "concat-total": "x", "concat-part": "1"}), 422, "invalid_fields",
                 id="total-not-a-number"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "application/json"},
                 generic_json(**{"concat-ref": "1"}), 422, "invalid_fields", id="ref-without-total"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "application/json"},
                 generic_json(**{"concat-ref": "1", "concat-total": "999", "concat-part": "1"}), 422,
                 "invalid_fields", id="absurd-total"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "application/json"}, generic_json(**{"from": "0812\n99"}),
                 422, "invalid_fields", id="sender-with-newline"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "application/json"}, generic_json(id="x" * 500), 422,
                 "invalid_fields", id="huge-message-id"),
    pytest.param("POST", GENERIC, BEARER | {"Content-Type": "application/json"}, generic_json(to="17\u000808"), 422,
                 "invalid_fields", id="control-character-in-to"),
    pytest.param("GET", KANNEL + "&text=abc&charset=KOI8-R", {}, b"", 422, "invalid_fields", id="unsupported-charset"),
    pytest.param("GET", KANNEL + "&text=%D8%00%00&coding=2", {}, b"", 400, "invalid_encoding", id="broken-utf16"),
    pytest.param("GET", KANNEL, {}, b"", 422, "invalid_fields", id="kannel-without-text"),
    pytest.param("GET", KANNEL + "&text=" + "x" * 17_000, {}, b"", 431, "header_too_large", id="huge-request-line"),
]


@pytest.mark.parametrize(("method", "path", "headers", "body", "status", "error"), CASES)
async def test_refused_with_json_error_and_nothing_stored(
    make_gateway, http, method, path, headers, body, status, error
):
    gateway = await make_gateway(**sms_config(max_body_bytes=4096))
    async with http.request(method, base_url(gateway) + path, data=body or None, headers=headers) as response:
        assert response.status == status, await response.text()
        assert response.content_type == "application/json"
        answer = await response.json()
    assert answer["error"] == error
    assert "Traceback" not in answer["message"]
    assert stored_reports(gateway) == 0
    assert stored_parts(gateway) == 0


async def test_json_number_beyond_python_limits_is_refused(make_gateway, http):
    gateway = await make_gateway(**sms_config())
    async with http.post(base_url(gateway) + GENERIC, data=b'{"id": ' + b"9" * 5000 + b"}",
                         headers=BEARER | {"Content-Type": "application/json"}) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "malformed_json"


async def test_text_longer_than_any_sms_is_refused(make_gateway, http):
    gateway = await make_gateway(**sms_config())
    async with http.post(base_url(gateway) + GENERIC, data=generic_json(text="a" * 20_001),
                         headers=BEARER | {"Content-Type": "application/json"}) as response:
        assert response.status == 422
    assert stored_reports(gateway) == 0


async def test_control_characters_are_cleaned_not_refused(make_gateway, http, queue_reader):
    gateway = await make_gateway(**sms_config())
    params = {"From": "+6281234567890", "To": "1708", "MessageSid": "SMctl", "Body": "Air\x00 mati\u200b\u202e lagi"}
    async with http.post(base_url(gateway) + "/webhooks/sms/twilio", data=urlencode(params),
                         headers=FORM | twilio_headers("/webhooks/sms/twilio", params)) as response:
        assert response.status == 200
    await queue_reader.take(1)
    assert queue_reader.bodies()[0]["body"] == "Air mati lagi"


async def test_vonage_signature_is_checked_before_anything_is_parsed_into_a_report(make_gateway, http):
    gateway = await make_gateway(**sms_config())
    params = vonage_signed({"msisdn": "6281234567890", "text": "x", "messageId": "v1", "concat-ref": "1"})
    async with http.get(base_url(gateway) + "/webhooks/sms/vonage?" + urlencode({**params, "text": "y"})) as response:
        assert response.status == 403
    async with http.get(base_url(gateway) + "/webhooks/sms/vonage?" + urlencode(params)) as response:
        assert response.status == 422  # authentic, but a part without its total
    assert stored_reports(gateway) == 0

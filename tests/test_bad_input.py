"""Bad input gets a clear 4xx JSON error naming the problem; the server keeps serving."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import base_url

JSON = {"Content-Type": "application/json"}

CASES = [
    # (name, body bytes, headers, status, error code, words the message must contain)
    ("malformed json", b'{"body": "jalan rusak",', JSON, 400, "malformed_json", "not valid JSON"),
    ("not an object", b'["jalan rusak"]', JSON, 422, "invalid_fields", "JSON object"),
    ("wrong type", b'{"body": 12}', JSON, 422, "invalid_fields", "body"),
    ("wrong type bool", b'{"body": "x", "anonymous": "yes"}', JSON, 422, "invalid_fields", "anonymous"),
    ("missing body", b'{"subject": "x"}', JSON, 422, "invalid_fields", "body"),
    ("empty body", b'{"body": "   \\n "}', JSON, 422, "invalid_fields", "body"),
    ("unknown kind", b'{"body": "x", "kind": "pujian"}', JSON, 422, "invalid_fields", "kind"),
    ("unknown field", b'{"body": "x", "priority": 1}', JSON, 422, "invalid_fields", "priority"),
    ("bad phone", b'{"body": "x", "phone": "12"}', JSON, 422, "invalid_fields", "phone"),
    ("bad email", b'{"body": "x", "email": "nope"}', JSON, 422, "invalid_fields", "email"),
    ("latitude out of range", b'{"body": "x", "location": {"latitude": 91}}', JSON, 422, "invalid_fields",
     "location.latitude"),
    ("invalid utf-8", b'{"body": "jalan \xff\xfe rusak"}', JSON, 400, "invalid_encoding", "UTF-8"),
    ("not json content type", b"body=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415,
     "unsupported_media_type", "application/json"),
    ("bad idempotency key", b'{"body": "x"}', {**JSON, "Idempotency-Key": "with space"}, 400,
     "invalid_idempotency_key", "Idempotency-Key"),
    ("body over max_body_bytes", b'{"body": "' + b"a" * 70_000 + b'"}', JSON, 413, "body_too_large", "65536"),
    ("too long text", b'{"body": "' + b"a" * 20_001 + b'"}', JSON, 422, "invalid_fields", "body"),
    ("nul and controls", b'{"body": "\\u0000\\u0007"}', JSON, 422, "invalid_fields", "body"),
]


@pytest.fixture
async def gateway(make_gateway):
    return await make_gateway(http={"max_body_bytes": 65_536})


@pytest.mark.parametrize(("name", "body", "headers", "status", "code", "words"), CASES, ids=[c[0] for c in CASES])
async def test_bad_input_is_a_clear_json_4xx(gateway, http, name, body, headers, status, code, words):
    async with http.post(f"{base_url(gateway)}/v1/reports", data=body, headers=headers) as response:
        assert response.status == status, await response.text()
        assert response.content_type == "application/json"
        error = await response.json()
    assert error["error"] == code
    assert words in error["message"] or words in str(error.get("details", ""))
    assert "Traceback" not in error["message"]
    async with http.get(f"{base_url(gateway)}/healthz") as response:
        assert response.status == 200
    assert gateway.outbox.status().total == 0


async def raw_request(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), timeout=5)
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


async def test_huge_header_is_a_json_431_and_the_server_keeps_serving(gateway, http):
    huge = b"X-Filler: " + b"a" * 40_000 + b"\r\n"
    status, body = await raw_request(
        gateway.port, b"POST /v1/reports HTTP/1.1\r\nHost: x\r\n" + huge + b"Content-Length: 2\r\n\r\n{}"
    )
    assert status == 431
    assert b'"header_too_large"' in body
    async with http.get(f"{base_url(gateway)}/healthz") as response:
        assert response.status == 200


async def test_garbage_request_line_is_a_json_400(gateway, http):
    status, body = await raw_request(gateway.port, b"\x16\x03\x01garbage\r\n\r\n")
    assert status == 400
    assert b'"bad_request"' in body


async def test_unknown_path_and_method_are_json(gateway, http):
    async with http.get(f"{base_url(gateway)}/nope") as response:
        assert response.status == 404 and (await response.json())["error"] == "not_found"
    async with http.delete(f"{base_url(gateway)}/v1/reports") as response:
        assert response.status == 405 and (await response.json())["error"] == "method_not_allowed"


async def test_outbox_unavailable_is_a_503_never_a_success(gateway, http):
    await gateway.outbox.close()
    async with http.post(f"{base_url(gateway)}/v1/reports", json={"body": "jalan rusak"}) as response:
        assert response.status == 503
        assert (await response.json())["error"] == "outbox_unavailable"
    async with http.get(f"{base_url(gateway)}/readyz") as response:
        assert response.status == 503
        assert (await response.json())["outbox"] == "not_writable"

"""GET/POST /webhooks/whatsapp: Meta's verification handshake and signed message webhooks.

The X-Hub-Signature-256 HMAC is checked over the raw bytes before anything is parsed, so an
unsigned body is never decoded, stored or logged. Every message of a payload is committed
(remote media held for the MediaFetcher) before the 200; a failed commit answers 503 and Meta
re-delivers the whole payload, whose already-stored messages are then exact duplicates.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import structlog
from aiohttp import web

from adapters.common import commit, constant_time_equal, read_body
from adapters.whatsapp.handler import parse_payload, to_raw_messages
from gateway.http import HttpSurface, RequestError, error_responses, json_answer
from gateway.media import MediaFetcher
from gateway.metrics import Metrics
from gateway.pipeline import Intake

log = structlog.get_logger("whatsapp")

PATH = "/webhooks/whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
MAX_CHALLENGE = 256

_RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["reports", "statuses"],
    "properties": {
        "reports": {"type": "array", "items": {
            "type": "object", "required": ["id", "tracking_code", "duplicate"],
            "properties": {"id": {"type": "string"}, "tracking_code": {"type": "string"},
                           "duplicate": {"type": "boolean"}}}},
        "statuses": {"type": "integer", "description": "Delivery statuses acknowledged (not reports)."},
    },
}


def signature_for(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def register(
    surface: HttpSurface, intake: Intake, media: MediaFetcher, metrics: Metrics, *, verify_token: str,
    app_secret: str,
) -> None:
    async def verify(request: web.Request) -> web.Response:
        query = request.query
        if query.get("hub.mode") != "subscribe" or not constant_time_equal(query.get("hub.verify_token"),
                                                                           verify_token):
            metrics.rejected.labels("whatsapp", "verify_token").inc()
            log.warning("whatsapp verification refused", mode_ok=query.get("hub.mode") == "subscribe",
                        remote=request.remote)
            raise RequestError(403, "forbidden", "hub.mode or hub.verify_token is wrong")
        challenge = query.get("hub.challenge")
        if not challenge or len(challenge) > MAX_CHALLENGE:
            raise RequestError(400, "bad_request", "hub.challenge is missing or too long", field="hub.challenge")
        return web.Response(text=challenge, content_type="text/plain", headers={"X-Content-Type-Options": "nosniff"})

    async def receive(request: web.Request) -> web.Response:
        body = await read_body(request)
        if not constant_time_equal(request.headers.get(SIGNATURE_HEADER), signature_for(app_secret, body)):
            metrics.rejected.labels("whatsapp", "signature").inc()
            log.warning("whatsapp webhook refused: bad signature", remote=request.remote, size=len(body),
                        header_present=SIGNATURE_HEADER in request.headers)
            raise RequestError(403, "forbidden", f"{SIGNATURE_HEADER} is missing or does not match the body")
        try:
            parsed = to_raw_messages(parse_payload(body), body)
        except RequestError as error:
            metrics.rejected.labels("whatsapp", error.code).inc()
            log.warning("whatsapp webhook refused: not a valid payload", error=error.code, field=error.field,
                        size=len(body))
            raise
        if parsed.unknown_types:
            log.info("whatsapp message types kept with their raw payload", types=parsed.unknown_types)
        accepted = await asyncio.gather(*(commit(intake, raw, media=media) for raw in parsed.messages))
        return json_answer({
            "reports": [{"id": a.id, "tracking_code": a.tracking_code, "duplicate": a.duplicate} for a in accepted],
            "statuses": parsed.statuses,
        })

    surface.add_schema("WhatsAppHandled", _RESULT_SCHEMA)
    surface.add("GET", PATH, verify, {
        "summary": "Meta webhook verification (hub.challenge handshake)",
        "operationId": "whatsappVerify",
        "parameters": [
            {"name": "hub.mode", "in": "query", "required": True, "schema": {"type": "string", "enum": ["subscribe"]}},
            {"name": "hub.verify_token", "in": "query", "required": True, "schema": {"type": "string"},
             "description": "Must equal [channels.whatsapp] verify_token (compared in constant time)."},
            {"name": "hub.challenge", "in": "query", "required": True, "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {"description": "The challenge, echoed", "content": {"text/plain": {"schema": {"type": "string"}}}},
            **error_responses(400, 403),
        },
    })
    surface.add("POST", PATH, receive, {
        "summary": "WhatsApp Cloud API webhook (messages and statuses)",
        "operationId": "whatsappWebhook",
        "parameters": [{
            "name": SIGNATURE_HEADER, "in": "header", "required": True, "schema": {"type": "string"},
            "description": "'sha256=' + hex HMAC-SHA256(app_secret, raw body); checked before parsing.",
        }],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["object", "entry"],
            "description": "https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples"}}}},
        "responses": {
            "200": {"description": "Every message committed (or a repeat); statuses acknowledged",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WhatsAppHandled"}}}},
            **error_responses(400, 403, 413, 422, 503),
        },
    })

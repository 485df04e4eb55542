"""POST /webhooks/telegram: the secret token first, then the update; 200 only once it is stored.

Telegram re-sends an update until it gets a 2xx, so a failed commit answers 503 and the
update comes again; a repeat of a stored one is an exact duplicate and answered 200.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from adapters.common import constant_time_equal, json_object_body, read_body
from adapters.telegram.handler import TelegramIntake, validate_update
from gateway.http import HttpSurface, RequestError, error_responses, json_answer
from gateway.metrics import Metrics

log = structlog.get_logger("telegram")

PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

_HANDLED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string", "enum": ["accepted", "duplicate", "replied", "ignored"]},
        "id": {"type": ["string", "null"], "description": "Report id (ULID) when the update became a report."},
        "tracking_code": {"type": ["string", "null"]},
        "reason": {"type": ["string", "null"], "description": "Why an update was not a report."},
    },
}


def register(surface: HttpSurface, telegram: TelegramIntake, secret_token: str, metrics: Metrics) -> None:
    async def post_update(request: web.Request) -> web.Response:
        if not constant_time_equal(request.headers.get(SECRET_HEADER), secret_token):
            metrics.rejected.labels("telegram", "secret_token").inc()
            log.warning("telegram webhook refused: secret token missing or wrong", remote=request.remote,
                        header_present=SECRET_HEADER in request.headers)
            raise RequestError(403, "forbidden", f"{SECRET_HEADER} is missing or wrong")
        if request.content_type != "application/json":
            metrics.rejected.labels("telegram", "content_type").inc()
            raise RequestError(415, "unsupported_media_type", "a Telegram update is sent as application/json")
        body = await read_body(request)
        try:
            update = validate_update(json_object_body(body, "an update"))
        except RequestError as error:
            metrics.rejected.labels("telegram", error.code).inc()
            log.warning("telegram webhook refused: not a valid update", error=error.code, field=error.field,
                        size=len(body))
            raise
        handled = await telegram.handle(update, body)
        return json_answer({"status": handled.status, "id": handled.id,
                            "tracking_code": handled.tracking_code, "reason": handled.reason})

    surface.add_schema("TelegramHandled", _HANDLED_SCHEMA)
    surface.add("POST", PATH, post_update, {
        "summary": "Telegram Bot API webhook (an Update)",
        "operationId": "telegramWebhook",
        "parameters": [{
            "name": SECRET_HEADER, "in": "header", "required": True,
            "description": "The secret_token given to setWebhook; compared in constant time.",
            "schema": {"type": "string"},
        }],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["update_id"], "properties": {"update_id": {"type": "integer"}},
            "description": "A Telegram Update (https://core.telegram.org/bots/api#update)."}}}},
        "responses": {
            "200": {"description": "Stored (or a repeat of a stored update), answered, or deliberately ignored",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TelegramHandled"}}}},
            **error_responses(400, 403, 413, 415, 422, 503),
        },
    })

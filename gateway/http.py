"""The one aiohttp server: JSON errors everywhere, a route registry that feeds /openapi.json.

Every route is added through ``HttpSurface.add`` with its OpenAPI description, so the served
document lists exactly the routes the server has (a test checks it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

log = structlog.get_logger("http")

MAX_BODY_BYTES = web.AppKey("max_body_bytes", int)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "Machine-readable error code."},
        "message": {"type": "string", "description": "What is wrong, for a person."},
        "field": {"type": ["string", "null"]},
        "details": {"type": "array", "items": {"type": "object"}},
    },
}


def json_error(
    status: int, code: str, message: str, field: str | None = None, details: list[dict[str, Any]] | None = None
) -> web.Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    if details:
        body["details"] = details
    return json_answer(body, status)


def json_answer(body: Any, status: int = 200) -> web.Response:
    """A JSON response, encoded by orjson: the stdlib encoder costs more than the rest of the
    answer to a report (19k against 15k instructions for the three-field 202)."""
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


class RequestError(Exception):
    """Raised by handlers for bad input; rendered as a 4xx JSON error."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.details = status, code, message, field, details

    def response(self) -> web.Response:
        return json_error(self.status, self.code, self.message, self.field, self.details)


_STATUS_CODES = {
    400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    413: "body_too_large", 415: "unsupported_media_type", 429: "too_many_requests", 431: "header_too_large",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestError as error:
        return error.response()
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, "body_too_large",
                          f"request body exceeds the limit of {request.app[MAX_BODY_BYTES]} bytes")
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return json_error(error.status, _STATUS_CODES.get(error.status, "http_error"), error.reason)
    except HttpProcessingError as error:
        # Raised while a handler reads a malformed body (multipart headers, chunking): the client's fault.
        return json_error(400, "bad_request", f"malformed request body ({type(error).__name__})")
    except Exception:
        log.exception("unhandled error in request handler", path=request.path)
        return json_error(500, "internal_error", "the gateway could not handle this request; it was logged")


class _JsonErrorRequestHandler(RequestHandler):
    """Protocol-level errors (a header too large, a malformed request line) answered as JSON too."""

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> StreamResponse:
        super().handle_error(request, status, exc, message)  # logs, and refuses if bytes were sent
        if isinstance(exc, LineTooLong):
            status, code, reason = 431, "header_too_large", "a request line or header is larger than allowed"
        elif isinstance(exc, BadHttpMessage):
            code, reason = "bad_request", f"malformed HTTP request: {exc.message.splitlines()[0][:200]}"
        elif status >= 500:
            code, reason = "internal_error", "the gateway could not handle this request; it was logged"
        else:
            code, reason = _STATUS_CODES.get(status, "bad_request"), message or "bad request"
        response = json_error(status, code, reason)
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, BadHttpMessage):
            # A client's malformed request is the client's problem: one line, no traceback.
            log.warning("malformed HTTP request refused", error=type(exc).__name__, remote=self._remote())
            return
        super().log_exception(*args, **kwargs)

    def _remote(self) -> str | None:
        transport = self.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        return str(peer[0]) if peer else None


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorAppRunner(web.AppRunner):
    """An AppRunner whose connections answer protocol errors with JSON (aiohttp has no hook)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer
        return server


class HttpSurface:
    """Collects routes and their OpenAPI operations."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.paths: dict[str, dict[str, Any]] = {}
        self.components: dict[str, Any] = {"schemas": {"Error": ERROR_SCHEMA}}

    def add(self, method: str, path: str, handler: Handler, operation: dict[str, Any]) -> None:
        self.app.router.add_route(method, path, handler)
        openapi_path = path
        self.paths.setdefault(openapi_path, {})[method.lower()] = operation

    def add_schema(self, name: str, schema: dict[str, Any]) -> None:
        self.components["schemas"][name] = schema

    def openapi(self) -> dict[str, Any]:
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "lapor-gateway",
                "version": "1",
                "description": "Multi-channel intake gateway for public-service reports (SP4N-LAPOR!).",
            },
            "paths": self.paths,
            "components": self.components,
        }


def error_responses(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "Malformed request", 403: "Bad signature or token", 413: "Body too large",
        415: "Unsupported content type", 422: "Invalid fields", 429: "Too many requests",
        503: "Outbox unavailable: retry later",
    }
    return {
        str(status): {
            "description": reasons.get(status, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status in statuses
    }

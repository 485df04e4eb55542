"""POST /v1/reports: the JSON intake API (channel "web", provider "api")."""

from __future__ import annotations

import re
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from adapters.common import commit, decode_utf8, read_body
from gateway.http import HttpSurface, RequestError, error_responses
from gateway.pipeline import Intake
from normalizer.contact import to_e164
from schemas import Channel, Kind, Location, RawMessage, Sender

INBOUND_ADDRESS = "web"
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")

Text = Annotated[str, StringConstraints(max_length=300)]


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    address: Annotated[str, StringConstraints(max_length=500)] | None = None


class ReportRequest(BaseModel):
    """The fields of POST /v1/reports (design.md); the web form posts the same fields."""

    model_config = ConfigDict(extra="forbid", strict=True)
    body: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    kind: Kind = Kind.COMPLAINT
    subject: Text | None = None
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    anonymous: bool = False
    confidential: bool = False
    location: LocationIn | None = None
    tags: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=40)]], Field(max_length=20)] = []


def field_errors(error: ValidationError) -> list[dict[str, Any]]:
    details = []
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"]) or None
        reason = "unknown field" if item["type"] == "extra_forbidden" else item["msg"]
        details.append({"field": field, "reason": reason})
    return details


def parse_report_request(data: bytes) -> ReportRequest:
    text = decode_utf8(data)
    try:
        request = ReportRequest.model_validate_json(text)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            reason = error.errors()[0]["msg"]
            raise RequestError(400, "malformed_json", f"request body is not valid JSON: {reason}") from None
        if any(item["type"] == "model_type" for item in error.errors()):
            raise RequestError(422, "invalid_fields", "request body must be a JSON object",
                               details=field_errors(error)) from None
        details = field_errors(error)
        first = details[0]
        raise RequestError(
            422, "invalid_fields", f"{first['field']}: {first['reason']}", field=first["field"], details=details
        ) from None
    validate_contact_and_body(request.body, request.phone, request.email)
    return request


def validate_contact_and_body(body: str, phone: str | None, email: str | None, region: str = "ID") -> None:
    if not body.strip():
        raise RequestError(422, "invalid_fields", "body: must not be empty", field="body")
    if phone and to_e164(phone, region) is None:
        raise RequestError(422, "invalid_fields", "phone: not a valid phone number", field="phone")
    if email and not EMAIL.match(email.strip()):
        raise RequestError(422, "invalid_fields", "email: not a valid email address", field="email")


def to_raw_message(request: ReportRequest, message_id: str | None, raw: bytes, provider: str) -> RawMessage:
    location = None
    if request.location is not None and any(
        value is not None for value in (request.location.latitude, request.location.longitude, request.location.address)
    ):
        has_point = request.location.latitude is not None and request.location.longitude is not None
        location = Location(
            latitude=request.location.latitude,
            longitude=request.location.longitude,
            address=request.location.address,
            source="gps" if has_point else "typed",
        )
    return RawMessage(
        channel=Channel.WEB,
        provider=provider,
        inbound_address=INBOUND_ADDRESS,
        message_id=message_id,
        body=request.body,
        subject=request.subject,
        sender=Sender(phone=request.phone or None, email=request.email or None, name=request.name or None),
        kind=request.kind,
        tags=tuple(tag.lstrip("#").lower() for tag in request.tags),
        anonymous=request.anonymous,
        confidential=request.confidential,
        location=location,
        raw=raw,
        raw_content_type="application/json",
    )


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise RequestError(400, "invalid_idempotency_key",
                           "Idempotency-Key must be 1-200 visible ASCII characters", field="Idempotency-Key")
    return key


def register(surface: HttpSurface, intake: Intake) -> None:
    async def post_report(request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            raise RequestError(415, "unsupported_media_type", "send the report as application/json")
        key = idempotency_key(request)
        data = await read_body(request)
        report_request = parse_report_request(data)
        accepted = await commit(intake, to_raw_message(report_request, key, data, provider="api"))
        status = 200 if accepted.duplicate else 202
        return web.json_response(
            {"id": accepted.id, "tracking_code": accepted.tracking_code,
             "status": "duplicate" if accepted.duplicate else "accepted"},
            status=status,
        )

    request_schema = ReportRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in request_schema.pop("$defs", {}).items():
        surface.add_schema(name, definition)
    surface.add_schema("ReportRequest", request_schema)
    accepted_schema = {
        "type": "object",
        "required": ["id", "tracking_code", "status"],
        "properties": {
            "id": {"type": "string", "description": "Report id (ULID); the AMQP message_id."},
            "tracking_code": {"type": "string", "pattern": "^LPR-[2-9A-HJ-NP-Z]{8}$"},
            "status": {"type": "string", "enum": ["accepted", "duplicate"]},
        },
    }
    surface.add_schema("Accepted", accepted_schema)
    surface.add(
        "POST",
        "/v1/reports",
        post_report,
        {
            "summary": "Submit a report",
            "operationId": "createReport",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "Client's id for this report; a repeat returns the original (200).",
                    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,200}$"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReportRequest"}}},
            },
            "responses": {
                "202": {
                    "description": "Accepted: durably stored, will be published",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
                },
                "200": {
                    "description": "A repeat of an accepted report (same Idempotency-Key): the original",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
                },
                **error_responses(400, 413, 415, 422, 503),
            },
        },
    )

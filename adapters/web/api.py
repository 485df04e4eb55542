"""POST /v1/reports: the JSON intake API (channel "web", provider "api")."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from adapters.common import commit, decode_utf8, read_body
from gateway.http import HttpSurface, RequestError, error_responses, json_answer
from gateway.pipeline import Intake
from normalizer.contact import DEFAULT_REGION, to_e164
from normalizer.text import has_visible_text
from schemas import Channel, IncomingAttachment, Kind, Location, RawMessage, Sender

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
    # default_factory: a literal [] default is deep-copied on every validation
    tags: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=40)]],
                    Field(max_length=20, default_factory=list)]


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One thing wrong with a submitted field: ``code`` for a translated message (the form), ``reason`` for the API."""

    field: str | None
    code: str
    reason: str
    limit: float | None = None


class InvalidFields(Exception):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{problem.field}: {problem.reason}" for problem in problems))
        self.problems = problems


_CODES = {
    "missing": "missing", "extra_forbidden": "unknown_field", "string_too_long": "too_long",
    "too_long": "too_long", "string_too_short": "empty", "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range", "enum": "invalid_choice", "float_parsing": "not_a_number",
    "float_type": "not_a_number", "json_invalid": "json_invalid", "model_type": "not_an_object",
}


def _problems(error: ValidationError) -> list[FieldProblem]:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"]) or None
        code = _CODES.get(item["type"], "invalid")
        reason = "unknown field" if code == "unknown_field" else item["msg"]
        context = item.get("ctx") or {}
        limit = next((context[key] for key in ("max_length", "ge", "le") if key in context), None)
        problems.append(FieldProblem(field, code, reason, float(limit) if limit is not None else None))
    return problems


def validate_report(data: str | Mapping[str, Any], region: str = DEFAULT_REGION) -> ReportRequest:
    """The one home of the report fields' rules, for the JSON API and the web form alike.

    JSON text is validated strictly (JSON has types); a mapping of form values laxly, because an
    HTML form sends every value as text ("-6.2" for a latitude).
    """
    try:
        if isinstance(data, str):
            request = ReportRequest.model_validate_json(data)
        else:
            request = ReportRequest.model_validate(data, strict=False)
    except ValidationError as error:
        problems = _problems(error)
        if isinstance(data, Mapping):
            # A form shows every problem at once: the rules below still apply to the fields that parsed.
            flagged = {problem.field for problem in problems}
            problems += [problem for problem in _content_problems(data, region) if problem.field not in flagged]
        raise InvalidFields(problems) from None
    problems = _content_problems(_content_fields(request), region)
    if problems:
        raise InvalidFields(problems)
    return request


def _content_fields(request: ReportRequest) -> dict[str, Any]:
    """What _content_problems reads, without dumping the whole model."""
    location = request.location
    return {"body": request.body, "phone": request.phone, "email": request.email,
            "location": None if location is None else {"latitude": location.latitude, "longitude": location.longitude}}


def _content_problems(data: Mapping[str, Any], region: str) -> list[FieldProblem]:
    """Rules beyond types and lengths: a body with words, a phone that dials, an email that delivers."""
    problems = []
    body, phone, email = (data.get(name) for name in ("body", "phone", "email"))
    if isinstance(body, str) and not has_visible_text(body):
        problems.append(FieldProblem("body", "empty", "must not be empty"))
    if isinstance(phone, str) and phone and to_e164(phone, region) is None:
        problems.append(FieldProblem("phone", "invalid_phone", "not a valid phone number"))
    if isinstance(email, str) and email and not EMAIL.match(email.strip()):
        problems.append(FieldProblem("email", "invalid_email", "not a valid email address"))
    location = data.get("location")
    if isinstance(location, Mapping) and (location.get("latitude") is None) != (location.get("longitude") is None):
        field = "location.longitude" if location.get("longitude") is None else "location.latitude"
        problems.append(FieldProblem(field, "missing", "latitude and longitude go together"))
    return problems


def parse_report_request(data: bytes, region: str = DEFAULT_REGION) -> ReportRequest:
    try:
        return validate_report(decode_utf8(data), region)
    except InvalidFields as error:
        problems = error.problems
        if any(problem.code == "json_invalid" for problem in problems):
            raise RequestError(400, "malformed_json", f"request body is not valid JSON: {problems[0].reason}") from None
        details = [{"field": problem.field, "reason": problem.reason} for problem in problems]
        if any(problem.code == "not_an_object" for problem in problems):
            raise RequestError(422, "invalid_fields", "request body must be a JSON object", details=details) from None
        first = problems[0]
        raise RequestError(
            422, "invalid_fields", f"{first.field}: {first.reason}", field=first.field, details=details
        ) from None


def to_raw_message(
    request: ReportRequest, message_id: str | None, raw: bytes, provider: str, *,
    raw_content_type: str = "application/json", attachments: Sequence[IncomingAttachment] = (),
) -> RawMessage:
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
        attachments=tuple(attachments),
        raw=raw,
        raw_content_type=raw_content_type,
    )


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise RequestError(400, "invalid_idempotency_key",
                           "Idempotency-Key must be 1-200 visible ASCII characters", field="Idempotency-Key")
    return key


def register(surface: HttpSurface, intake: Intake, region: str = DEFAULT_REGION) -> None:
    async def post_report(request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            raise RequestError(415, "unsupported_media_type", "send the report as application/json")
        key = idempotency_key(request)
        data = await read_body(request)
        report_request = parse_report_request(data, region)
        accepted = await commit(intake, to_raw_message(report_request, key, data, provider="api"))
        status = 200 if accepted.duplicate else 202
        return json_answer(
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

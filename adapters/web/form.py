"""The citizen's web form (channel "web", provider "form"): GET / serves it, POST / files the report.

Works without JavaScript: a plain multipart POST, validated on the server by the same rules as the
JSON API (adapters.web.api.validate_report), errors re-rendered next to their fields with the
citizen's input kept. After the commit the browser is redirected (POST-redirect-GET) to a signed
confirmation page with the tracking code.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jinja2
import structlog
from aiohttp import BodyPartReader, web
from markupsafe import Markup

from adapters.common import commit
from adapters.web.api import FieldProblem, InvalidFields, ReportRequest, to_raw_message, validate_report
from adapters.web.guard import RateLimiter, Signer, client_address
from adapters.web.i18n import TEXTS, choose_language, human_size, problem_message
from gateway.attachments import AttachmentStore, sniff_content_type
from gateway.config import WebChannelConfig
from gateway.http import HttpSurface, RequestError
from gateway.metrics import Metrics
from gateway.pipeline import Intake
from schemas import IncomingAttachment, Kind

log = structlog.get_logger("web.form")

PROVIDER = "form"
CSRF_COOKIE = "lapor_csrf"
CONFIRMATION_PATH = "/submitted"
SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
TRACKING_CODE = re.compile(r"^LPR-[2-9A-HJ-NP-Z]{8}$")
# Types by content (sniffed), the form's promise to citizens: photos and scans.
FORM_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "application/pdf")
TEXT_FIELDS = ("kind", "subject", "body", "name", "phone", "email", "address", "latitude", "longitude")
CHECKBOXES = ("anonymous", "confidential")
MAX_TEXT_PART = 128 * 1024  # over any text limit of ReportRequest even in 4-byte UTF-8, so truncation is caught
MAX_URLENCODED = 512 * 1024
MAX_PARTS = 100

_TEMPLATES = Path(__file__).parent / "templates"
_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)


def _asset(name: str) -> tuple[Markup, str]:
    """An inline asset and its CSP hash: one request for slow networks, no 'unsafe-inline'."""
    text = (_TEMPLATES / name).read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return Markup(text), f"'sha256-{digest}'"


CSS, CSS_HASH = _asset("form.css")
JS, JS_HASH = _asset("form.js")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; script-src {JS_HASH}; style-src {CSS_HASH}; img-src data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class Submission:
    """What one POST carried, and what was wrong with it; kept to re-render the citizen's input."""

    values: dict[str, str] = field(default_factory=dict)
    files: list[IncomingAttachment] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # form field -> message
    form_problems: list[str] = field(default_factory=list)  # not about one field (CSRF, size, rate)
    too_large: bool = False
    malformed: bool = False
    oversized_files: list[str] = field(default_factory=list)
    undecodable: list[str] = field(default_factory=list)
    file_count: int = 0


class FormChannel:
    def __init__(
        self, config: WebChannelConfig, intake: Intake, metrics: Metrics, region: str, public_url: str | None
    ) -> None:
        self.config = config
        self.intake = intake
        self.metrics = metrics
        self.region = region
        self.signer = Signer(config.csrf_secret, config.csrf_ttl)
        self.limiter = RateLimiter(config.rate_limit, config.rate_limit_window)
        store: AttachmentStore = intake.attachments
        self.allowed_types = [kind for kind in FORM_TYPES if store.allowed(kind)]
        self.max_file_bytes = min(config.max_file_bytes, store.max_file_bytes)
        self.max_total_file_bytes = store.max_message_bytes
        self.secure_cookie = bool(public_url and public_url.startswith("https:"))

    # -- rendering --------------------------------------------------------------------------------
    def _page(self, template: str, lang: str, switch_query: dict[str, str], **context: Any) -> str:
        texts = TEXTS[lang]
        other = texts["other_language"]
        return _environment.get_template(template).render(
            lang=lang, t=texts, other=other, other_name=TEXTS[other]["language_name"],
            switch_url="?" + urlencode({**switch_query, "lang": other}), css=CSS, js=JS,
            **{"summary": [], **context},
        )

    def _html(
        self, body: str, lang: str, status: int = 200, headers: Mapping[str, str] | None = None, *,
        compress: bool = False,
    ) -> web.Response:
        response = web.Response(
            text=body, status=status, content_type="text/html", charset="utf-8",
            headers={**SECURITY_HEADERS, "Content-Language": lang, "Vary": "Accept-Language", **(headers or {})},
        )
        if compress:
            # Only pages that echo nothing the client typed: compressing the CSRF token next to
            # attacker-chosen text would open it to BREACH-style guessing.
            response.enable_compression()
        return response

    def render_form(
        self, request: web.Request, lang: str, status: int = 200, submission: Submission | None = None,
        submission_id: str | None = None, headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        texts = TEXTS[lang]
        cookie = request.cookies.get(CSRF_COOKIE)
        age = self.signer.csrf_age(cookie)
        # A cookie past half its life is replaced, so a form rendered now stays valid for csrf_ttl / 2 at least.
        token = cookie if cookie is not None and age is not None and age <= self.config.csrf_ttl / 2 else None
        fresh = token is None
        if token is None:
            token = self.signer.new_csrf_token()
        values = dict(submission.values) if submission else {}
        values.setdefault("kind", Kind.COMPLAINT.value)
        summary: list[tuple[str | None, str]] = []
        errors: dict[str, str] = {}
        if submission is not None:
            summary = [(None, message) for message in submission.form_problems]
            errors = dict(submission.problems)
            if submission.file_count and "attachments" not in errors:
                errors["attachments"] = texts["reattach"]
            order = [*TEXT_FIELDS, "attachments"]
            summary += [(_target(name), errors[name]) for name in sorted(errors, key=order.index)]
        size = human_size(self.max_file_bytes)
        body = self._page(
            "form.html", lang, {},
            values={name: values.get(name, "") for name in (*TEXT_FIELDS, *CHECKBOXES)},
            errors={name: errors.get(name) for name in (*TEXT_FIELDS, "attachments")},
            summary=summary, kinds=[kind.value for kind in Kind], checked_fields={"phone", "email", "attachments"},
            csrf_token=token, submission_id=submission_id or new_submission_id(), accept=",".join(self.allowed_types),
            max_files=self.config.max_files, max_file_bytes=self.max_file_bytes,
            attachments_hint=texts["attachments_hint"].format(count=self.config.max_files, size=size),
            too_many=texts["files_too_many"].format(count=self.config.max_files),
            too_big=texts["files_too_big"].format(name="{name}", size=size),
        )
        response = self._html(body, lang, status, headers, compress=submission is None)
        if fresh:
            response.set_cookie(
                CSRF_COOKIE, token, max_age=int(self.config.csrf_ttl), path="/", httponly=True, samesite="Lax",
                secure=self.secure_cookie or request.secure,
            )
        return response

    # -- handlers ---------------------------------------------------------------------------------
    async def get_form(self, request: web.Request) -> web.Response:
        lang = choose_language(request.query.get("lang"), request.headers.get("Accept-Language"))
        return self.render_form(request, lang)

    async def get_confirmation(self, request: web.Request) -> web.Response:
        lang = choose_language(request.query.get("lang"), request.headers.get("Accept-Language"))
        code = request.query.get("code", "")
        valid = bool(TRACKING_CODE.match(code)) and self.signer.link_valid(code, request.query.get("sig"))
        query = {"code": code, "sig": request.query.get("sig", "")} if valid else {}
        body = self._page(
            "confirmation.html", lang, query, code=code if valid else None,
            form_url="/?" + urlencode({"lang": lang}),
        )
        return self._html(body, lang, 200 if valid else 404, compress=True)

    async def post_form(self, request: web.Request) -> web.Response:
        address = client_address(request.remote, request.headers.get("X-Forwarded-For"), self.config.trusted_proxies)
        retry_after = self.limiter.hit(address)
        submission = await self.read_submission(request)
        lang = choose_language(submission.values.get("lang"), request.headers.get("Accept-Language"))
        texts = TEXTS[lang]
        submission_id = submission.values.get("submission_id", "")
        if not SUBMISSION_ID.match(submission_id):
            submission_id = ""

        def refuse(
            reason: str, status: int, message: str | None, headers: Mapping[str, str] | None = None
        ) -> web.Response:
            self.metrics.rejected.labels("web", reason).inc()
            log.info("form submission refused", reason=reason, status=status, fields=sorted(submission.problems))
            if message:
                submission.form_problems.append(message)
            return self.render_form(request, lang, status, submission, submission_id or None, headers)

        if retry_after is not None:
            minutes = max(1, int(retry_after // 60) + 1)
            return refuse("rate_limited", 429, texts["rate_limited"].format(minutes=minutes),
                          {"Retry-After": str(int(retry_after) + 1)})
        if submission.too_large:
            limit = human_size(self.config.max_form_bytes)
            return refuse("too_large", 413, texts["too_large"].format(size=limit))
        if submission.malformed:
            return refuse("bad_form", 400, texts["bad_form"])
        if not self.signer.csrf_valid(request.cookies.get(CSRF_COOKIE), submission.values.get("csrf_token")):
            return refuse("csrf", 403, texts["csrf"])
        if submission.values.get("website"):
            return refuse("honeypot", 422, texts["honeypot"])
        if not submission_id:
            return refuse("bad_form", 400, texts["bad_form"])
        report_request = self.validate(submission, texts)
        if report_request is None:
            return refuse("invalid_fields", 422, None)
        raw = urlencode([(name, submission.values[name]) for name in (*TEXT_FIELDS, *CHECKBOXES)
                         if submission.values.get(name)]).encode()
        raw_message = to_raw_message(
            report_request, f"form:{submission_id}", raw, provider=PROVIDER,
            raw_content_type="application/x-www-form-urlencoded", attachments=submission.files,
        )
        try:
            accepted = await commit(self.intake, raw_message)
        except RequestError as error:
            return refuse(error.code, error.status, texts["unavailable"])
        query = {"code": accepted.tracking_code, "sig": self.signer.link_signature(accepted.tracking_code),
                 "lang": lang}
        # Returned, not raised: a raised HTTPSeeOther becomes the answer inside aiohttp with its
        # traceback, a reference cycle through the whole request (report, raw message, request, ~70
        # objects) that only the cyclic collector frees, after every accepted submission.
        return web.Response(status=303, headers={"Location": f"{CONFIRMATION_PATH}?{urlencode(query)}"})

    # -- reading and checking ---------------------------------------------------------------------
    def validate(self, submission: Submission, texts: Mapping[str, str]) -> ReportRequest | None:
        """The ReportRequest, or None with ``submission.problems`` filled (API rules plus the files)."""
        values = submission.values
        for name in submission.undecodable:
            submission.problems[name] = texts["invalid_encoding"]
        location = {name: values.get(name) or None for name in ("latitude", "longitude", "address")}
        data = {
            "body": values.get("body", ""),
            "kind": values.get("kind") or Kind.COMPLAINT.value,
            **{name: values.get(name) or None for name in ("subject", "name", "phone", "email")},
            **{name: bool(values.get(name)) for name in CHECKBOXES},
            "location": location if any(location.values()) else None,
        }
        request: ReportRequest | None = None
        try:
            request = validate_report(data, self.region)
        except InvalidFields as error:
            for problem in error.problems:
                name = _form_field(problem)
                submission.problems.setdefault(name, problem_message(problem, name, texts))
        self.check_files(submission, texts)
        return None if submission.problems else request

    def check_files(self, submission: Submission, texts: Mapping[str, str]) -> None:
        size = human_size(self.max_file_bytes)
        notes = []
        if submission.file_count > self.config.max_files:
            notes.append(texts["files_too_many"].format(count=self.config.max_files))
        notes += [texts["files_too_big"].format(name=name, size=size) for name in submission.oversized_files]
        total = sum(len(item.data or b"") for item in submission.files)
        if total > self.max_total_file_bytes:
            notes.append(texts["too_large"].format(size=human_size(self.max_total_file_bytes)))
        accepted = []
        for item in submission.files:
            content_type = sniff_content_type(item.data or b"", item.content_type)
            if content_type not in self.allowed_types:
                notes.append(texts["file_refused"].format(name=item.filename or "?"))
            else:
                accepted.append(IncomingAttachment(item.filename, content_type, item.data))
        submission.files = accepted
        if notes:
            submission.problems["attachments"] = " ".join(notes)

    async def read_submission(self, request: web.Request) -> Submission:
        submission = Submission()
        if request.content_type == "multipart/form-data":
            await self._read_multipart(request, submission)
        elif request.content_type == "application/x-www-form-urlencoded":
            data = bytearray()
            while len(data) <= MAX_URLENCODED and (chunk := await request.content.read(65_536)):
                data += chunk
            if len(data) > MAX_URLENCODED:
                submission.too_large = True
                return submission
            try:
                # Percent-escapes decoded as latin-1 (one char per byte) so bad UTF-8 is caught per field.
                pairs = parse_qsl(bytes(data).decode("latin-1"), keep_blank_values=True, encoding="latin-1")
            except ValueError:
                submission.malformed = True
                return submission
            submission.malformed = len(pairs) > MAX_PARTS
            for name, value in pairs:
                _add_value(submission, name, value.encode("latin-1"))
        else:
            submission.malformed = True
        return submission

    async def _read_multipart(self, request: web.Request, submission: Submission) -> None:
        total = 0
        parts = 0
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                parts += 1
                if parts > MAX_PARTS:
                    submission.malformed = True  # no browser sends this many fields
                    return
                if not isinstance(part, BodyPartReader):
                    continue  # a nested multipart is not something a browser sends
                is_file = part.filename is not None
                cap = self.max_file_bytes if is_file else MAX_TEXT_PART
                data, size = await _read_capped(part, cap, self.config.max_form_bytes - total)
                total += size
                if total > self.config.max_form_bytes:
                    submission.too_large = True
                    return
                name = part.name or ""
                if is_file:
                    if name != "attachments" or (not part.filename and size == 0):
                        continue  # "no file chosen" arrives as an empty part with an empty name
                    submission.file_count += 1
                    filename = os.path.basename(part.filename or "").strip()[:255] or None
                    if size > cap:
                        submission.oversized_files.append(filename or "?")
                    else:
                        declared = part.headers.get("Content-Type", "application/octet-stream")
                        submission.files.append(IncomingAttachment(filename, declared, data))
                elif size > cap:
                    # Still over every text limit, so validation reports it; the prefix is kept for the citizen.
                    submission.values.setdefault(name, data.decode("utf-8", errors="ignore"))
                else:
                    _add_value(submission, name, data)
        except ValueError:
            # A malformed multipart body (bad boundary, broken headers): what was read is kept.
            submission.malformed = True


def _add_value(submission: Submission, name: str, data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        submission.undecodable.append(name)
        text = data.decode("utf-8", errors="replace")
    submission.values.setdefault(name, text)


async def _read_capped(part: BodyPartReader, cap: int, budget: int) -> tuple[bytes, int]:
    """Read a part keeping at most ``cap`` bytes; count on past the cap (within ``budget``) for the size."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(65_536):
        size += len(chunk)
        if size <= cap:
            chunks.append(chunk)
        if size > budget:
            break
    return b"".join(chunks), size


def new_submission_id() -> str:
    return secrets.token_urlsafe(16)


def _form_field(problem: FieldProblem) -> str:
    name = (problem.field or "body").removeprefix("location.")
    return name if name in TEXT_FIELDS or name in CHECKBOXES else "body"


def _target(name: str) -> str:
    return f"kind-{Kind.COMPLAINT.value}" if name == "kind" else name


def register(surface: HttpSurface, form: FormChannel) -> None:
    html = {"text/html": {"schema": {"type": "string"}}}
    surface.add("GET", "/", form.get_form, {
        "summary": "The citizen's report form (Indonesian; English with ?lang=en or Accept-Language)",
        "operationId": "reportForm",
        "parameters": [{"name": "lang", "in": "query", "required": False,
                        "schema": {"type": "string", "enum": sorted(TEXTS)}}],
        "responses": {"200": {"description": "HTML form; sets the CSRF cookie", "content": html}},
    })
    form_fields: dict[str, Any] = {
        "type": "object",
        "required": ["csrf_token", "submission_id", "body"],
        "properties": {
            "csrf_token": {"type": "string", "description": "Must equal the lapor_csrf cookie set by GET /."},
            "submission_id": {"type": "string", "pattern": SUBMISSION_ID.pattern,
                              "description": "Per-render id; a resubmission is an exact duplicate (same code)."},
            "lang": {"type": "string", "enum": sorted(TEXTS)},
            "website": {"type": "string", "description": "Honeypot: must be empty."},
            "kind": {"type": "string", "enum": [kind.value for kind in Kind]},
            **{name: {"type": "string"} for name in ("subject", "body", "name", "phone", "email", "address",
                                                     "latitude", "longitude")},
            **{name: {"type": "string", "description": "Present (any value) means yes."} for name in CHECKBOXES},
        },
    }
    multipart = {**form_fields, "properties": {
        **form_fields["properties"],
        "attachments": {"type": "array", "items": {"type": "string", "format": "binary"},
                        "description": "Photos or PDF, checked by content."},
    }}
    surface.add("POST", "/", form.post_form, {
        "summary": "Submit the report form (works without JavaScript)",
        "operationId": "submitReportForm",
        "requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": multipart},
            "application/x-www-form-urlencoded": {"schema": form_fields},
        }},
        "responses": {
            "303": {"description": "Accepted (or an exact repeat): redirect to the confirmation page",
                    "headers": {"Location": {"schema": {"type": "string"}}}},
            **{str(status): {"description": description + "; the form again, input kept, errors listed",
                             "content": html}
               for status, description in ((400, "Incomplete form"), (403, "Bad or expired CSRF token"),
                                           (413, "Body over max_form_bytes"), (422, "Invalid fields or files"),
                                           (429, "Rate limited (Retry-After)"), (503, "Outbox unavailable"))},
        },
    })
    surface.add("GET", CONFIRMATION_PATH, form.get_confirmation, {
        "summary": "Confirmation page with the tracking code (signed link from POST /)",
        "operationId": "reportFormConfirmation",
        "parameters": [
            {"name": "code", "in": "query", "required": True, "schema": {"type": "string"}},
            {"name": "sig", "in": "query", "required": True, "schema": {"type": "string"}},
            {"name": "lang", "in": "query", "required": False, "schema": {"type": "string", "enum": sorted(TEXTS)}},
        ],
        "responses": {"200": {"description": "The confirmation", "content": html},
                      "404": {"description": "Unsigned or altered link", "content": html}},
    })

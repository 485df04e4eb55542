"""The committed JSON Schema matches the models, and any valid report round-trips through it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic_core import PydanticSerializationError

from schemas import Report
from schemas.report import SCHEMA_FILE, report_json_schema, report_json_schema_text

COMMITTED = json.loads(SCHEMA_FILE.read_text())


def test_committed_schema_file_matches_models():
    assert SCHEMA_FILE.read_text() == report_json_schema_text(), (
        "schemas/report-v1.schema.json drifted from the models: run "
        "`lapor-gateway schema > schemas/report-v1.schema.json` and review the change"
    )


def test_cli_prints_the_schema():
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "schema"], capture_output=True, text=True, check=True,
        cwd=Path(__file__).parents[1],
    ).stdout
    assert json.loads(out) == report_json_schema()


def test_schema_names_every_contract_field():
    top = set(COMMITTED["properties"])
    assert {"schema", "id", "tracking_code", "received_at", "channel", "source", "agency", "reporter", "kind",
            "urgency", "category", "tags", "subject", "body", "language", "location", "attachments", "dedup",
            "raw"} <= top
    defs = COMMITTED["$defs"]
    assert {"provider", "inbound_address", "message_id", "thread_ref"} <= set(defs["Source"]["properties"])
    assert {"identity", "name", "phone", "email", "telegram_id", "whatsapp_id", "anonymous", "confidential"} <= set(
        defs["Reporter"]["properties"])
    assert {"fingerprint", "duplicate_of", "similarity"} <= set(defs["Dedup"]["properties"])
    assert {"content_type", "size", "sha256", "ref"} <= set(defs["Raw"]["properties"])


ulids = st.from_regex(r"\A[0-9A-HJKMNP-TV-Z]{26}\Z")
codes = st.from_regex(r"\ALPR-[2-9A-HJ-NP-Z]{8}\Z")
e164 = st.from_regex(r"\A\+[1-9][0-9]{7,14}\Z")
sha = st.from_regex(r"\A[0-9a-f]{64}\Z")
text = st.text(max_size=200)
opt_text = st.none() | text
# Offsets other than UTC too: received_at is written in UTC whatever its zone.
aware = st.datetimes(datetime(1971, 1, 1), datetime(2200, 1, 1), timezones=st.sampled_from(
    [UTC, timezone(timedelta(hours=7)), timezone(-timedelta(hours=3, minutes=30))]))

reports = st.builds(
    Report,
    id=ulids,
    tracking_code=codes,
    received_at=aware,
    source=st.fixed_dictionaries(
        {"provider": text, "inbound_address": text, "message_id": text, "thread_ref": opt_text}
    ),
    reporter=st.fixed_dictionaries(
        {"identity": st.one_of(e164.map(lambda p: f"tel:{p}"), st.just("web:anonymous"),
                               st.integers(1, 10**12).map(lambda i: f"telegram:{i}")),
         "phone": st.none() | e164, "name": opt_text, "email": opt_text,
         "anonymous": st.booleans(), "confidential": st.booleans()}
    ),
    tags=st.lists(text, max_size=4),
    subject=opt_text,
    body=text,
    location=st.none() | st.fixed_dictionaries(
        {"latitude": st.none() | st.floats(-90, 90), "longitude": st.none() | st.floats(-180, 180),
         "address": opt_text}),
    attachments=st.lists(st.fixed_dictionaries(
        {"id": ulids, "content_type": text, "size": st.integers(0, 10**9), "sha256": st.none() | sha,
         "url": opt_text}), max_size=3),
    dedup=st.fixed_dictionaries({"fingerprint": opt_text, "duplicate_of": st.none() | ulids,
                                 "similarity": st.none() | st.floats(0, 1)}),
    raw=st.none() | st.fixed_dictionaries(
        {"content_type": text, "size": st.integers(0, 10**9), "sha256": sha, "ref": opt_text}),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reports)
def test_any_valid_report_round_trips_through_json_and_the_schema(report: Report):
    encoded = report.to_json()
    document = json.loads(encoded)
    jsonschema.validate(document, COMMITTED)
    decoded = Report.model_validate_json(encoded)
    assert decoded == report
    assert decoded.to_json() == encoded
    assert document["received_at"].endswith("Z")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reports)
def test_to_json_writes_the_bytes_pydantics_serializer_writes(report: Report):
    assert report.to_json() == report.__pydantic_serializer__.to_json(report, by_alias=True)


def web_report(received_at: datetime, body: str) -> Report:
    return Report(id="01M869WXSYB2V3RNN6SRD7DAW9", tracking_code="LPR-GAQJPWLS", received_at=received_at,
                  channel="web", source={"provider": "api", "inbound_address": "web", "message_id": "m"},
                  reporter={"identity": "web:anonymous"}, body=body)


def test_a_received_at_on_the_second_keeps_its_microseconds():
    report = web_report(datetime(2026, 11, 24, 8, 0, 0, tzinfo=UTC), "x")
    assert json.loads(report.to_json())["received_at"] == "2026-11-24T08:00:00.000000Z"


def test_text_orjson_refuses_gets_pydantics_own_error():
    report = web_report(datetime(2026, 11, 24, 8, 0, 0, 5, tzinfo=UTC), "lone \ud800 surrogate")
    with pytest.raises(PydanticSerializationError, match="surrogates not allowed"):
        report.to_json()

"""Helpers for the SMS tests: a gateway config with every provider, signed requests, the outbox's state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from adapters.sms.twilio.handler import signature as twilio_signature
from adapters.sms.vonage.handler import signature as vonage_signature
from gateway.daemon import Gateway
from tests.support.broker import QueueReader

TESTDATA = Path(__file__).parents[1] / "testdata"
PUBLIC_URL = "https://lapor.example.go.id"
TWILIO_TOKEN = "twilio-test-token"
VONAGE_SECRET = "vonage-test-secret"
KANNEL_TOKEN = "kannel-test-token"
GENERIC_TOKEN = "generic-test-token"


def sms_config(multipart_timeout: float = 600.0, vonage_method: str = "sha256", **http: Any) -> dict[str, Any]:
    return {
        "http": {"public_url": PUBLIC_URL, **http},
        "channels": {"web": {"enabled": False}, "sms": {
            "short_code": "1708",
            "multipart_timeout": multipart_timeout,
            "twilio": {"auth_token": TWILIO_TOKEN},
            "vonage": {"signature_secret": VONAGE_SECRET, "signature_method": vonage_method},
            "kannel": {"token": KANNEL_TOKEN},
            "generic": {"token": GENERIC_TOKEN},
        }},
    }


def signatures() -> dict[str, Any]:
    vectors: dict[str, Any] = json.loads((TESTDATA / "signatures.json").read_text())
    return vectors


def twilio_headers(
    path: str, params: dict[str, str], url: str | None = None, token: str = TWILIO_TOKEN
) -> dict[str, str]:
    signed = twilio_signature(token, url or PUBLIC_URL + path, params.items())
    return {"X-Twilio-Signature": signed}


def vonage_signed(params: dict[str, str], method: str = "sha256", secret: str = VONAGE_SECRET) -> dict[str, str]:
    return {**params, "sig": vonage_signature(secret, method, params.items())}


def form(params: dict[str, str]) -> tuple[str, dict[str, str]]:
    return urlencode(params), {"Content-Type": "application/x-www-form-urlencoded"}


def stored_reports(gateway: Gateway) -> int:
    return gateway.outbox.status().total


def stored_parts(gateway: Gateway) -> int:
    with gateway.outbox.reader() as conn:
        exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name='sms_concat_parts'").fetchone()
        return int(conn.execute("SELECT COUNT(*) FROM sms_concat_parts").fetchone()[0]) if exists else 0


def open_groups(gateway: Gateway) -> int:
    with gateway.outbox.reader() as conn:
        exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name='sms_concat_groups'").fetchone()
        if not exists:
            return 0
        return int(conn.execute("SELECT COUNT(*) FROM sms_concat_groups WHERE closed_at IS NULL").fetchone()[0])


def subset(report: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The report's values at the expected keys ('a.b' reaches into objects), to compare in one assert."""
    picked: dict[str, Any] = {}
    for key in expected:
        value: Any = report
        for part in key.split("."):
            value = value[part]
        picked[key] = value
    return picked


async def nothing_published(queue_reader: QueueReader, seconds: float = 0.5) -> bool:
    await queue_reader.take(0)  # waits until the gateway declared its queue, so settle can read it
    return await queue_reader.settle(seconds) == []

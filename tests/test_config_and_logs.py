"""Operators' surface: config validation names the bad key; logs are JSON with personal data masked."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import structlog

from gateway.config import ConfigError, LoggingConfig, load_config, parse_config
from gateway.logs import configure_logging, mask_string
from tests.conftest import base_url

ROOT = Path(__file__).parents[1]


def check_config(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(path)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})},
    )


def test_example_config_is_valid():
    result = check_config(ROOT / "config.example.toml", env={
        "TWILIO_AUTH_TOKEN": "t", "VONAGE_SIGNATURE_SECRET": "s", "KANNEL_TOKEN": "k", "SMS_TOKEN": "g",
        "WHATSAPP_VERIFY_TOKEN": "v", "WHATSAPP_APP_SECRET": "a", "WHATSAPP_ACCESS_TOKEN": "x",
        "TELEGRAM_BOT_TOKEN": "b", "TELEGRAM_SECRET_TOKEN": "s", "IMAP_PASSWORD": "p", "WEB_CSRF_SECRET": "c",
        "TWILIO_ACCOUNT_SID": "AC1", "VONAGE_API_KEY": "k", "VONAGE_API_SECRET": "s", "KANNEL_SENDSMS_PASSWORD": "p",
        "SMS_SEND_TOKEN": "t", "SMTP_RELAY_PASSWORD": "p",
    })
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ("[http]\nprot = 8080\n", "http.prot: unknown key"),
        ("[http]\nport = 'eighty'\n", "http.port"),
        ("[broker]\nurl = 5\n", "broker.url"),
        ("[channels.sms.twilio]\nauth_tokn = 'x'\n", "channels.sms.twilio.auth_tokn: unknown key"),
        ("[channels.sms.twilio]\nauth_token = 'env:LAPOR_TEST_UNSET_VAR'\n",
         "channels.sms.twilio.auth_token: environment variable LAPOR_TEST_UNSET_VAR is not set"),
        ("[http\nport = 1\n", "not valid TOML"),
    ],
)
def test_check_config_names_the_bad_key(tmp_path, toml, named):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    result = check_config(path)
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_env_secrets_are_resolved(monkeypatch):
    monkeypatch.setenv("LAPOR_TEST_TOKEN", "s3cret")
    config = parse_config({"channels": {"sms": {"kannel": {"token": "env:LAPOR_TEST_TOKEN"}}}})
    assert config.channels.sms is not None and config.channels.sms.kannel is not None
    assert config.channels.sms.kannel.token == "s3cret"


def test_no_config_file_means_embedded_defaults(monkeypatch):
    monkeypatch.delenv("LAPOR_GATEWAY_CONFIG", raising=False)
    config = load_config(None)
    assert (config.http.host, config.http.port) == ("127.0.0.1", 8080)
    assert config.broker.url == "amqp://guest:guest@localhost:5672/"
    assert str(config.storage.path).startswith("var/")
    assert config.channels.web is not None and config.channels.sms is None


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.toml")


def test_log_lines_mask_phones_emails_text_and_secrets(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging(LoggingConfig(level="info", format="json"))
    log = structlog.get_logger("test")
    log.info("report accepted", report_id="01ABC", sender="+6281234567890",
             note="from siti.aminah@example.id via 0812-3456-7890", body="Jalan rusak depan rumah saya",
             token="abcd", password="hunter2")
    line = json.loads(stream.getvalue().strip())
    dumped = json.dumps(line)
    for secret in ("6281234567890", "siti.aminah", "3456-7890", "Jalan rusak", "abcd", "hunter2"):
        assert secret not in dumped
    assert line["report_id"] == "01ABC"
    assert line["body"] == "[28 chars]"
    assert line["event"] == "report accepted" and line["level"] == "info"
    configure_logging(LoggingConfig(level="warning", format="json"))


def test_a_value_the_json_encoder_refuses_still_makes_a_line(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging(LoggingConfig(level="info", format="json"))
    structlog.get_logger("test").info("odd values", big=2**70, keyed={1: "one"}, thing=object(), kind="complaint")
    line = json.loads(stream.getvalue().strip())
    assert (line["big"], line["keyed"], line["kind"]) == (2**70, {"1": "one"}, "complaint")
    assert line["thing"].startswith("<object object")
    configure_logging(LoggingConfig(level="warning", format="json"))


def test_mask_string_keeps_ip_addresses_and_ids():
    assert mask_string("listening on 127.0.0.1:8080") == "listening on 127.0.0.1:8080"
    assert "6281234567890" not in mask_string("wa_id 6281234567890")


def _model_key_paths(model: type, prefix: str = "") -> set[str]:
    from pydantic import BaseModel

    paths = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        paths.add(path)
        if typing.get_origin(field.annotation) is dict:
            continue  # free-form keys (addresses, templates, users)
        for candidate in (field.annotation, *typing.get_args(field.annotation)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                paths |= _model_key_paths(candidate, f"{path}.")
    return paths


def _toml_key_paths(data: dict, prefix: str = "") -> set[str]:
    paths = set()
    for key, value in data.items():
        paths.add(f"{prefix}{key}")
        if isinstance(value, dict) and key not in {"addresses", "auth_users", "send_body", "templates"}:
            paths |= _toml_key_paths(value, f"{prefix}{key}.")
    return paths


def test_example_config_documents_every_key():
    import tomllib

    from gateway.config import Config

    documented = _toml_key_paths(tomllib.loads((ROOT / "config.example.toml").read_text()))
    missing = _model_key_paths(Config) - documented
    assert not missing, f"config.example.toml does not document: {sorted(missing)}"


@pytest.mark.parametrize(("level", "lines"), [("info", 1), ("warning", 0)])
async def test_each_accepted_report_is_one_masked_line_at_info(monkeypatch, make_gateway, http, level, lines):
    gateway = await make_gateway()
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging(LoggingConfig(level=level, format="json"))
    try:
        async with http.post(f"{base_url(gateway)}/v1/reports", json={"body": "Jalan rusak depan rumah saya",
                                                                        "phone": "0812-3456-7890"}) as response:
            accepted = await response.json()
    finally:
        configure_logging(LoggingConfig(level="warning", format="json"))
    logged = [json.loads(line) for line in stream.getvalue().splitlines() if '"report accepted"' in line]
    assert len(logged) == lines
    for line in logged:
        assert (line["report_id"], line["tracking_code"], line["channel"]) == (
            accepted["id"], accepted["tracking_code"], "web")
        assert "3456" not in json.dumps(line) and "Jalan" not in json.dumps(line)

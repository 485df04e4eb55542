"""SMTP intake: Python's smtplib against the gateway's aiosmtpd listener, publishing to the real RabbitMQ."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from adapters.email.smtp import SmtpService
from adapters.email.tests.conftest import email_reports, quarantined
from adapters.email.tests.corpus import OWN, simple
from gateway.config import ConfigError, parse_config
from tests.support.broker import QueueReader

RECIPIENT = "pengaduan@lapor.test"


def smtp_channel(**overrides: Any) -> dict[str, Any]:
    smtp = {"host": "127.0.0.1", "port": 0, "domains": ["lapor.test"], "hostname": "mx.lapor.test", **overrides}
    return {"email": {"own_domains": ["lapor.test"], "smtp": smtp}}


def smtp_port(gateway) -> int:
    return next(service for service in gateway.context.services if isinstance(service, SmtpService)).port


def session(port: int, steps: list[tuple[str, tuple[Any, ...]]], tls: bool = False) -> list[tuple[int, bytes]]:
    """Run smtplib calls in order; each (method, args) answer's (code, text) is returned."""
    answers = []
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example.net")
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            client.starttls(context=context)
            client.ehlo("client.example.net")
        for method, args in steps:
            try:
                answers.append(getattr(client, method)(*args))
            except smtplib.SMTPAuthenticationError as error:
                answers.append((error.smtp_code, error.smtp_error))
    return answers


async def test_accepted_only_after_commit_with_the_tracking_code(make_gateway, queue_reader: QueueReader) -> None:
    gateway = await make_gateway(channels=smtp_channel())
    raw = simple("smtp1@example.net", body="Lampu lalu lintas mati di perempatan.")
    answers = await asyncio.to_thread(session, smtp_port(gateway), [
        ("mail", ("warga@example.net",)), ("rcpt", ("Pengaduan@Lapor.Test",)), ("data", (raw,))])
    assert [code for code, _ in answers] == [250, 250, 250]
    reply = answers[2][1].decode()
    assert "tracking code LPR-" in reply

    await queue_reader.take(1)
    [report] = queue_reader.bodies()
    assert reply.endswith(report["tracking_code"])  # the 250 carries the code of the committed report
    assert report["source"] == {"provider": "smtp", "inbound_address": "pengaduan@lapor.test",
                                "message_id": "smtp1@example.net", "thread_ref": None}
    assert report["reporter"]["identity"] == "mailto:warga@example.net"
    assert report["body"] == "Lampu lalu lintas mati di perempatan."
    raw_stored = gateway.outbox.raw_original(report["raw"]["sha256"])
    assert raw_stored is not None and raw_stored[0] == "message/rfc822"
    assert raw_stored[1].startswith(b"Return-Path: <warga@example.net>\r\n") and raw_stored[1].endswith(raw)

    # The same message again (a retrying MTA): 250 with the original code, no second report.
    again = await asyncio.to_thread(session, smtp_port(gateway), [
        ("mail", ("warga@example.net",)), ("rcpt", (RECIPIENT,)), ("data", (raw,))])
    assert again[2][1].decode().endswith(report["tracking_code"])
    await queue_reader.settle(1.0)
    assert len(queue_reader.bodies()) == 1


async def test_recipient_outside_the_domains_is_refused_with_550(make_gateway, queue_reader: QueueReader) -> None:
    gateway = await make_gateway(channels=smtp_channel())
    port = smtp_port(gateway)
    answers = await asyncio.to_thread(session, port, [
        ("mail", ("warga@example.net",)), ("rcpt", ("someone@other.test",)), ("rcpt", ("x@lapor.test.evil",))])
    assert [code for code, _ in answers] == [250, 550, 550]

    def send_all() -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            return client.sendmail("warga@example.net", ["someone@other.test"], simple("refused@example.net"))

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await asyncio.to_thread(send_all)
    assert refused.value.recipients["someone@other.test"][0] == 550
    await asyncio.sleep(0.5)
    assert email_reports(gateway) == []
    assert gateway.metrics.rejected.labels("email", "recipient")._value.get() == 3


async def test_oversize_is_refused_with_552(make_gateway) -> None:
    gateway = await make_gateway(channels=smtp_channel(max_message_bytes=4096))
    port = smtp_port(gateway)
    big = simple("big@example.net", body="Jalan rusak sekali.\n" * 500)

    def declared_size() -> None:  # smtplib announces SIZE= because the server advertises SIZE
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail("warga@example.net", [RECIPIENT], big)

    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        await asyncio.to_thread(declared_size)
    assert refused.value.smtp_code == 552

    # A client that does not declare the size is cut off at DATA.
    answers = await asyncio.to_thread(session, port, [
        ("mail", ("warga@example.net",)), ("rcpt", (RECIPIENT,)), ("data", (big,))])
    assert [code for code, _ in answers] == [250, 250, 552]
    assert email_reports(gateway) == []


async def test_outbox_unavailable_answers_451_and_recovers(make_gateway, queue_reader: QueueReader) -> None:
    gateway = await make_gateway(channels=smtp_channel())
    port = smtp_port(gateway)
    raw = simple("later@example.net")
    steps = [("mail", ("warga@example.net",)), ("rcpt", (RECIPIENT,)), ("data", (raw,))]

    await gateway.outbox.close()
    answers = await asyncio.to_thread(session, port, steps)
    assert answers[2][0] == 451

    gateway.outbox.open()  # storage is back: the sending MTA's retry is accepted
    answers = await asyncio.to_thread(session, port, steps)
    assert answers[2][0] == 250
    await queue_reader.take(1)
    assert email_reports(gateway) == ["later@example.net"]


async def test_auto_replies_and_bounces_are_kept_for_audit_not_reported(
    make_gateway, queue_reader: QueueReader
) -> None:
    gateway = await make_gateway(channels=smtp_channel())
    port = smtp_port(gateway)
    auto = await asyncio.to_thread(session, port, [
        ("mail", ("warga@example.net",)), ("rcpt", (RECIPIENT,)), ("data", (OWN["auto-submitted"],))])
    bounce = await asyncio.to_thread(session, port, [
        ("mail", ("",)), ("rcpt", (RECIPIENT,)), ("data", (simple("dsn@example.net"),))])
    loop = await asyncio.to_thread(session, port, [
        ("mail", ("pengaduan@lapor.test",)), ("rcpt", (RECIPIENT,)),
        ("data", (simple("me@example.net", sender="<pengaduan@lapor.test>"),))])
    assert [a[2][0] for a in (auto, bounce, loop)] == [250, 250, 250]  # refusing would make the sender bounce
    assert email_reports(gateway) == []
    assert sorted(reason for _, reason in quarantined(gateway)) == ["auto_reply", "bounce", "loop"]
    assert gateway.metrics.quarantined.labels("email", "bounce")._value.get() == 1
    with pytest.raises(AssertionError):
        await queue_reader.take(1, timeout=1.0)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=mx.lapor.test"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


async def test_starttls_and_auth_by_config(make_gateway, certificate: tuple[Path, Path],
                                           queue_reader: QueueReader) -> None:
    cert, key = certificate
    gateway = await make_gateway(channels=smtp_channel(
        tls_cert=str(cert), tls_key=str(key), require_tls=True, auth_required=True,
        auth_users={"relay": "kata-sandi"}))
    port = smtp_port(gateway)
    raw = simple("tls@example.net")
    plain = await asyncio.to_thread(session, port, [("mail", ("warga@example.net",))])
    assert plain[0][0] == 530  # STARTTLS first
    no_auth = await asyncio.to_thread(session, port, [("mail", ("warga@example.net",))], True)
    assert no_auth[0][0] == 530  # then AUTH
    wrong = await asyncio.to_thread(session, port, [("login", ("relay", "salah"))], True)
    assert wrong[0][0] == 535
    ok = await asyncio.to_thread(session, port, [
        ("login", ("relay", "kata-sandi")), ("mail", ("warga@example.net",)), ("rcpt", (RECIPIENT,)),
        ("data", (raw,))], True)
    assert [code for code, _ in ok] == [235, 250, 250, 250]
    await queue_reader.take(1)


def test_tls_and_auth_config_must_be_complete() -> None:
    base: dict[str, Any] = {"domains": ["lapor.test"]}
    extras: list[tuple[dict[str, Any], str]] = [
        ({"tls_cert": "/x.pem"}, "tls_cert and tls_key"),
        ({"require_tls": True}, "require_tls needs"),
        ({"auth_required": True}, "auth_required needs auth_users"),
    ]
    for extra, message in extras:
        with pytest.raises(ConfigError, match=message):
            parse_config({"channels": {"email": {"smtp": base | extra}}})

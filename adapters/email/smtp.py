"""SMTP intake with aiosmtpd: the gateway as the final MTA for the complaints domains.

250 is the commit point's answer: it is sent only after the report (or the quarantined
auto-reply) is durably in the outbox; a failed commit answers 451 so the sending MTA retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from adapters.common import constant_time_equal
from adapters.email.intake import MailIntake
from gateway.config import SmtpConfig
from gateway.metrics import Metrics
from gateway.outbox import OutboxUnavailable

log = structlog.get_logger("email.smtp")


class SmtpService:
    def __init__(self, config: SmtpConfig, mail: MailIntake, metrics: Metrics) -> None:
        self.config = config
        self.handler = _Handler(config, mail, metrics)
        self._server: asyncio.Server | None = None
        self._tls = _tls_context(config)
        self._hostname = config.hostname or socket.gethostname()

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host=self.config.host, port=self.config.port)
        log.info("smtp listening", host=self.config.host, port=self.port, domains=self.config.domains,
                 starttls=self._tls is not None, auth=bool(self.config.auth_users))

    def _protocol(self) -> SMTP:
        config = self.config
        return SMTP(
            self.handler,
            data_size_limit=config.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self._hostname,
            ident="lapor-gateway",
            tls_context=self._tls,
            require_starttls=config.require_tls,
            auth_required=config.auth_required,
            auth_require_tls=config.auth_require_tls,
            authenticator=self._authenticate if config.auth_users else None,
        )

    def _authenticate(
        self, _server: SMTP, _session: Session, _envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        expected = self.config.auth_users.get(user)
        ok = expected is not None and constant_time_equal(auth_data.password, expected)
        if not ok:
            log.warning("smtp auth failed", mechanism=mechanism)
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._server.wait_closed()
        self._server = None


class _Handler:
    def __init__(self, config: SmtpConfig, mail: MailIntake, metrics: Metrics) -> None:
        self.domains = frozenset(domain.lower().strip() for domain in config.domains)
        self.max_recipients = config.max_recipients
        self.mail = mail
        self.metrics = metrics

    async def handle_RCPT(
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, _options: list[str]
    ) -> str:
        if address.rpartition("@")[2].lower() not in self.domains:
            self.metrics.rejected.labels("email", "recipient").inc()
            return "550 5.1.1 Recipient not accepted here"
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else content.encode("utf-8", "surrogateescape")
        sender = envelope.mail_from or ""
        # Final delivery adds Return-Path (RFC 5321 4.4); the bounce screen reads the null sender from it.
        raw = b"Return-Path: <" + sender.encode("utf-8", "replace") + b">\r\n" + data
        inbound = envelope.rcpt_tos[0].lower()
        try:
            outcome = await self.mail.take(raw, provider="smtp", inbound_address=inbound, own_addresses={inbound})
        except OutboxUnavailable:
            log.error("smtp message not stored, answered 451", inbound_address=inbound, size=len(raw))
            return "451 4.3.0 Message could not be stored, try again later"
        except Exception as error:  # never a 250 for mail that is not stored, and never a stack trace to the peer
            log.exception("smtp message failed, answered 451", error=repr(error)[:300])
            return "451 4.3.0 Message could not be stored, try again later"
        if outcome.status == "quarantined":
            return "250 2.0.0 Message kept for review"
        return f"250 2.0.0 Accepted, tracking code {outcome.tracking_code}"


def _tls_context(config: SmtpConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context

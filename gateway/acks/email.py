"""Email acknowledgements: RFC 3834 auto-replies that never answer automatic mail and never loop."""

from __future__ import annotations

import asyncio
import re
import smtplib
import sqlite3
import time
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.utils import formatdate

import aiohttp

from gateway.acks.base import AckMessage, SendFailed, Skip, Target
from gateway.config import AckEmailConfig
from schemas import RawMessage, Report

RATE_SCHEMA = "CREATE TABLE IF NOT EXISTS ack_email_replies (address TEXT PRIMARY KEY, last_at REAL NOT NULL)"

_ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]\\]+@[^@\s<>(),;:\"\[\]\\]+\.[^@\s<>(),;:\"\[\]\\]+$")
_MESSAGE_ID = re.compile(r"^<?([^<>\s]+@[^<>\s]+)>?$")
# Mailboxes that are machines (RFC 3834 §2 and common practice): a reply would bounce or loop.
_MACHINE_LOCAL_PARTS = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|listserv|majordomo|auto-?reply)([+-.].*)?$",
    re.IGNORECASE,
)
_AUTOMATIC_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})


def automatic_reason(headers: Message) -> str | None:
    """Why a message is automatic (an auto-reply, a bounce, list mail), or None for a person's mail."""
    submitted = str(headers.get("Auto-Submitted", "no")).split(";")[0].strip().lower()
    if submitted != "no":
        return "auto_submitted"
    if str(headers.get("Precedence", "")).strip().lower() in _AUTOMATIC_PRECEDENCE:
        return "precedence"
    if any(name in headers for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply")):
        return "autoreply_header"
    suppress = str(headers.get("X-Auto-Response-Suppress", "")).lower()
    if any(word in suppress for word in ("all", "autoreply", "oof")):
        return "suppressed_by_sender"
    if any(name in headers for name in ("List-Id", "List-Unsubscribe", "List-Post")):
        return "mailing_list"
    if "Return-Path" in headers and str(headers["Return-Path"]).strip() in ("<>", ""):
        return "null_return_path"
    if headers.get_content_type() == "multipart/report":
        return "delivery_report"
    return None


def _header_block(data: bytes) -> Message:
    """The headers only (a 25 MB message is not parsed in the commit transaction)."""
    ends = [index for index in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if index >= 0]
    return BytesHeaderParser().parsebytes(data[: min(ends) + 2] if ends else data)


def _message_id(value: str | None) -> str | None:
    match = _MESSAGE_ID.match((value or "").strip())
    return f"<{match.group(1)}>" if match else None


class EmailSender:
    def __init__(self, config: AckEmailConfig, timeout: float) -> None:
        self.config = config
        self.timeout = timeout

    def target(self, conn: sqlite3.Connection, report: Report, raw: RawMessage) -> Target | Skip:
        address = (report.reporter.email or raw.sender.email or "").strip().lower()
        if not _ADDRESS.match(address):
            return Skip("no_recipient")
        sender = (self.config.from_address or report.source.inbound_address).strip().lower()
        if not _ADDRESS.match(sender):
            return Skip("no_from_address")
        if address == sender or _MACHINE_LOCAL_PARTS.match(address.split("@")[0]):
            return Skip("machine_address")
        headers = _header_block(raw.raw) if raw.raw else Message()
        reason = automatic_reason(headers)
        if reason is not None:
            return Skip(reason)
        # The last line against loops with responders that ignore RFC 3834: one reply per address per interval.
        now = time.time()
        last = conn.execute("SELECT last_at FROM ack_email_replies WHERE address=?", (address,)).fetchone()
        if last is not None and now - float(last[0]) < self.config.interval:
            return Skip("rate_limited")
        conn.execute("INSERT INTO ack_email_replies (address, last_at) VALUES (?, ?)"
                     " ON CONFLICT(address) DO UPDATE SET last_at=excluded.last_at", (address, now))
        fields = {"to": address, "from": sender}
        original = _message_id(report.source.message_id)
        if original is not None:
            earlier = str(headers.get("References", "")).split()[-9:]
            fields["in_reply_to"] = original
            fields["references"] = " ".join([*(ref for ref in earlier if _message_id(ref)), original])
        return Target(address, fields)

    async def send(self, http: aiohttp.ClientSession, message: AckMessage) -> str | None:
        mail = self._compose(message)
        await asyncio.to_thread(self._deliver, mail, message.fields["to"])
        return str(mail["Message-ID"])

    def _compose(self, message: AckMessage) -> EmailMessage:
        fields = message.fields
        mail = EmailMessage(policy=SMTP)
        mail["From"] = fields["from"]
        mail["To"] = fields["to"]
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False)
        # Stable across retries, so a receiving system can drop a repeat after an ambiguous failure.
        mail["Message-ID"] = f"<ack.{message.report_id}@{fields['from'].split('@')[1]}>"
        if "in_reply_to" in fields:
            mail["In-Reply-To"] = fields["in_reply_to"]
            mail["References"] = fields["references"]
        mail["Auto-Submitted"] = "auto-replied"
        mail["X-Auto-Response-Suppress"] = "All"  # Exchange/Outlook: no out-of-office back to us
        mail.set_content(message.text)
        return mail

    def _deliver(self, mail: EmailMessage, recipient: str) -> None:
        config = self.config
        try:
            with smtplib.SMTP(config.relay_host, config.relay_port, timeout=self.timeout) as smtp:
                if config.starttls:
                    smtp.starttls()
                if config.username and config.password:
                    smtp.login(config.username, config.password)
                # Null reverse-path (RFC 3834 §3.3): a bounce of an auto-reply must not come back to us.
                smtp.send_message(mail, from_addr="", to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as error:
            code = next(iter(error.recipients.values()))[0]
            raise SendFailed(f"smtp: recipient refused {code}", permanent=code >= 500) from None
        except smtplib.SMTPResponseException as error:
            raise SendFailed(f"smtp: {error.smtp_code}", permanent=error.smtp_code >= 500) from None
        except (smtplib.SMTPException, OSError) as error:
            raise SendFailed(f"smtp: {type(error).__name__}", permanent=False) from None

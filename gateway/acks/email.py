"""Email acknowledgements: RFC 3834 auto-replies (Auto-Submitted, In-Reply-To, null reverse-path).

Automatic mail never gets here: the email channel quarantines auto-replies, bounces and our own
acknowledgements (marked with its OWN_HEADER) instead of making reports of them.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import sqlite3
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.utils import formatdate

import aiohttp

from adapters.email.loops import OWN_HEADER
from gateway.acks.base import AckMessage, SendFailed, Skip, Target
from gateway.acks.store import original_headers, remember_reply
from gateway.config import AckEmailConfig
from schemas import Report

_ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]\\]+@[^@\s<>(),;:\"\[\]\\]+\.[^@\s<>(),;:\"\[\]\\]+$")
_MESSAGE_ID = re.compile(r"^<?([^<>\s]+@[^<>\s]+)>?$")
# Mailboxes that are machines: a reply would bounce or start a conversation between robots.
_MACHINE_LOCAL_PARTS = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|listserv|majordomo|auto-?reply)([+.-].*)?$",
    re.IGNORECASE,
)


def reply_refusal(headers: Message) -> str | None:
    """Why a person's message (it passed the channel's loop screen) still gets no auto-reply.

    Auto-replies, bounces and our own mail never become reports (adapters.email.loops); what is
    left here is RFC 3834's advice for replies only: not to list mail, not when the sender asks.
    """
    if any(name in headers for name in ("List-Id", "List-Unsubscribe", "List-Post")):
        return "mailing_list"
    suppress = str(headers.get("X-Auto-Response-Suppress", "")).lower()
    if any(word in suppress for word in ("all", "autoreply", "oof")):
        return "suppressed_by_sender"
    return None


def _header_block(data: bytes) -> Message:
    """The headers only, compat32 (no structured header objects): this runs in an outbox transaction."""
    ends = [index for index in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if index >= 0]
    return BytesHeaderParser().parsebytes(data[: min(ends) + 2] if ends else data)


def _message_id(value: str | None) -> str | None:
    match = _MESSAGE_ID.match((value or "").strip())
    return f"<{match.group(1)}>" if match else None


class EmailSender:
    def __init__(self, config: AckEmailConfig, timeout: float) -> None:
        self.config = config
        self.timeout = timeout

    def target(self, conn: sqlite3.Connection, report: Report) -> Target | Skip:
        address = (report.reporter.email or "").strip().lower()
        if not _ADDRESS.match(address):
            return Skip("no_recipient")
        sender = (self.config.from_address or report.source.inbound_address).strip().lower()
        if not _ADDRESS.match(sender):
            return Skip("no_from_address")
        if address == sender or _MACHINE_LOCAL_PARTS.match(address.split("@")[0]):
            return Skip("machine_address")
        head = original_headers(conn, report.raw.sha256) if report.raw else None
        headers = _header_block(head) if head else Message()
        reason = reply_refusal(headers)
        if reason is not None:
            return Skip(reason)
        # The last line against loops with responders that ignore RFC 3834: one reply per address per interval.
        if not remember_reply(conn, address, self.config.interval):
            return Skip("rate_limited")
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
        mail[OWN_HEADER] = "acknowledgement"  # the email channel quarantines it if it ever comes back
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

"""Installs the email channel: an IMAP reader and/or an SMTP listener, sharing one MIME intake."""

from __future__ import annotations

from adapters.email.imap import ImapService
from adapters.email.intake import MailIntake
from adapters.email.smtp import SmtpService
from gateway.context import ChannelContext


def install(context: ChannelContext) -> None:
    email = context.config.channels.email
    assert email is not None
    mail = MailIntake(context.intake, context.outbox, context.metrics, own_domains=email.own_domains)
    if email.imap is not None:
        context.services.append(ImapService(email.imap, mail, context.outbox))
    if email.smtp is not None:
        context.services.append(SmtpService(email.smtp, mail, context.metrics))

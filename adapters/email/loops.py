"""Mail that must never become a report: auto-replies, bounces, list traffic and our own mail.

Answering an out-of-office with a tracking code, which answers with another out-of-office, is
how mail loops start; RFC 3834 and the conventions below are how well-behaved software avoids them.
"""

from __future__ import annotations

from collections.abc import Collection
from email.message import Message

from adapters.email.mime import addresses, envelope_sender, header, message_key

# Set on every message the gateway itself sends (acknowledgements), so it recognises them coming back.
OWN_HEADER = "X-Lapor-Gateway"

_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_DAEMON_LOCALPARTS = frozenset({"mailer-daemon", "postmaster"})
_AUTORESPONDER_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder")


def screen(message: Message, raw: bytes, *, own_domains: Collection[str], own_addresses: Collection[str]) -> str | None:
    """Why ``message`` must not become a report ("auto_reply", "bounce", "loop"), or None."""
    if header(message, OWN_HEADER) is not None:
        return "loop"
    ident = message_key(message, raw)
    if not ident.startswith("sha256:") and ident.rpartition("@")[2].lower() in own_domains:
        return "loop"
    senders = [address for _, address in addresses(message, "from")]
    if any(address in own_addresses for address in senders):
        return "loop"
    if envelope_sender(message) == "":
        return "bounce"
    if any(address.partition("@")[0] in _DAEMON_LOCALPARTS for address in senders):
        return "bounce"
    if (header(message, "content-type") or "").lower().startswith("multipart/report"):
        return "bounce"
    submitted = (header(message, "auto-submitted") or "").split(";")[0].strip().lower()
    if submitted and submitted != "no":
        return "auto_reply"
    if (header(message, "precedence") or "").strip().lower() in _BULK_PRECEDENCE:
        return "auto_reply"
    if any(header(message, name) is not None for name in _AUTORESPONDER_HEADERS):
        return "auto_reply"
    return None

"""The one MIME parser for IMAP and SMTP: raw message bytes -> RawMessage.

Mail in the wild lies about its charsets, nests multiparts wrongly, loses boundaries and
mangles base64. Every step here degrades to "best readable text" instead of raising; what
cannot be read at all is the caller's to quarantine. The raw bytes always travel with the
report (message/rfc822), so whatever is trimmed here (quotes, signatures) is never lost.
"""

from __future__ import annotations

import codecs
import email
import email.header
import email.utils
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message

from bs4 import BeautifulSoup
from bs4.element import NavigableString

from schemas import Channel, IncomingAttachment, RawMessage, Sender

RAW_CONTENT_TYPE = "message/rfc822"
MAX_MESSAGE_ID = 512  # longer "ids" are hashed: a hostile header must not become a huge dedup key

# Single-byte charsets that decode any byte: a message declaring one of them but carrying valid
# multi-byte UTF-8 is almost always a client that lied, never real Latin-1 text.
_ANY_BYTE_CHARSETS = frozenset({"ascii", "iso8859-1", "cp1252", "iso8859-15"})  # codecs.lookup() names


def parse_message(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def header(message: Message, name: str) -> str | None:
    """A header decoded (RFC 2047) and unfolded; a header the parser chokes on is decoded leniently."""
    try:
        value = message.get(name)
        return None if value is None else str(value)
    except Exception:  # policy.default parses lazily and some malformed headers raise on access
        for key, raw_value in message.raw_items():
            if key.lower() == name.lower():
                return _decode_words(str(raw_value))
        return None


def _decode_words(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:
        return value


def decode_text(data: bytes, declared: str | None) -> str:
    """Bytes to text: the declared charset, then UTF-8, then cp1252 (replacing what is left)."""
    candidates: list[str] = []
    codec = _codec(declared)
    if codec is not None and not (codec in _ANY_BYTE_CHARSETS and _is_multibyte_utf8(data)):
        candidates.append(codec)
    candidates += ["utf-8", "cp1252"]
    for candidate in candidates:
        try:
            return data.decode(candidate)
        except (UnicodeError, LookupError, ValueError):
            continue
    return data.decode("cp1252", errors="replace")


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        info = codecs.lookup(name.strip().strip('"').lower())
    except (LookupError, ValueError):
        return None
    # Only real text encodings: "base64", "rot13" and friends are codecs too.
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _is_multibyte_utf8(data: bytes) -> bool:
    if data.isascii():
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# -- HTML ------------------------------------------------------------------------------------
_BLOCK_TAGS = ["p", "div", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "hr",
               "section", "article", "header", "footer", "address"]
_WHITESPACE = re.compile(r"\s+")


def html_to_text(html: str) -> str:
    """Readable text from an HTML body: blocks become lines, quoted originals are dropped."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "title", "template"]):
        tag.decompose()
    quoted = soup.find_all("blockquote") + soup.select(".gmail_quote, #divRplyFwdMsg, #appendonsend")
    for tag in quoted:
        tag.decompose()
    for node in soup.find_all(string=True):
        if isinstance(node, NavigableString) and node.find_parent("pre") is None:
            node.replace_with(_WHITESPACE.sub(" ", str(node)))
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_BLOCK_TAGS):
        block.insert_before("\n")
        block.insert_after("\n")
    lines = (line.strip() for line in soup.get_text().split("\n"))
    return "\n".join(lines)


# -- replies, signatures, subjects -------------------------------------------------------------
_ATTRIBUTION = re.compile(
    r"^(on\b.{0,200}\bwrote:|pada\b.{0,200}\bmenulis:|le\b.{0,200}\ba écrit\s?:|am\b.{0,200}\bschrieb\b.{0,100}:)$",
    re.IGNORECASE,
)
_ORIGINAL_MARKER = re.compile(
    r"^(-{2,}\s*(original message|pesan asli|pesan awal)\s*-{2,}|_{20,})$", re.IGNORECASE
)
_OUTLOOK_HEADER = re.compile(r"^(from|dari)\s*:\s*\S", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^(sent|date|dikirim|tanggal|to|kepada)\s*:\s*\S", re.IGNORECASE)
_SIGNATURE = re.compile(r"^--\s?$")
_MOBILE_FOOTER = re.compile(
    r"^(sent from my \S.*|dikirim dari \S.*|get outlook for \S.*|sent from (yahoo )?mail for \S.*)$", re.IGNORECASE
)


def strip_quoted(text: str) -> str:
    """The citizen's own words: quoted lines, the quoted original and the signature removed.

    Attribution lines ("On ... wrote:") are dropped but reading continues after them, so a
    bottom-posted answer survives. If nothing is left, the text is returned as it was: an
    over-eager strip must not empty a report.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    skip = 0
    for index, line in enumerate(lines):
        if skip:
            skip -= 1
            continue
        stripped = line.strip()
        if _SIGNATURE.match(line) or _ORIGINAL_MARKER.match(stripped):
            break
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if _OUTLOOK_HEADER.match(stripped) and _OUTLOOK_NEXT.match(following):
            break
        if _ATTRIBUTION.match(stripped):
            continue
        if following and _ATTRIBUTION.match(f"{stripped} {following}"):
            skip = 1
            continue
        if stripped.startswith(">") or _MOBILE_FOOTER.match(stripped):
            continue
        kept.append(line)
    result = "\n".join(kept).strip()
    return result or text.strip()


_SUBJECT_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|balas|bls|trs|tr)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]|\[[^\]]{0,64}\])\s*",
    re.IGNORECASE,
)


def clean_subject(subject: str | None) -> str | None:
    """Subject without Re:/Fwd:/Balas: or [list-tag] prefixes, however many are stacked."""
    if subject is None:
        return None
    text = " ".join(subject.split())
    while True:
        shorter = _SUBJECT_PREFIX.sub("", text, count=1)
        if shorter == text:
            break
        text = shorter
    return text or None


# -- ids -------------------------------------------------------------------------------------
_MSG_ID = re.compile(r"<([^<>\s]+)>")


def message_key(message: Message, raw: bytes) -> str:
    """The exact-duplicate key: the Message-ID without brackets, else a hash of the whole message."""
    value = header(message, "message-id")
    found = _MSG_ID.findall(value or "")
    ident = found[0] if found else (value or "").strip()
    if not ident or any(char.isspace() for char in ident):
        return f"sha256:{hashlib.sha256(raw).hexdigest()}"
    if len(ident) > MAX_MESSAGE_ID:
        return f"sha256:{hashlib.sha256(ident.encode('utf-8', 'surrogateescape')).hexdigest()}"
    return ident


def thread_ref(message: Message) -> str | None:
    """The message this one answers: In-Reply-To, else the last of References (without brackets)."""
    for name, pick in (("in-reply-to", 0), ("references", -1)):
        found = _MSG_ID.findall(header(message, name) or "")
        if found and len(found[pick]) <= MAX_MESSAGE_ID:
            return str(found[pick])
    return None


def addresses(message: Message, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs of an address header; unparseable ones skipped."""
    try:
        value = message.get(name)
        if value is None:
            return []
        parsed = [(a.display_name, a.addr_spec) for a in getattr(value, "addresses", ())]
    except Exception:
        raw = header(message, name) or ""
        parsed = [(_decode_words(display), address) for display, address in email.utils.getaddresses([raw])]
    return [(display, address.strip().lower()) for display, address in parsed if "@" in address]


def envelope_sender(message: Message) -> str | None:
    """The Return-Path address: "" for the null sender of bounces, None when there is no header."""
    value = header(message, "return-path")
    if value is None:
        return None
    found = re.search(r"<([^<>]*)>", value)
    return (found.group(1) if found else value).strip().lower()


# -- body and attachments ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Content:
    body: str
    attachments: tuple[IncomingAttachment, ...]


def part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    text = decode_text(data, part.get_content_charset())
    return html_to_text(text) if part.get_content_type() == "text/html" else text


def _body_part(message: EmailMessage) -> Message | None:
    try:
        return message.get_body(preferencelist=("plain", "html"))
    except Exception:  # a broken structure: fall back to the first text part below
        return None


def content(message: EmailMessage) -> Content:
    leaves = list(_leaves(message, None))
    body_part = _body_part(message) or next(
        (part for part, _ in leaves if part.get_content_type() in ("text/plain", "text/html") and not _filename(part)),
        None,
    )
    texts: list[str] = []
    attachments: list[IncomingAttachment] = []
    for part, parent_subtype in leaves:
        if part is body_part:
            texts.insert(0, part_text(part))
            continue
        if part.get_content_maintype() == "multipart":  # its boundary is lost: the text is all there is
            texts.append(part_text(part))
            continue
        filename = _filename(part)
        disposition = part.get_content_disposition()
        if part.get_content_maintype() == "text" and filename is None and disposition != "attachment":
            # Alternatives repeat the body; other inline text parts in a mixed message continue it.
            if parent_subtype != "alternative" and part.get_content_type() in ("text/plain", "text/html"):
                texts.append(part_text(part))
            continue
        attachments.append(
            IncomingAttachment(
                filename=filename,
                content_type=part.get_content_type(),
                data=_part_bytes(part),
                inline=disposition == "inline" or (disposition is None and part.get("content-id") is not None),
            )
        )
    body = "\n\n".join(text.strip() for text in texts if text.strip())
    return Content(body=body, attachments=tuple(attachments))


def _leaves(part: Message, parent_subtype: str | None) -> Iterator[tuple[Message, str | None]]:
    """Leaf parts in order; a forwarded message (message/rfc822) is one leaf, kept whole."""
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        for child in part.get_payload():
            if isinstance(child, Message):
                yield from _leaves(child, part.get_content_subtype())
        return
    yield part, parent_subtype


def _part_bytes(part: Message) -> bytes:
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        try:
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0].as_bytes(policy=policy.SMTP)
        except Exception:
            pass
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    try:
        return part.as_bytes()
    except Exception:
        return b""


_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f]")


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return None
    if not name:
        return None
    # Only the last path element, no control characters: the name is shown to agency staff.
    name = _UNSAFE_FILENAME.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name[:255] or None


# -- the RawMessage ----------------------------------------------------------------------------
def to_raw_message(message: EmailMessage, raw: bytes, *, provider: str, inbound_address: str) -> RawMessage:
    senders = addresses(message, "from") or addresses(message, "sender")
    name, address = senders[0] if senders else ("", envelope_sender(message) or "")
    parsed = content(message)
    subject = clean_subject(header(message, "subject"))
    return RawMessage(
        channel=Channel.EMAIL,
        provider=provider,
        inbound_address=inbound_address,
        message_id=message_key(message, raw),
        # Many citizens put the whole complaint in the subject (or send only a photo with one).
        body=strip_quoted(parsed.body) or subject or "",
        sender=Sender(email=address or None, name=name or None),
        subject=subject,
        thread_ref=thread_ref(message),
        attachments=parsed.attachments,
        raw=raw,
        raw_content_type=RAW_CONTENT_TYPE,
    )

"""The attachment store: content-addressed files (sha256), written durably before the commit.

Types are decided by the bytes, not by the name or the sender's claim, and checked against
an allow-list; what is refused is listed in the report with its reason, never dropped silently.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from gateway.ids import new_report_id
from schemas import Attachment, IncomingAttachment

# (magic prefix, offset, content type) for the types citizens send: photos, scans, voice notes.
_MAGIC: list[tuple[bytes, int, str]] = [
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"OggS", 0, "audio/ogg"),
    (b"ID3", 0, "audio/mpeg"),
    (b"\x1a\x45\xdf\xa3", 0, "video/webm"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"\x78\x9f\x3e\x22", 0, "application/vnd.ms-tnef"),
]


def sniff_content_type(data: bytes, declared: str) -> str:
    for magic, offset, content_type in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"mif1"):
            return "image/heic"
        if brand.startswith(b"M4A"):
            return "audio/mp4"
        return "video/mp4"
    declared = declared.split(";")[0].strip().lower() or "application/octet-stream"
    if declared.startswith("text/"):
        try:
            data.decode("utf-8")
            return "text/plain"
        except UnicodeDecodeError:
            return "application/octet-stream"
    # A claim we cannot confirm from the bytes is not trusted.
    return "application/octet-stream"


class AttachmentStore:
    def __init__(
        self, root: Path, max_file_bytes: int, max_message_bytes: int, allowed_types: Sequence[str]
    ) -> None:
        self.root = root
        self.max_file_bytes = max_file_bytes
        self.max_message_bytes = max_message_bytes
        self.allowed_types = list(allowed_types)

    def allowed(self, content_type: str) -> bool:
        return any(fnmatch.fnmatch(content_type, pattern) for pattern in self.allowed_types)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def refused(self, item: IncomingAttachment, size: int, reason: str) -> Attachment:
        return Attachment(
            id=new_report_id(), filename=item.filename, content_type=item.content_type, size=size,
            url=None, status="refused", reason=reason,
        )

    def store_all(self, items: Sequence[IncomingAttachment]) -> list[Attachment]:
        """Store what fits the caps and the allow-list; list the rest as refused. Blocking I/O."""
        stored: list[Attachment] = []
        total = 0
        for item in items:
            if item.data is None:
                continue  # fetched later by the channel (WhatsApp/Telegram media)
            size = len(item.data)
            if size > self.max_file_bytes:
                stored.append(self.refused(item, size, f"larger than {self.max_file_bytes} bytes"))
                continue
            if total + size > self.max_message_bytes:
                stored.append(self.refused(item, size, f"message attachments exceed {self.max_message_bytes} bytes"))
                continue
            stored.append(self.store(item.data, item.filename, item.content_type))
            total += size
        return stored

    def store(self, data: bytes, filename: str | None, declared_type: str) -> Attachment:
        content_type = sniff_content_type(data, declared_type)
        digest = hashlib.sha256(data).hexdigest()
        if not self.allowed(content_type):
            return Attachment(
                id=new_report_id(), filename=filename, content_type=content_type, size=len(data), sha256=digest,
                url=None, status="refused", reason=f"content type {content_type} is not accepted",
            )
        path = self.path_for(digest)
        if not path.exists():
            self._write_durably(path, data)
        return Attachment(
            id=new_report_id(), filename=filename, content_type=content_type, size=len(data), sha256=digest,
            url=path.resolve().as_uri(),
        )

    @staticmethod
    def _write_durably(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

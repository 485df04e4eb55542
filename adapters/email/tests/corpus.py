"""Our own tricky messages, written the way broken and hostile mail really looks.

Each is raw bytes as it would arrive; the public corpus (testdata/public) complements them.
"""

from __future__ import annotations

import base64
from pathlib import Path

PUBLIC = Path(__file__).with_name("testdata") / "public"

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
TNEF = b"\x78\x9f\x3e\x22" + b"\x01\x06\x90\x08\x00" + bytes(range(64))


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def simple(message_id: str, body: str = "Jalan rusak di depan pasar, mohon diperbaiki.",
           subject: str = "Jalan rusak", sender: str = "Warga <warga@example.net>", extra: str = "") -> bytes:
    return crlf(
        f"From: {sender}\nTo: pengaduan@lapor.test\nSubject: {subject}\nMessage-ID: <{message_id}>\n"
        f"Date: Mon, 23 Nov 2026 10:00:00 +0700\nMIME-Version: 1.0\n{extra}"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}\n"
    )


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode()


# name -> raw bytes; expectations live in the tests (table-driven).
OWN: dict[str, bytes] = {
    "ascii-declared-utf8-sent": (
        b"From: =?utf-8?q?Budi_S=C3=A4ntoso?= <Budi@Example.NET>\r\nSubject: Re: Fwd: [Lapor] Lampu jalan mati\r\n"
        b"Message-ID: <charset-1@example.net>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "Lampu di Jl. Merdeka mati sejak Senin — tolong dicek, terima kasih. Café €5".encode() + b"\r\n"
    ),
    "utf8-declared-latin1-sent": (
        b"From: warga@example.net\r\nSubject: =?iso-8859-1?q?Stra=DFe_kaputt?=\r\n"
        b"Message-ID: <charset-2@example.net>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "Die Straße ist kaputt, bitte reparieren. Größe: groß".encode("latin-1") + b"\r\n"
    ),
    "latin1-declared-utf8-sent": (
        b"From: warga@example.net\r\nSubject: Keluhan\r\nMessage-ID: <charset-3@example.net>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "Sampah menumpuk di Kelurahan Cempaka — sudah 2 minggu ✔".encode() + b"\r\n"
    ),
    "unknown-charset": (
        b"From: warga@example.net\r\nSubject: =?x-klingon?q?Hallo?=\r\nMessage-ID: <charset-4@example.net>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nAir PDAM tidak mengalir.\r\n"
    ),
    "codec-not-a-charset": (
        b"From: warga@example.net\r\nSubject: rot\r\nMessage-ID: <charset-5@example.net>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=rot13\r\n\r\nNveangn gvqnx zratnyve.\r\n"
    ),
    "nested-multiparts": crlf(
        "From: \"Siti Rahma\" <siti@example.net>\nTo: pengaduan@lapor.test\nSubject: Banjir di RT 05\n"
        "Message-ID: <nested@example.net>\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"outer\"\n\n"
        "--outer\nContent-Type: multipart/related; boundary=\"rel\"\n\n"
        "--rel\nContent-Type: multipart/alternative; boundary=\"alt\"\n\n"
        "--alt\nContent-Type: text/plain; charset=utf-8\n\nAir setinggi lutut sejak pagi. #banjir\n"
        "--alt\nContent-Type: text/html; charset=utf-8\n\n<p>Air setinggi lutut sejak pagi. #banjir</p>"
        "<img src=\"cid:foto1\">\n"
        "--alt--\n"
        "--rel\nContent-Type: image/png\nContent-ID: <foto1>\nContent-Transfer-Encoding: base64\n\n"
        f"{_b64(PNG)}"
        "--rel--\n"
        "--outer\nContent-Type: application/pdf; name=\"surat.pdf\"\nContent-Disposition: attachment; "
        "filename=\"surat.pdf\"\nContent-Transfer-Encoding: base64\n\n"
        f"{_b64(PDF)}"
        "--outer--\n"
    ),
    "missing-boundary-parameter": crlf(
        "From: warga@example.net\nSubject: Tanpa boundary\nMessage-ID: <noboundary@example.net>\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed\n\n--x\nContent-Type: text/plain\n\nIsi laporan tanpa boundary.\n--x--\n"
    ),
    "boundary-never-closed": crlf(
        "From: warga@example.net\nSubject: Tidak ditutup\nMessage-ID: <unclosed@example.net>\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"zzz\"\n\n--zzz\nContent-Type: text/plain\n\n"
        "Trotoar rusak parah.\n--zzz\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\n"
        f"{_b64(PNG)[:40]}"
    ),
    "huge-headers": crlf(
        "From: warga@example.net\nSubject: " + "Sangat panjang " * 20_000 + "\n"
        "Message-ID: <" + "x" * 5000 + "@example.net>\n"
        "References: " + " ".join(f"<ref{i}@example.net>" for i in range(5000)) + "\n"
        "X-Junk: " + "y" * 100_000 + "\n"
        "MIME-Version: 1.0\nContent-Type: text/plain\n\nLaporan dengan header raksasa.\n"
    ),
    "header-line-without-colon": crlf(
        "From: warga@example.net\nSubject: Header rusak\nMessage-ID: <nocolon@example.net>\n"
        "This line has no colon and ends the headers early\nContent-Type: text/plain\n\nIsi.\n"
    ),
    "base64-errors": crlf(
        "From: warga@example.net\nSubject: Base64 rusak\nMessage-ID: <b64@example.net>\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"b\"\n\n"
        "--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        "SmFsYW4gYmVybHViYW5n!!!IGRp@@IGRlcGFu\n=\n"
        "--b\nContent-Type: image/jpeg; name=\"foto.jpg\"\nContent-Transfer-Encoding: base64\n\n"
        "/9j/4AAQSkZJRgABAQ*** not base64 at all ***\n"
        "--b--\n"
    ),
    "non-ascii-filenames": crlf(
        "From: warga@example.net\nSubject: Lampiran\nMessage-ID: <filenames@example.net>\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nFoto terlampir.\n"
        "--b\nContent-Type: image/png\nContent-Disposition: attachment;\n"
        " filename*=utf-8''jalan%20rusak%20%E2%80%93%20%E5%86%99%E7%9C%9F.png\nContent-Transfer-Encoding: base64\n\n"
        f"{_b64(PNG)}"
        "--b\nContent-Type: application/pdf; name=\"=?utf-8?b?U3VyYXQgUGVuZ2FkdWFuIOKAkyBSVCAwNS5wZGY=?=\"\n"
        "Content-Disposition: attachment\nContent-Transfer-Encoding: base64\n\n"
        f"{_b64(PDF)}"
        "--b\nContent-Type: image/png\nContent-Disposition: attachment; filename=\"../../etc/passwd\x01.png\"\n"
        "Content-Transfer-Encoding: base64\n\n"
        f"{_b64(PNG)}"
        "--b--\n"
    ),
    "html-only": crlf(
        "From: warga@example.net\nSubject: RE: Laporan\nMessage-ID: <html@example.net>\n"
        "In-Reply-To: <ack-123@lapor.test>\nMIME-Version: 1.0\nContent-Type: text/html; charset=windows-1252\n\n"
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
        "<p>Selamat pagi,</p><p>Pohon tumbang di   Jl. Sudirman<br>menutup jalan.</p>"
        "<div class=\"gmail_quote\">On Mon wrote:<blockquote>Laporan Anda kami terima</blockquote></div>"
        "</body></html>\n"
    ),
    "winmail-dat": crlf(
        "From: pegawai@example.net\nSubject: Laporan dari Outlook\nMessage-ID: <tnef@example.net>\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nLihat lampiran.\n"
        "--b\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\n"
        "Content-Disposition: attachment; filename=\"winmail.dat\"\nContent-Transfer-Encoding: base64\n\n"
        f"{_b64(TNEF)}"
        "--b--\n"
    ),
    "quoted-reply-and-signature": crlf(
        "From: Warga <warga@example.net>\nSubject: Re: Re: [LAPOR-123] Jalan rusak\nMessage-ID: <reply@example.net>\n"
        "In-Reply-To: <ack-9@lapor.test>\nReferences: <first@example.net> <ack-9@lapor.test>\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        "Sudah dua minggu belum diperbaiki.\n\n"
        "On Mon, 23 Nov 2026 at 10:00, LAPOR <pengaduan@lapor.test>\nwrote:\n"
        "> Laporan Anda kami terima.\n> Kode: LPR-ABCDEFGH\n\n"
        "-- \nBudi\nRT 05 / RW 02\n"
    ),
    "outlook-original-message": crlf(
        "From: warga@example.net\nSubject: AW: Antw: Keluhan\nMessage-ID: <outlook@example.net>\n"
        "Content-Type: text/plain\n\nMasih belum ada tindak lanjut.\n\n"
        "-----Original Message-----\nFrom: LAPOR\nSent: Monday\nSubject: Keluhan\n\nTeks lama.\n"
    ),
    "no-message-id": crlf(
        "From: warga@example.net\nSubject: Tanpa Message-ID\n\nAir PDAM keruh.\n"
    ),
    "no-sender": crlf("Subject: siapa?\nMessage-ID: <nosender@example.net>\n\nTanpa pengirim.\n"),
    "binary-garbage": bytes(range(256)) * 8,
    "deep-nesting": crlf(
        "From: warga@example.net\nSubject: bom\nMessage-ID: <deep@example.net>\nMIME-Version: 1.0\n"
        + "".join(f"Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n" for i in range(3000))
        + "Content-Type: text/plain\n\nhalo\n"
        + "".join(f"--b{i}--\n" for i in reversed(range(3000)))
    ),
    # Mail that must never become a report.
    "auto-submitted": simple("auto1@example.net", extra="Auto-Submitted: auto-replied\n",
                             subject="Out of office"),
    "auto-submitted-no": simple("auto2@example.net", extra="Auto-Submitted: no\n"),
    "precedence-bulk": simple("bulk@example.net", extra="Precedence: bulk\n"),
    "precedence-auto-reply": simple("autoreply@example.net", extra="Precedence: auto_reply\n"),
    "x-autoreply": simple("xauto@example.net", extra="X-Autoreply: yes\n"),
    "x-autorespond": simple("xautorespond@example.net", extra="X-Autorespond: Terima kasih\n"),
    "empty-return-path": b"Return-Path: <>\r\n" + simple("bounce1@example.net"),
    "mailer-daemon": simple("bounce2@example.net", sender="Mail Delivery System <MAILER-DAEMON@mx.example.net>"),
    "postmaster": simple("bounce3@example.net", sender="postmaster@example.net"),
    "our-own-header": simple("own1@example.net", extra="X-Lapor-Gateway: ack\n"),
    "our-own-message-id": simple("ack-77@lapor.test"),
}

"""The shared MIME parser, table-driven: raw message -> the RawMessage fields, or the quarantine reason.

The end-to-end run of the same corpus through a real Dovecot is in test_imap.py.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from adapters.email.intake import prepare
from adapters.email.mime import clean_subject, decode_text, strip_quoted
from adapters.email.tests.corpus import OWN, PDF, PNG, PUBLIC, TNEF
from schemas import RawMessage

OWN_DOMAINS = {"lapor.test"}


def run(raw: bytes) -> RawMessage | tuple[str, str, str | None]:
    return prepare(raw, provider="imap", inbound_address="pengaduan@lapor.test/INBOX", own_domains=OWN_DOMAINS,
                   own_addresses={"pengaduan@lapor.test"})


def corpus(name: str) -> bytes:
    return OWN[name] if name in OWN else (PUBLIC / name).read_bytes()


REPORTS: list[tuple[str, dict[str, Any]]] = [
    ("ascii-declared-utf8-sent", {
        "subject": "Lampu jalan mati", "email": "budi@example.net", "name": "Budi Säntoso",
        "body": "Lampu di Jl. Merdeka mati sejak Senin — tolong dicek, terima kasih. Café €5"}),
    ("utf8-declared-latin1-sent", {"subject": "Straße kaputt",
                                   "body": "Die Straße ist kaputt, bitte reparieren. Größe: groß"}),
    ("latin1-declared-utf8-sent", {"body": "Sampah menumpuk di Kelurahan Cempaka — sudah 2 minggu ✔"}),
    ("unknown-charset", {"body": "Air PDAM tidak mengalir.", "subject": "Hallo"}),
    ("codec-not-a-charset", {"body": "Nveangn gvqnx zratnyve."}),
    ("nested-multiparts", {
        "name": "Siti Rahma", "body": "Air setinggi lutut sejak pagi. #banjir",
        "attachments": [(None, "image/png", PNG, True), ("surat.pdf", "application/pdf", PDF, False)]}),
    ("missing-boundary-parameter", {"body_contains": "Isi laporan tanpa boundary."}),
    ("boundary-never-closed", {"body": "Trotoar rusak parah.", "attachment_count": 1}),
    ("huge-headers", {"body": "Laporan dengan header raksasa.", "message_id_hashed": True,
                      "thread_ref": "ref4999@example.net"}),
    ("header-line-without-colon", {"body_contains": "Isi."}),
    ("base64-errors", {"body_contains": "Jalan berlubang", "attachment_names": ["foto.jpg"]}),
    ("non-ascii-filenames", {"attachment_names": ["jalan rusak – 写真.png", "Surat Pengaduan – RT 05.pdf",
                                                  "passwd.png"]}),
    ("html-only", {"subject": "Laporan", "body": "Selamat pagi,\n\nPohon tumbang di Jl. Sudirman\nmenutup jalan.",
                   "thread_ref": "ack-123@lapor.test"}),
    ("winmail-dat", {"attachments": [("winmail.dat", "application/ms-tnef", TNEF, False)]}),
    ("quoted-reply-and-signature", {"subject": "Jalan rusak", "body": "Sudah dua minggu belum diperbaiki.",
                                    "thread_ref": "ack-9@lapor.test", "name": "Warga"}),
    ("outlook-original-message", {"subject": "Keluhan", "body": "Masih belum ada tindak lanjut."}),
    ("no-message-id", {"message_id_hashed": True}),
    ("auto-submitted-no", {"message_id": "auto2@example.net"}),
    ("cpython-msg_10.txt", {"body_contains": "¡This is a Quoted Printable encoded message!",
                            "name": "Barry Warsaw", "email": "barry@python.org"}),
    ("cpython-msg_12a.txt", {"body": "Lyrics", "subject": "Lyrics"}),  # all parts empty: the subject speaks
    ("cpython-msg_15.txt", {"body_contains": "Some removed test.", "message_id": "xxxx"}),
    ("cpython-msg_35.txt", {"body_contains": "counter to RFC 5322"}),
    ("cpython-msg_44.txt", {"body": "a simple kind of mirror\nto reflect upon our own",
                            "attachment_names": ["msg.txt"]}),
    ("cpython-msg_47.txt", {"email": "123@example.com", "name": "123@abuse.net"}),
    ("cpython-msg_48.txt", {"body": "This is the signed contents.", "attachment_names": ["signature.asc"],
                            "thread_ref": "somelonglonglonglonglongunwrappablemessageidtoreplyto@mail.foo.bar"}),
    ("mime4j-overlapping-boundaries.msg", {"name": "김용성", "body": "test...\n\nimportant stuff"}),
]

QUARANTINED: list[tuple[str, str]] = [
    ("no-sender", "no_sender"),
    ("binary-garbage", "no_sender"),
    ("deep-nesting", "unparseable"),
    ("auto-submitted", "auto_reply"),
    ("precedence-bulk", "auto_reply"),
    ("precedence-auto-reply", "auto_reply"),
    ("x-autoreply", "auto_reply"),
    ("x-autorespond", "auto_reply"),
    ("empty-return-path", "bounce"),
    ("mailer-daemon", "bounce"),
    ("postmaster", "bounce"),
    ("our-own-header", "loop"),
    ("our-own-message-id", "loop"),
    ("cpython-msg_16.txt", "bounce"),
    ("mime4j-mixed-newlines-base64.msg", "no_sender"),
]


def test_every_corpus_message_has_an_expectation() -> None:
    names = set(OWN) | {path.name for path in PUBLIC.iterdir() if path.suffix != ".md"}
    assert names == {name for name, _ in REPORTS} | {name for name, _ in QUARANTINED}


@pytest.mark.parametrize(("name", "expected"), REPORTS, ids=[name for name, _ in REPORTS])
def test_becomes_a_clean_report(name: str, expected: dict[str, Any]) -> None:
    raw = corpus(name)
    result = run(raw)
    assert isinstance(result, RawMessage), result
    assert result.raw == raw and result.raw_content_type == "message/rfc822"
    assert result.channel.value == "email" and result.inbound_address == "pengaduan@lapor.test/INBOX"
    for key in ("subject", "body", "thread_ref", "message_id"):
        if key in expected:
            assert getattr(result, key) == expected[key], key
    if "email" in expected:
        assert result.sender.email == expected["email"]
    assert result.sender.email == result.sender.email.lower() if result.sender.email else True
    if "name" in expected:
        assert result.sender.name == expected["name"]
    if "body_contains" in expected:
        assert expected["body_contains"] in result.body
    if expected.get("message_id_hashed"):
        assert result.message_id is not None and result.message_id.startswith("sha256:")
        assert len(result.message_id) == 7 + 64
    if "attachments" in expected:
        got = [(a.filename, a.content_type, a.data, a.inline) for a in result.attachments]
        assert got == expected["attachments"]
    if "attachment_names" in expected:
        assert [a.filename for a in result.attachments] == expected["attachment_names"]
    if "attachment_count" in expected:
        assert len(result.attachments) == expected["attachment_count"]


@pytest.mark.parametrize(("name", "reason"), QUARANTINED, ids=[name for name, _ in QUARANTINED])
def test_is_quarantined(name: str, reason: str) -> None:
    result = run(corpus(name))
    assert isinstance(result, tuple), result
    assert result[1] == reason


def test_mail_from_our_own_mailbox_is_a_loop() -> None:
    raw = OWN["auto-submitted-no"].replace(b"Warga <warga@example.net>", b"<Pengaduan@Lapor.Test>")
    result = run(raw)
    assert isinstance(result, tuple) and result[1] == "loop"


def test_oversized_message_is_quarantined_with_its_headers() -> None:
    result = prepare(OWN["nested-multiparts"], provider="imap", inbound_address="x", own_domains=(),
                     own_addresses=(), too_large=True)
    assert result == ("nested@example.net", "too_large", None)


def test_mutated_messages_never_raise() -> None:
    """Random corruption of the whole corpus: always a report or a quarantine reason, never an exception."""
    rng = random.Random(4)
    seeds = [corpus(name) for name, _ in REPORTS if name != "huge-headers"]
    for _ in range(1500):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 12)):
            position = rng.randrange(len(data) + 1)
            choice = rng.random()
            if choice < 0.4 and data:
                data[min(position, len(data) - 1)] = rng.randrange(256)
            elif choice < 0.7:
                del data[position:position + rng.randint(1, 40)]
            else:
                data[position:position] = rng.choice(
                    [b"=?utf-8?q?", b"?=", b"\r\n", b"--", b";", b'"', b"boundary=", b"charset=", b"base64",
                     b"=\r\n", b"<", b">", b"@", b"*0*=", b"\x00", b"\xff", b"\r\n\r\n"])
        result = run(bytes(data))
        assert isinstance(result, RawMessage) or result[1] in {"no_sender", "unparseable", "auto_reply", "bounce",
                                                               "loop"}


@pytest.mark.parametrize(("data", "declared", "expected"), [
    (b"Jalan", "utf-8", "Jalan"),
    ("Größe".encode("latin-1"), "utf-8", "Größe"),  # lying: declared UTF-8, sent Latin-1
    ("Größe — ✔".encode(), "iso-8859-1", "Größe — ✔"),  # lying the other way
    ("Größe".encode("latin-1"), None, "Größe"),
    ("€".encode("cp1252"), "bogus-charset", "€"),
    (b"\x81\x8d\x8f", "utf-8", "\ufffd\ufffd\ufffd"),  # undefined even in cp1252: replaced, never raised
    ("Привет".encode("koi8-r"), "koi8-r", "Привет"),
])
def test_decode_text_falls_back(data: bytes, declared: str | None, expected: str) -> None:
    assert decode_text(data, declared) == expected


@pytest.mark.parametrize(("subject", "expected"), [
    ("Re: Fwd: [Lapor] Lampu mati", "Lampu mati"),
    ("RE:RE: re: Jalan", "Jalan"),
    ("Balas: Trs: [LAPOR-12] [SPAM?] Banjir", "Banjir"),
    ("AW: WG: Antw: Keluhan", "Keluhan"),
    ("Re[2]: Keluhan", "Keluhan"),
    ("Re:", None),
    ("Reformasi birokrasi", "Reformasi birokrasi"),
    ("[Lapor]", None),
    (None, None),
])
def test_subject_prefixes_cleaned(subject: str | None, expected: str | None) -> None:
    assert clean_subject(subject) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Jawaban saya.\n\nPada Sen, 23 Nov 2026 pukul 10.00 LAPOR <a@b.c> menulis:\n> asli\n", "Jawaban saya."),
    ("> kutipan\nJawaban di bawah.\n", "Jawaban di bawah."),
    ("Isi.\n\nSent from my iPhone\n", "Isi."),
    ("Isi.\n\nFrom: LAPOR\nSent: Monday\n\nLama.\n", "Isi."),
    ("Isi.\n--\nTanda tangan\n", "Isi."),
    ("> semuanya kutipan\n> saja\n", "> semuanya kutipan\n> saja"),  # nothing left: keep it all
])
def test_quoted_replies_and_signatures_stripped(text: str, expected: str) -> None:
    assert strip_quoted(text) == expected

"""The comparison form of a text and the guards of the similarity, one behaviour per row."""

from __future__ import annotations

import pytest

from normalizer.fingerprint import MIN_TOKENS, comparison_tokens, features, fingerprint_of, similarity

BASE = ("Lampu penerangan jalan di Jl. Merdeka depan SDN 3 mati total sejak seminggu, malam gelap sekali "
        "dan rawan begal. Mohon segera diperbaiki.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Selamat pagi Pak/Bu, jalan rusak parah", "jalan rusak parah"),
        ("Assalamualaikum wr. wb. Bapak, sy mau lapor", "saya mau lapor"),
        ("Halo min 🙏🙏 got mampet!!! 😡", "got mampet"),
        ("yg tdk gk dgn jln jl kec kel sdh blm utk krn bgt dr sy kmi tlg mhn",
         "tidak tidak jalan jalan kecamatan kelurahan sudah belum banget saya kami"),
        ("RT 03 / RW 002, rt3", "rt 3 rw 2 rt 3"),
        ("Tolooong, sampahnya numpuuuk", "sampahnya numpuk"),
        ("sampah menumpuk. Terima kasih, hormat saya Budi Santoso", "sampah menumpuk"),
        ("sampah menumpuk\nWassalamualaikum wr wb", "sampah menumpuk"),
        ("Good morning, the street light is broken. Thanks, Andi", "street light broken"),
        ("ＲＴ　０５ Ｊｌ．Ｍｅｒｄｅｋａ", "rt 5 jalan merdeka"),
    ],
)
def test_comparison_form(text, expected):
    assert " ".join(comparison_tokens(text)) == expected


def test_a_forward_compares_the_forwarded_complaint():
    forwarded = ("Fwd\n\n---------- Forwarded message ---------\nDari: Siti <siti@example.id>\n"
                 "Date: Sen, 16 Nov 2026\nSubject: Lampu mati\nTo: <lapor@kota.go.id>\n\n" + BASE +
                 "\n\n-- \nSiti Aminah\n0812-3456-7890")
    assert comparison_tokens(forwarded) == comparison_tokens(BASE)


def test_a_short_note_on_a_quoted_complaint_compares_the_complaint():
    reply = "Belum ada tanggapan.\n\nOn Mon, Nov 16, 2026 at 9:15 AM Siti <siti@example.id> wrote:\n> " + BASE
    assert comparison_tokens(reply) == comparison_tokens(BASE)


def test_a_new_complaint_in_a_reply_is_compared_by_its_own_words():
    new = ("Lampunya sudah diganti, terima kasih. Tapi sekarang trotoar di depan sekolah itu amblas dan "
           "paving blocknya lepas semua, anak-anak jalan di badan jalan.")
    reply = f"{new}\n\nPada Sen, 16 Nov 2026 pukul 09.15 Siti <siti@example.id> menulis:\n> {BASE}"
    assert comparison_tokens(reply) == comparison_tokens(new)
    assert similarity(features(reply), features(BASE)) < 0.5


def test_a_resend_cut_at_160_characters_still_matches():
    full = ("Jalan di Jl. Ahmad Yani KM 5 berlubang besar dan dalam, sudah hampir 2 minggu tidak ada perbaikan. "
            "Kemarin malam ada pengendara motor jatuh karena tidak kelihatan lubangnya. Mohon segera diperbaiki.")
    cut = full[:160]
    assert similarity(features(cut), features(full)) >= 0.9
    assert similarity(features(full[:90]), features(full)) < 0.8  # only a cut at the SMS limit is a resend


@pytest.mark.parametrize(
    "other",
    [
        BASE.replace("Jl. Merdeka", "Jl. Sudirman"),  # another street
        BASE.replace("SDN 3", "SDN 7"),  # another school number
        BASE.replace("Jl. Merdeka", "Gang Melati").replace("depan SDN 3", "RT 04"),  # no shared place
        BASE + " Lokasi RT 05.",
    ],
)
def test_the_same_words_about_another_place_are_never_similar(other):
    with_rt = BASE + " Lokasi RT 04."
    assert similarity(features(with_rt), features(other)) == 0.0


def test_a_typo_in_the_street_name_is_the_same_street():
    assert similarity(features(BASE), features(BASE.replace("Merdeka", "Mredeka"))) >= 0.8


def test_short_texts_are_never_linked_but_have_a_fingerprint():
    assert len(comparison_tokens("Lampu mati pak!!")) < MIN_TOKENS
    assert similarity(features("Lampu mati pak!!"), features("lampu mati")) == 0.0
    assert fingerprint_of(comparison_tokens("Lampu mati pak!!")) == fingerprint_of(comparison_tokens("LAMPU MATI"))


def test_nothing_but_courtesy_and_emoji_has_no_fingerprint():
    assert fingerprint_of(comparison_tokens("Selamat pagi 🙏🙏 terima kasih")) is None


def test_a_huge_body_costs_a_bounded_comparison():
    assert len(" ".join(comparison_tokens("jalan rusak parah sekali " * 100_000))) < 8000

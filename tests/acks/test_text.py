"""Acknowledgement texts: GSM-7 segment arithmetic, the default templates, template validation."""

from __future__ import annotations

import pytest

from gateway.acks.text import SMS_SEGMENT_SEPTETS, gsm7_length, render
from gateway.config import AcksConfig, ConfigError, parse_config
from gateway.ids import TRACKING_ALPHABET, TRACKING_LENGTH


@pytest.mark.parametrize(
    ("text", "septets"),
    [
        ("", 0),
        ("LPR-ABCDEFGH", 12),
        ("Kode: 1708 @ £ $ ¥ è é", 22),
        ("ÄÖÑÜ§¿äöñüà", 11),  # in the basic table
        ("[x]", 5),  # [ and ] are extension characters: ESC + char
        ("€10 {ok} ^~|\\", 20),
        ("ç", None),  # lower-case c-cedilla is not GSM-7 (only Ç is)
        ("Jalan “rusak”", None),  # curly quotes force UCS-2
        ("Laporan 🙏", None),
        ("\u00a0", None),
    ],
)
def test_gsm7_length(text, septets):
    assert gsm7_length(text) == septets


@pytest.mark.parametrize("language", ["id", "en"])
@pytest.mark.parametrize("template", ["received", "duplicate"])
def test_default_texts_fit_one_sms_segment_with_any_code(language, template):
    config = AcksConfig()
    longest = "LPR-" + max(TRACKING_ALPHABET) * TRACKING_LENGTH
    text, subject = render(config, language, template, longest)
    length = gsm7_length(text)
    assert length is not None and length <= SMS_SEGMENT_SEPTETS, (length, text)
    assert longest in text and longest in subject


def test_unknown_language_falls_back_to_indonesian():
    config = AcksConfig()
    assert render(config, None, "received", "LPR-23456789")[0] == render(config, "jv", "received", "LPR-23456789")[0]
    assert render(config, "en-GB", "received", "LPR-23456789")[0].startswith("LAPOR! 1708: We received")


def test_templates_are_configurable_per_language():
    config = parse_config({"acks": {"default_language": "en", "templates": {"su": {
        "received": "Laporan ditampi: {tracking_code}", "duplicate": "Tos aya: {tracking_code}",
        "subject": "{tracking_code}"}}}})
    assert render(config.acks, "su", "duplicate", "LPR-23456789")[0] == "Tos aya: LPR-23456789"
    assert render(config.acks, "fr", "received", "LPR-23456789")[0].startswith("LAPOR! 1708: We received")


@pytest.mark.parametrize(
    ("acks", "names"),
    [
        ({"templates": {"id": {"received": "Kode {code}", "duplicate": "{tracking_code}", "subject": "s"}}},
         "acks.templates.id.received"),
        ({"templates": {"en": {"received": "No code here", "duplicate": "{tracking_code}", "subject": "s"}}},
         "acks.templates.en.received"),
        ({"templates": {"en": {"received": "{tracking_code", "duplicate": "{tracking_code}", "subject": "s"}}},
         "acks.templates.en.received"),
        ({"default_language": "fr"}, "default_language"),
        ({"concurrency": 0}, "acks.concurrency"),
        ({"retry_initial": -1}, "acks.retry_initial"),
        ({"email": {"relay_port": 0}}, "acks.email.relay_port"),
        ({"enable": False}, "acks.enable: unknown key"),
    ],
)
def test_bad_acknowledgement_config_names_the_key(acks, names):
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        parse_config({"acks": acks})

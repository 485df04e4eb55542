"""Acknowledgement texts: the configured templates, and how many SMS segments a text costs."""

from __future__ import annotations

from gateway.config import AcksConfig, AckTemplatesConfig

# GSM 03.38 default alphabet; the extension table costs two septets per character (ESC + char).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
SMS_SEGMENT_SEPTETS = 160


def gsm7_length(text: str) -> int | None:
    """Septets ``text`` needs in the GSM-7 alphabet, or None if it needs UCS-2 (70 chars a segment)."""
    total = 0
    for char in text:
        if char in _GSM7_BASIC:
            total += 1
        elif char in _GSM7_EXTENDED:
            total += 2
        else:
            return None
    return total


def templates_for(config: AcksConfig, language: str | None) -> AckTemplatesConfig:
    """The report's language (primary subtag of its BCP 47 tag) if configured, else the default."""
    primary = (language or "").split("-")[0].lower()
    return config.templates.get(primary) or config.templates[config.default_language]


def render(config: AcksConfig, language: str | None, template: str, tracking_code: str) -> tuple[str, str]:
    """(text, email subject) for a ``received`` or ``duplicate`` acknowledgement."""
    chosen = templates_for(config, language)
    values = {"tracking_code": tracking_code}
    body = chosen.duplicate if template == "duplicate" else chosen.received
    return body.format_map(values), chosen.subject.format_map(values)

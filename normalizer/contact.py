"""Phone numbers, email addresses and the reporter identity URN."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from functools import lru_cache

import phonenumbers

from normalizer.draft import Draft

DEFAULT_REGION = "ID"
_DIAL_CHARS = re.compile(r"[^\d+]")


@lru_cache(maxsize=8192)  # pure, and parsing costs far more than a look-up; repeat senders are common
def to_e164(text: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 for a number as a citizen writes it, or None when it is not a valid number.

    Full-width digits are folded first (NFKC); a leading 00 is rewritten to + because
    libphonenumber's Indonesian international prefix is 00[89] and "0062…" would not parse.
    """
    folded = unicodedata.normalize("NFKC", text).strip()
    dialled = _DIAL_CHARS.sub("", folded)
    if dialled.startswith("00"):
        folded = "+" + dialled[2:]
    try:
        number = phonenumbers.parse(folded, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        # "6281234567890" without "+" parses as a national number; retry as international.
        if dialled.startswith(str(phonenumbers.country_code_for_region(region))) and not folded.startswith("+"):
            return to_e164("+" + dialled, region)
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(draft: Draft, region: str = DEFAULT_REGION) -> Draft:
    if not draft.phone:
        return draft
    e164 = to_e164(draft.phone, region)
    if e164 is None:
        return replace(draft, phone=None, address_as_given=draft.phone, notes=(*draft.notes, "phone_unparseable"))
    return replace(draft, phone=e164)


def normalize_email(draft: Draft) -> Draft:
    if not draft.email:
        return draft
    return replace(draft, email=draft.email.strip().lower())


def derive_identity(draft: Draft) -> Draft:
    """One URN per person: the phone links SMS, WhatsApp, Telegram contacts and web forms."""
    if draft.phone:
        identity = f"tel:{draft.phone}"
    elif draft.email:
        identity = f"mailto:{draft.email}"
    elif draft.telegram_id:
        identity = f"telegram:{draft.telegram_id}"
    elif draft.address_as_given:
        identity = f"{draft.channel.value}:{draft.address_as_given}"
    else:
        identity = "web:anonymous"
    return replace(draft, identity=identity)

"""Phone numbers, email addresses and the reporter identity URN."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers

from normalizer.draft import Draft

DEFAULT_REGION = "ID"
_DIAL_CHARS = re.compile(r"[^\d+]")
_PLAIN_NUMBER = re.compile(r"\+?[\d\s().-]+")  # digits and separators only: no letters, no extension
_ID = phonenumbers.PhoneMetadata.metadata_for_region("ID")
assert _ID is not None and _ID.mobile is not None and _ID.general_desc is not None
_ID_MOBILE = re.compile(_ID.mobile.national_number_pattern or "(?!)")
_ID_GENERAL = re.compile(_ID.general_desc.national_number_pattern or "(?!)")
_ID_MOBILE_LENGTHS = frozenset(_ID.mobile.possible_length)


@lru_cache(maxsize=8192)  # pure, and parsing costs far more than a look-up; repeat senders are common
def to_e164(text: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 for a number as a citizen writes it, or None when it is not a valid number."""
    folded = fold_number(text)
    if region == "ID" and (mobile := indonesian_mobile(folded)) is not None:
        return mobile
    return parsed_e164(folded, region)


def fold_number(text: str) -> str:
    """Full-width digits folded (NFKC); a leading 00 rewritten to + because libphonenumber's
    Indonesian international prefix is 00[89] and "0062…" would not parse."""
    folded = unicodedata.normalize("NFKC", text).strip()
    dialled = _DIAL_CHARS.sub("", folded)
    return "+" + dialled[2:] if dialled.startswith("00") else folded


def parsed_e164(folded: str, region: str) -> str | None:
    """libphonenumber's full parse and validation of a folded number."""
    try:
        number = phonenumbers.parse(folded, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        # "6281234567890" without "+" parses as a national number; retry as international.
        dialled = _DIAL_CHARS.sub("", folded)
        if dialled.startswith(str(phonenumbers.country_code_for_region(region))) and not folded.startswith("+"):
            return parsed_e164("+" + dialled, region)
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def indonesian_mobile(folded: str) -> str | None:
    """The usual sender, 08… or +628…, checked against libphonenumber's own mobile metadata.

    The same answer a full parse gives (a property test holds them together) at a fraction of its
    cost; anything else (None) takes the full parse.
    """
    if not _PLAIN_NUMBER.fullmatch(folded):
        return None
    dialled = _DIAL_CHARS.sub("", folded)
    if dialled.startswith("+62"):
        national = dialled[3:]
    elif dialled.startswith("0"):
        national = dialled[1:]
    else:
        return None
    if len(national) in _ID_MOBILE_LENGTHS and _ID_MOBILE.fullmatch(national) and _ID_GENERAL.fullmatch(national):
        return "+62" + national
    return None


def normalize_phone(draft: Draft, region: str = DEFAULT_REGION) -> Draft:
    if not draft.phone:
        return draft
    e164 = to_e164(draft.phone, region)
    if e164 is None:
        return draft.evolve(phone=None, address_as_given=draft.phone, notes=(*draft.notes, "phone_unparseable"))
    return draft.evolve(phone=e164)


def normalize_email(draft: Draft) -> Draft:
    if not draft.email:
        return draft
    return draft.evolve(email=draft.email.strip().lower())


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
    return draft.evolve(identity=identity)

"""Phone numbers: normalisation to E.164 and the time zones a number may be in (phonenumbers)."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import timezone as pn_timezone

_UNKNOWN_ZONE = "Etc/Unknown"


class InvalidNumber(ValueError):
    """A value that is not a dialable phone number; the message says why."""


@dataclass(frozen=True, slots=True)
class NormalizedNumber:
    """A valid number in E.164 with every IANA zone it may be in (empty when unknown)."""

    e164: str
    time_zones: tuple[str, ...]


def normalize_number(raw: str, default_region: str) -> NormalizedNumber:
    """Parse ``raw`` (national format read in ``default_region``) into E.164 and its zones.

    Raises:
        InvalidNumber: with a short reason (empty, not a number, invalid, not dialable).
    """
    text = raw.strip()
    if not text:
        raise InvalidNumber("empty phone number")
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"not a phone number ({exc._msg})") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidNumber("wrong number of digits")
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber("not a valid number")
    number_type = phonenumbers.number_type(parsed)
    if number_type in (phonenumbers.PhoneNumberType.PREMIUM_RATE, phonenumbers.PhoneNumberType.SHARED_COST,
                       phonenumbers.PhoneNumberType.PAGER, phonenumbers.PhoneNumberType.UAN,
                       phonenumbers.PhoneNumberType.VOICEMAIL):
        raise InvalidNumber(f"not dialable for a campaign ({_type_name(number_type)})")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    zones = tuple(z for z in pn_timezone.time_zones_for_number(parsed) if z != _UNKNOWN_ZONE)
    return NormalizedNumber(e164=e164, time_zones=zones)


def _type_name(number_type: int) -> str:
    names = {v: k for k, v in vars(phonenumbers.PhoneNumberType).items() if isinstance(v, int)}
    return names.get(number_type, str(number_type)).lower().replace("_", " ")

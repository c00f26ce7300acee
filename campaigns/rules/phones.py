"""Phone numbers: normalisation to E.164 and the time zones a number may be in (phonenumbers).

``normalize_number`` gives exactly the answer of ``normalize_number_reference`` (the plain
phonenumbers calls) but about ten times faster on the shapes a contact list is made of, because an
import of a million rows spends most of its time here. The fast path handles only input whose
outcome it can decide with the same metadata and the same regular expressions as phonenumbers:

- characters limited to digits, spaces, ``( ) . -`` and one leading ``+``: phonenumbers' parse then
  depends only on the plus sign and the digits (no extension, letters or RFC 3966 context can occur);
- no international dialling prefix, no leading country code of the default region and no national
  prefix to strip (those branches of ``parse`` are left to phonenumbers itself);
- the number is valid and dialable: every rejection is recomputed by the reference path, so each
  reason is phonenumbers' own.

Inside, the type of a number is computed with per-length lists of the metadata's compiled patterns
in ``_number_type_helper``'s order, and the time-zone prefix search starts at the longest key that
can match (see ``_geographical_zones``) instead of at ``TIMEZONE_LONGEST_PREFIX`` digits.
``tests/campaigns/rules/test_phones.py`` compares both paths over a large generated corpus; the fast path
switches itself off for a phonenumbers version it was not checked against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberDesc, PhoneNumberType
from phonenumbers import phonenumberutil as pnu
from phonenumbers import timezone as pn_timezone
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

_UNKNOWN_ZONE = "Etc/Unknown"
# The phonenumbers release whose parse/validate code the fast path mirrors (see module docstring).
FAST_PATH_VERSION = "9.0.43"
FAST_PATH_ENABLED = phonenumbers.__version__ == FAST_PATH_VERSION

_NOT_DIALABLE = frozenset({
    PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST, PhoneNumberType.PAGER,
    PhoneNumberType.UAN, PhoneNumberType.VOICEMAIL,
})


class InvalidNumber(ValueError):
    """A value that is not a dialable phone number; the message says why."""


@dataclass(frozen=True, slots=True)
class NormalizedNumber:
    """A valid number in E.164 with every IANA zone it may be in (empty when unknown)."""

    e164: str
    time_zones: tuple[str, ...]


def normalize_number(raw: str, default_region: str) -> NormalizedNumber:
    """Parse ``raw`` (national format read in ``default_region``) into E.164 and its zones.

    Same result as ``normalize_number_reference``, faster (see the module docstring).

    Raises:
        InvalidNumber: with a short reason (empty, not a number, invalid, not dialable).
    """
    if FAST_PATH_ENABLED:
        result = _normalize_fast(raw, default_region)
        if result is not None:
            return result
    return normalize_number_reference(raw, default_region)


def normalize_number_reference(raw: str, default_region: str) -> NormalizedNumber:
    """The straightforward phonenumbers implementation; the definition ``normalize_number`` keeps.

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
    if number_type in _NOT_DIALABLE:
        raise InvalidNumber(f"not dialable for a campaign ({_type_name(number_type)})")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    zones = tuple(z for z in pn_timezone.time_zones_for_number(parsed) if z != _UNKNOWN_ZONE)
    return NormalizedNumber(e164=e164, time_zones=zones)


def is_supported_region(region: str) -> bool:
    """Whether phonenumbers knows ``region`` (an ISO 3166 alpha-2 code) well enough to parse with it."""
    return region.upper() in phonenumbers.SUPPORTED_REGIONS


def _type_name(number_type: int) -> str:
    names = {v: k for k, v in vars(phonenumbers.PhoneNumberType).items() if isinstance(v, int)}
    return names.get(number_type, str(number_type)).lower().replace("_", " ")


# --- fast path -------------------------------------------------------------------------------

# Digits with the punctuation people type; a plus sign only in front. Anything else goes to phonenumbers.
_SIMPLE_SHAPE = re.compile(r"\+?[0-9 ().\-]+")
_NOT_DIGIT = re.compile(r"[^0-9]")
_MAX_NSN = 17  # phonenumbers' _MAX_LENGTH_FOR_NSN
_MIN_NSN = 2  # phonenumbers' _MIN_LENGTH_FOR_NSN
_MAX_INPUT = 250  # phonenumbers' _MAX_INPUT_STRING_LENGTH
_CC_TO_REGIONS = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
_GEO_MOBILE = pnu._GEO_MOBILE_COUNTRIES
_GEOGRAPHICAL = frozenset({PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


@dataclass(frozen=True, slots=True)
class _RegionRules:
    """One region's metadata, pre-digested for the fast path."""

    region: str
    country_code: int
    leading_digits: re.Pattern[str] | None
    idd: re.Pattern[str] | None
    national_prefix: re.Pattern[str] | None
    # possible lengths of the country's main region (is_possible_number reads those)
    possible_lengths: frozenset[int]
    # this region's own general lengths (parse reads them to decide on a leading country code)
    own_max_length: int
    own_local_lengths: frozenset[int]
    # per national-number length: [(type, pattern)] in _number_type_helper's order
    type_patterns: dict[int, tuple[tuple[int, re.Pattern[str]], ...]]
    general: re.Pattern[str] | None
    general_lengths: frozenset[int]
    same_mobile_and_fixed: bool
    mobile: re.Pattern[str] | None
    mobile_lengths: frozenset[int]


_TYPE_ORDER = (
    (PhoneNumberType.PREMIUM_RATE, "premium_rate"),
    (PhoneNumberType.TOLL_FREE, "toll_free"),
    (PhoneNumberType.SHARED_COST, "shared_cost"),
    (PhoneNumberType.VOIP, "voip"),
    (PhoneNumberType.PERSONAL_NUMBER, "personal_number"),
    (PhoneNumberType.PAGER, "pager"),
    (PhoneNumberType.UAN, "uan"),
    (PhoneNumberType.VOICEMAIL, "voicemail"),
    (PhoneNumberType.FIXED_LINE, "fixed_line"),
)


def _desc_pattern(desc: PhoneNumberDesc | None) -> tuple[re.Pattern[str] | None, frozenset[int] | None]:
    """(compiled pattern or None when it can never match, allowed lengths or None for any)."""
    if desc is None or not desc.national_number_pattern:
        return None, None
    lengths = frozenset(desc.possible_length) if len(desc.possible_length) > 0 else None
    return re.compile(desc.national_number_pattern), lengths


def _compile_region(metadata: PhoneMetadata, region: str, main: PhoneMetadata) -> _RegionRules:
    general, general_lengths = _desc_pattern(metadata.general_desc)
    mobile, mobile_lengths = _desc_pattern(metadata.mobile)
    typed = []
    for number_type, attr in _TYPE_ORDER:
        pattern, lengths = _desc_pattern(getattr(metadata, attr))
        if pattern is not None:
            typed.append((number_type, pattern, lengths))
    by_length: dict[int, tuple[tuple[int, re.Pattern[str]], ...]] = {}
    for length in range(1, _MAX_NSN + 1):
        by_length[length] = tuple((t, p) for t, p, lens in typed if lens is None or length in lens)
    # Every region's metadata has a general description and a country code (libphonenumber's metadata schema);
    # the stubs leave them optional.
    main_desc, own_desc = main.general_desc, metadata.general_desc
    if main_desc is None or own_desc is None or metadata.country_code is None:
        raise ValueError(f"libphonenumber's metadata for {region} lacks its general description or country code")
    possible = frozenset(main_desc.possible_length) | frozenset(main_desc.possible_length_local_only)
    return _RegionRules(
        region=region,
        country_code=metadata.country_code,
        leading_digits=re.compile(metadata.leading_digits) if metadata.leading_digits is not None else None,
        idd=re.compile(metadata.international_prefix) if metadata.international_prefix is not None else None,
        national_prefix=(re.compile(metadata.national_prefix_for_parsing)
                         if metadata.national_prefix_for_parsing else None),
        possible_lengths=possible,
        own_max_length=max(own_desc.possible_length, default=10**6),
        own_local_lengths=frozenset(own_desc.possible_length_local_only),
        type_patterns=by_length,
        general=general,
        general_lengths=general_lengths or frozenset(),
        same_mobile_and_fixed=bool(metadata.same_mobile_and_fixed_line_pattern),
        mobile=mobile,
        mobile_lengths=mobile_lengths if mobile_lengths is not None else frozenset(range(1, _MAX_NSN + 1)),
    )


@lru_cache(maxsize=512)
def _rules_for_region(region: str) -> _RegionRules | None:
    """Rules of a geographic region (as ``parse``'s default region or a member of a country code)."""
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or metadata.country_code is None:
        return None
    main = PhoneMetadata.metadata_for_region(phonenumbers.region_code_for_country_code(metadata.country_code), None)
    return _compile_region(metadata, region, main or metadata)


@lru_cache(maxsize=512)
def _rules_for_country_code(country_code: int) -> tuple[_RegionRules, ...]:
    """Rules of every region sharing ``country_code``, in phonenumbers' order (the main one first)."""
    regions = _CC_TO_REGIONS.get(country_code, ())
    rules = []
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        main_region = phonenumbers.region_code_for_country_code(country_code)
        main = PhoneMetadata.metadata_for_region_or_calling_code(country_code, main_region)
        if metadata is not None:
            rules.append(_compile_region(metadata, region, main or metadata))
    return tuple(rules)


def _number_type(nsn: str, rules: _RegionRules) -> int:
    """phonenumberutil._number_type_helper with its length filters and patterns precomputed."""
    length = len(nsn)
    general = rules.general
    if general is None or (rules.general_lengths and length not in rules.general_lengths):
        return PhoneNumberType.UNKNOWN
    if general.fullmatch(nsn) is None:
        return PhoneNumberType.UNKNOWN
    for number_type, pattern in rules.type_patterns.get(length, ()):
        if pattern.fullmatch(nsn) is not None:
            if number_type != PhoneNumberType.FIXED_LINE:
                return number_type
            if rules.same_mobile_and_fixed:
                return PhoneNumberType.FIXED_LINE_OR_MOBILE
            if rules.mobile is not None and length in rules.mobile_lengths and rules.mobile.fullmatch(nsn):
                return PhoneNumberType.FIXED_LINE_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
    if (not rules.same_mobile_and_fixed and rules.mobile is not None and length in rules.mobile_lengths
            and rules.mobile.fullmatch(nsn)):
        return PhoneNumberType.MOBILE
    return PhoneNumberType.UNKNOWN


def _classify(country_code: int, nsn: str) -> tuple[int, bool]:
    """(number type in the number's own region, possible length) as is_valid_number/number_type see it."""
    candidates = _rules_for_country_code(country_code)
    if not candidates:
        return PhoneNumberType.UNKNOWN, False
    possible = len(nsn) in candidates[0].possible_lengths
    if len(candidates) == 1:
        return _number_type(nsn, candidates[0]), possible
    # region_code_for_number: the first region whose leading digits match, or that validates the number.
    for rules in candidates:
        if rules.leading_digits is not None:
            if rules.leading_digits.match(nsn):
                return _number_type(nsn, rules), possible
        else:
            number_type = _number_type(nsn, rules)
            if number_type != PhoneNumberType.UNKNOWN:
                return number_type, possible
    return PhoneNumberType.UNKNOWN, possible


# time_zones_for_geographical_number returns the zones of the longest prefix of the number's digits
# (up to TIMEZONE_LONGEST_PREFIX) found in TIMEZONE_DATA. A key of 4+ digits that is a prefix of the
# number starts with the number's first 4 digits, so no key longer than the longest such key can
# match: the search starts there instead of at TIMEZONE_LONGEST_PREFIX.
_ZONES_BY_PREFIX = {k: tuple(z for z in v if z != _UNKNOWN_ZONE) for k, v in TIMEZONE_DATA.items()}
_LONGEST_KEY_BY_FIRST4: dict[str, int] = {}
for _key in TIMEZONE_DATA:
    if len(_key) >= 4:
        _LONGEST_KEY_BY_FIRST4[_key[:4]] = max(_LONGEST_KEY_BY_FIRST4.get(_key[:4], 0), len(_key))
_COUNTRY_ZONES: dict[int, tuple[str, ...]] = {}


def _geographical_zones(digits: str) -> tuple[str, ...]:
    """time_zones_for_geographical_number for the E.164 digits (without "+") of a valid number."""
    for size in range(min(_LONGEST_KEY_BY_FIRST4.get(digits[:4], 3), TIMEZONE_LONGEST_PREFIX), 0, -1):
        zones = _ZONES_BY_PREFIX.get(digits[:size])
        if zones is not None:
            return zones
    return ()


def _country_zones(country_code: int) -> tuple[str, ...]:
    """_country_level_time_zones_for_number, which reads only the country code."""
    zones = _COUNTRY_ZONES.get(country_code)
    if zones is None:
        found = pn_timezone._country_level_time_zones_for_number(
            phonenumbers.PhoneNumber(country_code=country_code, national_number=0))
        zones = _COUNTRY_ZONES[country_code] = tuple(z for z in found if z != _UNKNOWN_ZONE)
    return zones


def _normalize_fast(raw: str, default_region: str) -> NormalizedNumber | None:
    """The fast path; None means "ask phonenumbers" (any doubt, and every rejection)."""
    text = raw.strip()
    if not text or len(text) > _MAX_INPUT or _SIMPLE_SHAPE.fullmatch(text) is None or "+" in text[1:]:
        return None
    digits = _NOT_DIGIT.sub("", text)
    if len(digits) < 3:
        return None
    if text[0] == "+":
        # _extract_country_code: the shortest prefix (1-3 digits) that is a known calling code.
        if digits[0] == "0":
            return None
        for size in (1, 2, 3):
            country_code = int(digits[:size])
            if country_code in _CC_TO_REGIONS:
                break
        else:
            return None
        national = digits[size:]
        rules_list = _rules_for_country_code(country_code)
        if not rules_list:
            return None
        parse_rules = rules_list[0]  # parse() strips the national prefix with the main region's metadata
    else:
        region_rules = _rules_for_region(default_region)  # as phonenumbers reads it: "gb" is no region
        if region_rules is None:
            return None
        if region_rules.idd is not None and region_rules.idd.match(digits):
            return None  # may be an international dialling prefix: phonenumbers decides
        country_code = region_rules.country_code
        national = digits
        parse_rules = region_rules
        code = str(country_code)
        if digits.startswith(code):
            # _maybe_extract_country_code: read the leading digits as the region's own country code
            # when the number is valid only without them, or too long with them.
            rest = digits[len(code):]
            if region_rules.national_prefix is not None and region_rules.national_prefix.match(rest):
                return None  # a national prefix may be stripped after the code: phonenumbers decides
            general = region_rules.general
            if general is None:
                return None
            too_long = len(digits) not in region_rules.own_local_lengths and len(digits) > region_rules.own_max_length
            if (general.fullmatch(digits) is None and general.fullmatch(rest) is not None) or too_long:
                national = rest
                parse_rules = _rules_for_country_code(country_code)[0]
    if not _MIN_NSN <= len(national) <= _MAX_NSN:
        return None
    if parse_rules.national_prefix is not None and parse_rules.national_prefix.match(national):
        return None  # a national prefix may be stripped: phonenumbers decides
    number_type, possible = _classify(country_code, national)
    if not possible or number_type == PhoneNumberType.UNKNOWN or number_type in _NOT_DIALABLE:
        return None
    digits = f"{country_code}{national}"
    if number_type in _GEOGRAPHICAL or (number_type == PhoneNumberType.MOBILE and country_code in _GEO_MOBILE):
        zones = _geographical_zones(digits)
    else:
        zones = _country_zones(country_code)
    return NormalizedNumber(e164="+" + digits, time_zones=zones)

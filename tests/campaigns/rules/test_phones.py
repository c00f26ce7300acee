"""Phone normalisation: E.164, reasons for rejection, time zones, and the fast path's exactness."""

from __future__ import annotations

import itertools
import random

import phonenumbers
import pytest

from campaigns.rules import phones
from campaigns.rules.phones import (
    InvalidNumber,
    NormalizedNumber,
    is_supported_region,
    normalize_number,
    normalize_number_reference,
)


@pytest.fixture(autouse=True)
def _metadata_read_afresh() -> None:
    # Each test compiles the region rules it needs: with the caches kept across tests, only the first test to
    # touch a region would run that code, and mutation testing would credit no other test with covering it.
    phones._rules_for_region.cache_clear()
    phones._rules_for_country_code.cache_clear()
    phones._COUNTRY_ZONES.clear()


@pytest.mark.parametrize("raw", ["(212) 555-1234", "212.555.1234", "212-555-1234", "+1 212 555 1234",
                                 "1-212-555-1234", "12125551234", "+12125551234", " 2125551234 ", "011 1 212 555 1234"])
def test_us_formats_normalise_to_one_e164_in_new_york(raw: str) -> None:
    assert normalize_number(raw, "US") == NormalizedNumber("+12125551234", ("America/New_York",))


def test_national_format_is_read_in_the_default_region() -> None:
    assert normalize_number("020 7946 0958", "GB").e164 == "+442079460958"
    assert normalize_number("(416) 555-0199", "CA") == NormalizedNumber("+14165550199", ("America/Toronto",))


def test_number_in_several_zones_keeps_every_candidate() -> None:
    # A UK mobile may be in Guernsey, the Isle of Man, Jersey or London: the dialer uses the strictest.
    zones = normalize_number("+44 7911 123456", "US").time_zones
    assert zones == ("Europe/Guernsey", "Europe/Isle_of_Man", "Europe/Jersey", "Europe/London")


def test_number_with_no_known_zone_has_none() -> None:
    # International freephone (+800) belongs to no country.
    assert normalize_number("+800 1234 5678", "US").time_zones == ()


@pytest.mark.parametrize(("raw", "reason"), [
    ("", "empty phone number"),
    ("   ", "empty phone number"),
    ("not a number", "not a phone number (The string supplied did not seem to be a phone number.)"),
    ("+999 123 456 789", "not a phone number (Could not interpret numbers after plus-sign.)"),
    ("12", "wrong number of digits"),
    ("x", "not a phone number (The string supplied did not seem to be a phone number.)"),
    ("212 555 12345 678", "wrong number of digits"),
    ("555-0100", "not a valid number"),
    ("(123) 456-7890", "not a valid number"),
    ("+1 900 555 0199", "not dialable for a campaign (premium rate)"),
])
def test_rejections_name_the_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidNumber) as exc:
        normalize_number(raw, "US")
    assert str(exc.value) == reason


@pytest.mark.parametrize(("raw", "region"), [
    ("(212) 555-1234", "US"),  # national, one-digit country code
    ("1-212-555-1234", "US"),  # national with the region's own country code in front
    ("62889", "AC"),  # national, a region without a national prefix
    ("24762889", "AC"),  # the same with the country code in front
    ("376712 345", "AD"),  # country code in front, and valid only without it
    ("+24740123", "AC"),  # a mobile number
    ("+1 268-460-1234", "AG"),  # a country code shared by several regions (NANPA)
    ("+358 18 1234567", "AX"),  # shared, told apart by leading digits (Aland under Finland's +358)
    ("+93 23 456 7890", "AF"),  # two-digit country code
    ("+501 222-1234", "BZ"),  # three-digit country code
    ("+44 7911 123456", "US"),  # E.164 read from another region
])
def test_the_fast_path_answers_the_common_shapes_itself(raw: str, region: str) -> None:
    # given a number in a shape a contact list is made of
    # when the fast path reads it, then it answers itself, and with phonenumbers' own answer
    answer = phones._normalize_fast(raw, region)
    assert answer is not None
    assert answer == normalize_number_reference(raw, region)


def test_normalize_number_takes_the_fast_path_when_it_can(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a reference path that would fail the test if it were asked
    def reference(raw: str, region: str) -> NormalizedNumber:
        raise AssertionError(f"the reference path was asked about {raw!r}")

    monkeypatch.setattr(phones, "normalize_number_reference", reference)
    # when a plain national number is normalised, then the fast path alone answers
    assert normalize_number("(212) 555-1234", "US") == NormalizedNumber("+12125551234", ("America/New_York",))


@pytest.mark.parametrize(("raw", "region", "reason"), [
    ("55800123456", "BR", "not a valid number"),  # +55 and a national number valid only with the 55
    ("212 555 123 x4", "US", "wrong number of digits"),  # an extension is not part of the number
    ("(212) 555-123 ext. 4", "US", "wrong number of digits"),
    ("212" + " " * 300 + "5551234", "US", "not a phone number (The string supplied was too long to parse.)"),
    ("+0 1 212 555 1234", "US", "not a phone number (Could not interpret numbers after plus-sign.)"),
    ("020 7946 0958", "gb", "not a phone number (Missing or invalid default region.)"),  # regions are upper case
    ("44 20 7946 0958", "gb", "not a phone number (Missing or invalid default region.)"),
])
def test_doubtful_input_gets_phonenumbers_own_answer(raw: str, region: str, reason: str) -> None:
    # given input the fast path must not decide itself
    # when it is normalised, then the answer is the reference path's, reason included
    with pytest.raises(InvalidNumber) as exc:
        normalize_number(raw, region)
    assert str(exc.value) == reason
    assert _outcome(raw, region) == f"invalid: {reason}"


@pytest.mark.parametrize(("region", "supported"), [("US", True), ("gb", True), ("Kz", True), ("ZZ", False),
                                                   ("", False), ("USA", False)])
def test_supported_regions_are_phonenumbers_regions_in_any_case(region: str, supported: bool) -> None:
    assert is_supported_region(region) is supported


def test_the_fast_path_reads_as_long_an_input_as_phonenumbers_does() -> None:
    # given a number padded to phonenumbers' limit of 250 characters, and one a character over it
    at_limit = "212" + " " * (250 - 10) + "5551234"
    over = at_limit.replace(" ", "  ", 1)
    assert (len(at_limit), len(over)) == (250, 251)
    # then the fast path reads the first itself, and leaves the second to phonenumbers, which refuses it
    assert phones._normalize_fast(at_limit, "US") == normalize_number_reference(at_limit, "US")
    assert phones._normalize_fast(at_limit, "US") is not None
    assert phones._normalize_fast(over, "US") is None
    assert _outcome(over, "US") == "invalid: not a phone number (The string supplied was too long to parse.)"


def test_country_level_zones_are_looked_up_once_per_country_code(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a count of phonenumbers' country-level zone look-ups
    calls: list[int] = []
    lookup = phones.pn_timezone._country_level_time_zones_for_number

    def counted(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
        calls.append(number.country_code)
        return lookup(number)

    monkeypatch.setattr(phones.pn_timezone, "_country_level_time_zones_for_number", counted)
    # when two UK mobiles (zoned by country, not by prefix) are normalised on the fast path
    first = phones._normalize_fast("+44 7911 123456", "US")
    second = phones._normalize_fast("+44 7400 123456", "US")
    # then the UK's zones were looked up once
    assert first is not None
    assert second is not None
    assert first.time_zones == second.time_zones == ("Europe/Guernsey", "Europe/Isle_of_Man", "Europe/Jersey",
                                                     "Europe/London")
    assert calls == [44]


def test_an_undialable_type_phonenumbers_does_not_name_is_given_by_its_number() -> None:
    assert phones._type_name(phonenumbers.PhoneNumberType.PREMIUM_RATE) == "premium rate"
    assert phones._type_name(98) == "98"


def _outcome(raw: str, region: str) -> NormalizedNumber | str:
    try:
        return normalize_number_reference(raw, region)
    except InvalidNumber as exc:
        return f"invalid: {exc}"


def _fast_outcome(raw: str, region: str) -> NormalizedNumber | str:
    try:
        return normalize_number(raw, region)
    except InvalidNumber as exc:
        return f"invalid: {exc}"


def _corpus(seed: int, size: int) -> list[tuple[str, str]]:
    """Numbers near every region's example numbers, written the ways people write them."""
    rnd = random.Random(seed)
    examples = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in range(12):
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is not None:
                examples.append((region, example))
    formats = [phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
               phonenumbers.PhoneNumberFormat.NATIONAL]
    corpus = []
    for _ in range(size):
        region, example = rnd.choice(examples)
        nsn = phonenumbers.national_significant_number(example)
        k = rnd.randint(1, min(6, len(nsn)))
        digits = nsn[:-k] + "".join(rnd.choice("0123456789") for _ in range(k))
        if rnd.random() < 0.1:
            digits = digits[: rnd.randint(1, len(digits))] + digits[rnd.randint(0, len(digits)):]
        number = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(digits or "0"),
                                          italian_leading_zero=example.italian_leading_zero,
                                          number_of_leading_zeros=example.number_of_leading_zeros)
        style = rnd.random()
        default = rnd.choice(["US", "CA", "GB", "DE", "IT", "RU", "KZ", "IN", "AU", "BR"])
        if style < 0.6:
            text = phonenumbers.format_number(number, rnd.choice(formats))
            if " " not in text or not text.startswith("+"):
                default = region
        elif style < 0.75:
            text = f"{example.country_code}{rnd.choice(['', ' ', '-'])}" + phonenumbers.format_number(
                number, phonenumbers.PhoneNumberFormat.NATIONAL)
            default = region
        elif style < 0.85:
            text = rnd.choice(["011 ", "00 ", "0011"]) + phonenumbers.format_number(
                number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)[1:]
        else:
            text = "".join(ch + (rnd.choice(" -.()") if rnd.random() < 0.15 else "")
                           for ch in f"{'+' if rnd.random() < 0.5 else ''}{example.country_code}{digits}")
        if rnd.random() < 0.2:
            text = text.replace(" ", rnd.choice(["-", ".", "", "  "]))
        corpus.append((text, default))
    return corpus


def test_fast_path_gives_exactly_the_reference_answer() -> None:
    # given numbers of every region, valid and not, in national, international and E.164 forms
    corpus = _corpus(seed=20261124, size=12000)
    # when both implementations read them
    # (the first 20 disagreements are enough to see what is wrong, and stop a broken fast path early)
    disagreements = ((raw, region, _outcome(raw, region), _fast_outcome(raw, region)) for raw, region in corpus
                     if _outcome(raw, region) != _fast_outcome(raw, region))
    mismatches = list(itertools.islice(disagreements, 20))
    # then they agree everywhere, and the fast path did answer a good share itself
    assert mismatches == []
    answered = sum(1 for raw, region in corpus if phones._normalize_fast(raw, region) is not None)
    assert answered > len(corpus) * 0.3


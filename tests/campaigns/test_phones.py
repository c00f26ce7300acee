"""Phone normalisation: E.164, reasons for rejection, time zones, and the fast path's exactness."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from campaigns import phones
from campaigns.phones import InvalidNumber, NormalizedNumber, normalize_number, normalize_number_reference


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
    mismatches = [(raw, region, _outcome(raw, region), _fast_outcome(raw, region)) for raw, region in corpus
                  if _outcome(raw, region) != _fast_outcome(raw, region)]
    # then they agree everywhere, and the fast path did answer a good share itself
    assert mismatches == []
    answered = sum(1 for raw, region in corpus if phones._normalize_fast(raw, region) is not None)
    assert answered > len(corpus) * 0.3


"""Consent, national do-not-call files, reassigned-number results, company rules, and caps counted from the ledger."""

from __future__ import annotations

import datetime as dt

import pytest

from campaigns.choices import AttemptState, Disposition
from campaigns.models import CallAttempt
from compliance.caps import check_caps, next_allowed_by_caps
from compliance.choices import ConsentKind, ReassignedResult
from compliance.models import CompanyRule, ConsentRecord, NationalDncNumber
from compliance.services import (
    company_policy,
    import_national_dnc,
    national_dnc_status,
    record_consent,
    record_reassigned_result,
    revoke_consent,
)
from tests.campaigns.dialer_setup import MIDDAY, running_campaign
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
FL = "+13055550123"


def test_national_dnc_import_keeps_the_download_date_and_area_codes() -> None:
    result = import_national_dnc(["3055550123", "305,5550124", "", "not a number", "1-212-555-0100"],
                                 downloaded_at=MIDDAY, file_name="305.txt")
    assert result.numbers == 3
    assert result.area_codes == ("212", "305")
    assert result.rejected_lines == (4,)
    assert set(NationalDncNumber.objects.values_list("phone_e164", flat=True)) == {
        "+13055550123", "+13055550124", "+12125550100"}


def test_a_registry_older_than_31_days_blocks_telemarketing_with_a_message() -> None:
    allowed, message = national_dnc_status(MIDDAY)
    assert not allowed
    assert "no National Do Not Call Registry file" in message
    import_national_dnc(["3055550123"], downloaded_at=MIDDAY - dt.timedelta(days=31))
    assert national_dnc_status(MIDDAY)[0]
    allowed, message = national_dnc_status(MIDDAY + dt.timedelta(days=1))
    assert not allowed
    assert "32 days old" in message


def test_naive_dates_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        import_national_dnc([], downloaded_at=dt.datetime(2026, 6, 1))  # noqa: DTZ001 (the point of the test)
    with pytest.raises(ValueError, match="aware"):
        record_consent(FL, kind=ConsentKind.WRITTEN, source="form", obtained_at=dt.datetime(2026, 6, 1))  # noqa: DTZ001


def test_consent_is_recorded_and_revoked() -> None:
    record_consent(FL, kind=ConsentKind.WRITTEN, source="https://example.invalid/form", obtained_at=MIDDAY,
                   text="I agree to receive calls", evidence_ref="s3://proofs/1")
    assert revoke_consent(FL, MIDDAY) == 1
    assert ConsentRecord.objects.get(phone_e164=FL).revoked_at == MIDDAY
    with pytest.raises(ValueError, match="unknown consent kind"):
        record_consent(FL, kind="implied", source="x", obtained_at=MIDDAY)
    with pytest.raises(ValueError, match="unknown reassigned"):
        record_reassigned_result(FL, date_asked=MIDDAY.date(), result="maybe")
    assert record_reassigned_result(FL, date_asked=MIDDAY.date(), result=ReassignedResult.NO).pk


def test_company_rules_combine_to_the_strictest() -> None:
    assert company_policy() is None
    CompanyRule.objects.create(window_start=dt.time(9), window_end=dt.time(20), max_calls_7d=5)
    CompanyRule.objects.create(window_start=dt.time(8), window_end=dt.time(19), window_days=[0, 1, 2, 3, 4])
    policy = company_policy()
    assert policy is not None
    assert (policy.start, policy.end, policy.days) == (dt.time(9), dt.time(19), frozenset(range(5)))
    assert [c.describe() for c in policy.caps] == ["5 per 168h"]


def _dialed(phone: str, at: dt.datetime) -> CallAttempt:
    campaign = running_campaign()
    contact = ContactFactory(campaign=campaign, phone_e164=phone)
    return CallAttempt.objects.create(campaign=campaign, contact=contact, state=AttemptState.ENDED,
                                      disposition=Disposition.NO_ANSWER, dialing_at=at, ended_at=at)


def test_florida_cap_counts_calls_from_every_campaign_and_says_when_it_frees() -> None:
    # given three calls to one Florida number from three campaigns in the last 24 h
    for hours in (20, 5, 1):
        _dialed(FL, MIDDAY - dt.timedelta(hours=hours))
    _dialed(FL, MIDDAY - dt.timedelta(hours=30))  # outside the 24 h
    # then the Florida cap (3 per 24 h) is reached and frees when the oldest of the three is 24 h old
    counts = check_caps(FL, ("US-FL",), MIDDAY)
    assert [(c.rule, c.counted, c.reached) for c in counts] == [("US-FL", 3, True)]
    assert next_allowed_by_caps(counts) == MIDDAY + dt.timedelta(hours=4)
    # and a New York number with the same history has no cap
    assert check_caps(FL, ("US-NY",), MIDDAY) == []


def test_an_attempt_about_to_dial_counts_and_a_cancelled_one_does_not() -> None:
    _dialed(FL, MIDDAY - dt.timedelta(hours=2))
    campaign = running_campaign()
    queued = CallAttempt.objects.create(campaign=campaign, contact=ContactFactory(campaign=campaign, phone_e164=FL))
    other = running_campaign()
    CallAttempt.objects.create(campaign=other, contact=ContactFactory(campaign=other, phone_e164=FL),
                               state=AttemptState.ENDED, disposition=Disposition.CANCELLED, ended_at=MIDDAY)
    assert check_caps(FL, ("US-FL",), MIDDAY)[0].counted == 2
    # the attempt being gated is not counted against itself
    assert check_caps(FL, ("US-FL",), MIDDAY, exclude_attempt=queued.pk)[0].counted == 1

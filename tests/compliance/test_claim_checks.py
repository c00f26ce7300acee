"""The compliance conditions of the dispatcher's claim statement in the forms that keep it cheap: the company's
hours folded into the window's zone list, the state-hours and cap checks skipped for contacts without such a
state (precomputed code sets), the reassigned-number check that reads consents only for a reported number, and
the statement prepared once with the zone lists and caps sent as arrays. Each must refuse exactly what the plain
form refused."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
from django.db import connection

from campaigns.models import CallAttempt, Campaign, Contact
from compliance import claim_sql
from compliance.choices import ConsentKind, ReassignedResult
from compliance.models import CompanyRule
from compliance.services import record_consent, record_reassigned_result, revoke_consent
from tests.campaigns.dialer_setup import MIDDAY, NY, live_ua, running_campaign
from tests.compliance.test_dial_time import tick
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ua(redis_client: redis.Redis) -> str:
    return live_ua(redis_client)


def _wide_campaign() -> Campaign:
    return running_campaign(window_days=list(range(7)), window_start=dt.time(0), window_end=dt.time(23, 59),
                            max_concurrent=50)


def _claimed(r: redis.Redis, now: dt.datetime) -> set[int]:
    return {a.contact_id for a in CallAttempt.objects.filter(pk__in=tick(r, now))}


def test_company_hours_narrow_the_claim_for_contacts_without_a_state(redis_client: redis.Redis, ua: str) -> None:
    # given the company calls 09:00-11:00 only, and a New York number with no state rule of its own
    CompanyRule.objects.create(window_start=dt.time(9), window_end=dt.time(11))
    campaign = _wide_campaign()
    contact = ContactFactory(campaign=campaign, phone_e164="+12125550140", time_zones=[NY], jurisdictions=["US-NY"])
    # when the dispatcher ticks at 12:00 New York time, then nothing is claimed
    assert _claimed(redis_client, MIDDAY) == set()
    # and at 10:30 New York time the contact is claimed
    assert _claimed(redis_client, MIDDAY - dt.timedelta(minutes=90)) == {contact.pk}


def test_a_company_cap_applies_to_contacts_of_states_without_caps(redis_client: redis.Redis, ua: str) -> None:
    # given a company cap of one call per 24 h, and a New York number already dialed in another campaign
    CompanyRule.objects.create(max_calls_24h=1)
    earlier, campaign = _wide_campaign(), _wide_campaign()
    phone = "+12125550141"
    dialed = ContactFactory(campaign=earlier, phone_e164=phone, time_zones=[NY], jurisdictions=["US-NY"])
    CallAttempt.objects.create(campaign=earlier, contact=dialed, trunk=earlier.trunk, state="ended",
                               dialing_at=MIDDAY - dt.timedelta(hours=2), ended_at=MIDDAY - dt.timedelta(hours=2))
    Contact.objects.filter(pk=dialed.pk).update(status="done")
    capped = ContactFactory(campaign=campaign, phone_e164=phone, time_zones=[NY], jurisdictions=["US-NY"])
    other = ContactFactory(campaign=campaign, phone_e164="+12125550142", time_zones=[NY], jurisdictions=["US-NY"])
    # when the dispatcher ticks, then only the number not yet called is claimed
    assert _claimed(redis_client, MIDDAY) == {other.pk}
    assert capped.pk not in _claimed(redis_client, MIDDAY + dt.timedelta(hours=21))
    # a day after the first call the cap frees
    assert _claimed(redis_client, MIDDAY + dt.timedelta(hours=22, minutes=1)) == {capped.pk}


def test_state_hours_still_refuse_a_contact_whose_other_state_has_none(redis_client: redis.Redis, ua: str) -> None:
    # given a contact governed by New York (no hours of its own) and Kentucky (10:00-21:00)
    campaign = _wide_campaign()
    both = ContactFactory(campaign=campaign, phone_e164="+12125550143", time_zones=[NY],
                          jurisdictions=["US-KY", "US-NY"])
    # when the dispatcher ticks at 09:30 New York time, then it is not claimed; at 10:00 it is
    assert _claimed(redis_client, MIDDAY - dt.timedelta(hours=2, minutes=30)) == set()
    assert _claimed(redis_client, MIDDAY - dt.timedelta(hours=2)) == {both.pk}


def test_claim_refuses_a_number_disconnected_after_its_latest_consent(redis_client: redis.Redis, ua: str) -> None:
    campaign = _wide_campaign()
    consent_day = dt.datetime(2026, 1, 10, 15, tzinfo=dt.UTC)
    cases = {
        # disconnected since 1 Feb, consent on 10 Jan: someone else's number now
        "+12125550151": (dt.date(2026, 2, 1), ReassignedResult.YES, [consent_day]),
        # the same answer, but a newer consent on 5 Feb (the new subscriber's)
        "+12125550152": (dt.date(2026, 2, 1), ReassignedResult.YES, [consent_day, consent_day.replace(month=2,
                                                                                                       day=5)]),
        # disconnected since 1 Feb, consent given that very day: not after the date asked about
        "+12125550153": (dt.date(2026, 2, 1), ReassignedResult.YES, [consent_day.replace(month=2, day=1)]),
        # disconnected, no consent at all
        "+12125550154": (dt.date(2026, 2, 1), ReassignedResult.YES, []),
        # not disconnected
        "+12125550155": (dt.date(2026, 2, 1), ReassignedResult.NO, [consent_day]),
    }
    contacts = {}
    for phone, (asked, result, consents) in cases.items():
        for obtained in consents:
            record_consent(phone, kind=ConsentKind.WRITTEN, source="form", obtained_at=obtained)
        record_reassigned_result(phone, date_asked=asked, result=result, queried_at=MIDDAY)
        contacts[phone] = ContactFactory(campaign=campaign, phone_e164=phone, time_zones=[NY],
                                         jurisdictions=["US-NY"]).pk
    # a newer consent that was revoked does not count either
    record_consent("+12125550156", kind=ConsentKind.WRITTEN, source="form", obtained_at=consent_day.replace(month=3))
    revoke_consent("+12125550156", at=consent_day.replace(month=4))
    record_reassigned_result("+12125550156", date_asked=dt.date(2026, 2, 1), result=ReassignedResult.YES,
                             queried_at=MIDDAY)
    contacts["+12125550156"] = ContactFactory(campaign=campaign, phone_e164="+12125550156", time_zones=[NY],
                                              jurisdictions=["US-NY"]).pk
    assert _claimed(redis_client, MIDDAY) == {contacts["+12125550152"], contacts["+12125550155"]}


def test_a_state_open_in_no_zone_refuses_its_contacts(redis_client: redis.Redis, ua: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # given Kentucky's rules allow no zone now (as on a day they ban), sent as an empty list among the arrays
    real = claim_sql.zones_open_by_jurisdiction
    monkeypatch.setattr(claim_sql, "zones_open_by_jurisdiction",
                        lambda now, company=None, window=None: {**real(now, company, window), "US-KY": []})
    campaign = _wide_campaign()
    kentucky = ContactFactory(campaign=campaign, phone_e164="+12125550150", time_zones=[NY],
                              jurisdictions=["US-KY", "US-NY"])
    new_york = ContactFactory(campaign=campaign, phone_e164="+12125550151", time_zones=[NY], jurisdictions=["US-NY"])
    # when the dispatcher ticks at noon, when Kentucky's own hours would allow the call
    claimed = _claimed(redis_client, MIDDAY)
    # then the Kentucky contact is refused (an empty list, not a missing row), the other one is claimed
    assert kentucky.pk not in claimed
    assert new_york.pk in claimed


def test_the_claim_statement_is_prepared_once_whatever_the_campaigns_and_windows(redis_client: redis.Redis,
                                                                                  ua: str) -> None:
    # given one campaign, then three more with other windows (other zone lists)
    first = _wide_campaign()
    ContactFactory(campaign=first, phone_e164="+12125550152", time_zones=[NY], jurisdictions=["US-NY"])
    _claimed(redis_client, MIDDAY)
    for i, start in enumerate((dt.time(8), dt.time(9), dt.time(10))):
        other = running_campaign(window_days=list(range(7)), window_start=start, window_end=dt.time(21))
        ContactFactory(campaign=other, phone_e164=f"+1212555016{i}", time_zones=[NY], jurisdictions=["US-NY"])
    # when the dispatcher ticks again, then the three are claimed by the same prepared statement
    assert len(_claimed(redis_client, MIDDAY)) == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'dialer_claim_%%'")
        assert cursor.fetchone() == (1,)


@pytest.mark.parametrize("names", [["America/New_York", "Bad,Name"], ["America/New_York", ""]])
def test_a_zone_list_that_would_split_differently_is_refused(names: list[str]) -> None:
    with pytest.raises(ValueError, match="zone name unusable"):
        claim_sql.zone_list_text(names)


def test_zone_lists_round_trip_through_the_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT string_to_array(%s, ',')::varchar[], string_to_array(%s, ',')::varchar[]",
                       [claim_sql.zone_list_text(["America/New_York", "Europe/London"]), claim_sql.zone_list_text([])])
        assert cursor.fetchone() == (["America/New_York", "Europe/London"], [])

"""The compliance checks where they act: the dispatcher's claim and the dial gate before the INVITE, against the
real PostgreSQL and Redis, at exact instants (time travel)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence

import pytest
import redis
import time_machine
from django.db import connection
from django.utils import timezone

from campaigns.choices import AttemptState, ContactStatus, Disposition
from campaigns.dialer.attempts import mark_attempt_dialing
from campaigns.dialer.claim import run_dispatch_tick
from campaigns.models import CallAttempt, Campaign, Contact
from compliance.choices import CampaignPurpose, ConsentKind, ReassignedResult
from compliance.evidence import export_evidence_csv
from compliance.evidence_pdf import export_evidence_pdf
from compliance.models import CampaignCompliance, DialEvidence
from compliance.services import import_national_dnc, record_consent, record_reassigned_result
from tests.campaigns.dialer_setup import MIDDAY, NY, live_ua, running_campaign
from tests.factories import ContactFactory

FL_NUMBER = "+13055550123"
# Tuesday 2026-06-16 00:30 UTC = Monday 20:30 EDT: inside the federal 21:00, past Florida's 20:00.
FL_EVENING = dt.datetime(2026, 6, 16, 0, 30, tzinfo=dt.UTC)


class Collected:
    """An enqueue callback that records the attempt ids it was given."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def __call__(self, ids: Sequence[int]) -> None:
        self.ids.extend(ids)


def tick(r: redis.Redis, now: dt.datetime) -> list[int]:
    with time_machine.travel(now, tick=False):
        result = run_dispatch_tick(now=now, r=r, enqueue=Collected())
    assert result.ran
    return result.attempt_ids


def _wide_campaign(**fields: object) -> Campaign:
    # a campaign window as wide as the law allows, so the state rules are what decide
    return running_campaign(window_days=list(range(7)), window_start=dt.time(0), window_end=dt.time(23, 59),
                            **fields)


def _queued(campaign: Campaign, contact: Contact, queued_at: dt.datetime) -> CallAttempt:
    Contact.objects.filter(pk=contact.pk).update(status=ContactStatus.IN_PROGRESS)
    return CallAttempt.objects.create(campaign=campaign, contact=contact, trunk=campaign.trunk,
                                      originated_at=queued_at, lease_expires_at=timezone.now() + dt.timedelta(hours=1))


@pytest.fixture
def ua(redis_client: redis.Redis) -> str:
    return live_ua(redis_client)


@pytest.mark.django_db(transaction=True)
def test_claim_applies_florida_hours_to_florida_contacts_only(redis_client: redis.Redis, ua: str) -> None:
    campaign = _wide_campaign()
    florida = ContactFactory(campaign=campaign, phone_e164=FL_NUMBER, time_zones=[NY], jurisdictions=["US-FL"])
    new_york = ContactFactory(campaign=campaign, phone_e164="+12125550123", time_zones=[NY], jurisdictions=["US-NY"])
    ids = tick(redis_client, FL_EVENING)
    assert [a.contact_id for a in CallAttempt.objects.filter(pk__in=ids)] == [new_york.pk]
    # the next morning at 08:00 EDT Florida opens
    assert [a.contact_id for a in CallAttempt.objects.filter(pk__in=tick(redis_client, FL_EVENING + dt.timedelta(
        hours=11, minutes=30)))] == [florida.pk]


@pytest.mark.django_db
def test_gate_refuses_a_florida_contact_queued_before_2000_and_dialed_after() -> None:
    campaign = _wide_campaign()
    florida = ContactFactory(campaign=campaign, phone_e164=FL_NUMBER, time_zones=[NY], jurisdictions=["US-FL"])
    attempt = _queued(campaign, florida, FL_EVENING - dt.timedelta(minutes=31))
    at_2000 = dt.datetime(2026, 6, 16, 0, 0, tzinfo=dt.UTC)
    with time_machine.travel(at_2000, tick=False):
        decision = mark_attempt_dialing(attempt.pk, ua_name="ua-1", now=at_2000)
    assert not decision
    assert decision.reason.startswith("US-FL (08:00-20:00)")
    attempt.refresh_from_db()
    assert (attempt.state, attempt.disposition, attempt.dialing_at) == (AttemptState.ENDED, Disposition.CANCELLED,
                                                                        None)
    # and the contact waits for Florida's next opening, shown on the contact
    florida.refresh_from_db()
    assert florida.next_attempt_at == dt.datetime(2026, 6, 16, 12, 0, tzinfo=dt.UTC)


def _dialed(phone: str, at: dt.datetime) -> None:
    other = _wide_campaign()
    contact = ContactFactory(campaign=other, phone_e164=phone, time_zones=[NY], jurisdictions=["US-FL"],
                             status=ContactStatus.DONE)
    CallAttempt.objects.create(campaign=other, contact=contact, state=AttemptState.ENDED,
                               disposition=Disposition.NO_ANSWER, dialing_at=at, ended_at=at)


@pytest.mark.django_db(transaction=True)
def test_florida_cap_across_campaigns_at_claim(redis_client: redis.Redis, ua: str) -> None:
    # given three calls to a Florida number today from other campaigns
    for hours in (20, 10, 2):
        _dialed(FL_NUMBER, MIDDAY - dt.timedelta(hours=hours))
    campaign = _wide_campaign()
    ContactFactory(campaign=campaign, phone_e164=FL_NUMBER, time_zones=[NY], jurisdictions=["US-FL"])
    # then this campaign does not claim it until the oldest of the three is 24 h old (16:00 EDT)
    assert tick(redis_client, MIDDAY) == []
    assert tick(redis_client, MIDDAY + dt.timedelta(hours=3, minutes=59)) == []
    assert len(tick(redis_client, MIDDAY + dt.timedelta(hours=4, seconds=1))) == 1


@pytest.mark.django_db
def test_florida_cap_at_the_gate_sets_the_next_allowed_time() -> None:
    for hours in (6, 4, 2):
        _dialed(FL_NUMBER, MIDDAY - dt.timedelta(hours=hours))
    campaign = _wide_campaign()
    contact = ContactFactory(campaign=campaign, phone_e164=FL_NUMBER, time_zones=[NY], jurisdictions=["US-FL"])
    attempt = _queued(campaign, contact, MIDDAY)
    with time_machine.travel(MIDDAY, tick=False):
        decision = mark_attempt_dialing(attempt.pk, ua_name="ua-1", now=MIDDAY)
    assert not decision
    assert "US-FL cap 3 per 24h reached" in decision.reason
    contact.refresh_from_db()
    assert contact.next_attempt_at == MIDDAY + dt.timedelta(hours=18)
    # a New York number with the same history is not capped
    ny = ContactFactory(campaign=campaign, phone_e164="+12125550177", time_zones=[NY], jurisdictions=["US-NY"])
    for hours in (6, 4, 2):
        _dialed("+12125550177", MIDDAY - dt.timedelta(hours=hours))
    assert mark_attempt_dialing(_queued(campaign, ny, MIDDAY).pk, ua_name="ua-1", now=MIDDAY)


@pytest.mark.django_db(transaction=True)
def test_two_gates_for_one_number_in_two_campaigns_cannot_both_pass_the_last_slot() -> None:
    # given two calls today and two queued attempts for the same Florida number in two campaigns
    for hours in (6, 4):
        _dialed(FL_NUMBER, MIDDAY - dt.timedelta(hours=hours))
    attempts = []
    for _ in range(2):
        campaign = _wide_campaign()
        contact = ContactFactory(campaign=campaign, phone_e164=FL_NUMBER, time_zones=[NY], jurisdictions=["US-FL"])
        attempts.append(_queued(campaign, contact, MIDDAY))
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def gate(attempt_id: int) -> None:
        barrier.wait()
        try:
            results.append(bool(mark_attempt_dialing(attempt_id, ua_name="ua", now=MIDDAY)))
        finally:
            connection.close()

    threads = [threading.Thread(target=gate, args=(a.pk,)) for a in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then exactly one of them dials: the third call of the day
    assert sorted(results) == [False, True]


@pytest.mark.django_db
def test_telemarketing_needs_written_consent_a_fresh_registry_and_not_being_on_it() -> None:
    campaign = _wide_campaign()
    CampaignCompliance.objects.create(campaign=campaign, purpose=CampaignPurpose.TELEMARKETING)

    def gate(phone: str) -> str:
        contact = ContactFactory(campaign=campaign, phone_e164=phone, time_zones=[NY], jurisdictions=["US-FL"])
        decision = mark_attempt_dialing(_queued(campaign, contact, MIDDAY).pk, ua_name="ua", now=MIDDAY)
        return "dial" if decision else decision.reason

    assert "no written consent" in gate("+13055550101")
    record_consent("+13055550102", kind=ConsentKind.PRIOR_EXPRESS, source="call", obtained_at=MIDDAY)
    assert "no written consent" in gate("+13055550102")
    record_consent("+13055550103", kind=ConsentKind.WRITTEN, source="form", obtained_at=MIDDAY)
    assert "no National Do Not Call Registry download" in gate("+13055550103")
    import_national_dnc(["3055550104"], downloaded_at=MIDDAY - dt.timedelta(days=40))
    record_consent("+13055550105", kind=ConsentKind.WRITTEN, source="form", obtained_at=MIDDAY)
    assert "no National Do Not Call Registry download" in gate("+13055550105")
    import_national_dnc(["3055550106"], downloaded_at=MIDDAY - dt.timedelta(days=3))
    record_consent("+13055550106", kind=ConsentKind.WRITTEN, source="form", obtained_at=MIDDAY)
    assert "on the National Do Not Call Registry" in gate("+13055550106")
    record_consent("+13055550107", kind=ConsentKind.WRITTEN, source="form", obtained_at=MIDDAY)
    assert gate("+13055550107") == "dial"


@pytest.mark.django_db
def test_a_number_disconnected_after_its_consent_is_refused() -> None:
    campaign = _wide_campaign()
    consent_day = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
    for phone, asked, result in (("+13055550111", dt.date(2026, 2, 1), ReassignedResult.YES),
                                 ("+13055550112", dt.date(2025, 12, 1), ReassignedResult.YES),
                                 ("+13055550113", dt.date(2026, 2, 1), ReassignedResult.NO)):
        record_consent(phone, kind=ConsentKind.WRITTEN, source="form", obtained_at=consent_day)
        record_reassigned_result(phone, date_asked=asked, result=result, queried_at=MIDDAY)
    outcomes = []
    for phone in ("+13055550111", "+13055550112", "+13055550113"):
        contact = ContactFactory(campaign=campaign, phone_e164=phone, time_zones=[NY], jurisdictions=["US-FL"])
        decision = mark_attempt_dialing(_queued(campaign, contact, MIDDAY).pk, ua_name="ua", now=MIDDAY)
        outcomes.append("dial" if decision else decision.reason)
    assert "reassigned" in outcomes[0]
    assert outcomes[1:] == ["dial", "dial"]


@pytest.mark.django_db
def test_every_dial_leaves_an_evidence_record_exportable_per_contact() -> None:
    campaign = _wide_campaign()
    record_consent(FL_NUMBER, kind=ConsentKind.WRITTEN, source="https://example.invalid/form",
                   obtained_at=MIDDAY - dt.timedelta(days=3), evidence_ref="proof-1")
    record_reassigned_result(FL_NUMBER, date_asked=dt.date(2026, 6, 13), result=ReassignedResult.NO,
                             queried_at=MIDDAY)
    contact = ContactFactory(campaign=campaign, phone_e164=FL_NUMBER, time_zones=[NY], jurisdictions=["US-FL"])
    attempt = _queued(campaign, contact, MIDDAY)
    assert mark_attempt_dialing(attempt.pk, ua_name="ua", now=MIDDAY)
    evidence = DialEvidence.objects.get(attempt_id=attempt.pk)
    assert evidence.local_time.startswith("2026-06-16 12:00:00 EDT")
    assert evidence.allowed_by.startswith("US, US-FL, campaign open at Tue 2026-06-16 12:00 EDT")
    assert evidence.caps == [{"rule": "US-FL", "limit": "3 per 24h", "counted": 0, "reached": False}]
    assert evidence.consent["evidence_ref"] == "proof-1"
    assert evidence.lists_checked["reassigned_numbers"]["result"] == "no"
    assert evidence.retain_until == dt.date(2031, 6, 16)
    exported = export_evidence_csv(FL_NUMBER, contact.pk).splitlines()
    assert exported[0].startswith("attempt_id,campaign_id,campaign_name")
    assert len(exported) == 2
    assert f"{attempt.pk}," in exported[1]
    pdf = export_evidence_pdf(FL_NUMBER, contact.pk)
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 1000


@pytest.mark.django_db
def test_parking_shows_the_next_allowed_time_for_state_hours_and_caps() -> None:
    from campaigns.dialer.claim import park_contacts_outside_window

    campaign = _wide_campaign()
    evening = ContactFactory(campaign=campaign, phone_e164="+13055550140", time_zones=[NY], jurisdictions=["US-FL"])
    capped = ContactFactory(campaign=campaign, phone_e164="+13055550141", time_zones=[NY], jurisdictions=["US-FL"])
    free = ContactFactory(campaign=campaign, phone_e164="+12125550142", time_zones=[NY], jurisdictions=["US-NY"])
    for hours in (5, 3, 1):
        _dialed("+13055550141", FL_EVENING - dt.timedelta(hours=hours))
    # at 20:30 EDT: Florida is closed until 08:00 EDT (both wait for it)
    assert park_contacts_outside_window(FL_EVENING) == 2
    for c in (evening, capped, free):
        c.refresh_from_db()
    assert evening.next_attempt_at == dt.datetime(2026, 6, 16, 12, 0, tzinfo=dt.UTC)
    assert capped.next_attempt_at == dt.datetime(2026, 6, 16, 12, 0, tzinfo=dt.UTC)  # hours first: 08:00 EDT
    assert free.next_attempt_at is None
    # at 08:00 EDT the capped number still has 3 calls in 24 h: it waits until its oldest is 24 h old
    morning = dt.datetime(2026, 6, 16, 12, 0, tzinfo=dt.UTC)
    assert park_contacts_outside_window(morning) == 1
    capped.refresh_from_db()
    assert capped.next_attempt_at == FL_EVENING - dt.timedelta(hours=5) + dt.timedelta(hours=24)

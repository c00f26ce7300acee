"""The last gate before the INVITE: a queued attempt is dialed only if the world still allows it at that instant."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.choices import AttemptState, CampaignStatus, ContactStatus, Disposition
from campaigns.dialer.attempts import mark_attempt_dialing
from campaigns.models import CallAttempt, Contact
from tests.campaigns.dialer_setup import MIDDAY, NY, running_campaign
from tests.factories import ContactFactory, DoNotCallFactory

pytestmark = pytest.mark.django_db

# 2026-06-17 02:30 UTC: 22:30 the evening before in New York, outside 09:00-20:00.
NY_NIGHT = dt.datetime(2026, 6, 17, 2, 30, tzinfo=dt.UTC)


def _queued(zones: list[str] | None = None, lease_s: float = 30, **contact: object) -> CallAttempt:
    campaign = running_campaign()
    person = ContactFactory(campaign=campaign, time_zones=zones or [NY], status=ContactStatus.IN_PROGRESS,
                            **contact)
    return CallAttempt.objects.create(campaign=campaign, contact=person, trunk=campaign.trunk,
                                      originated_at=MIDDAY, lease_expires_at=timezone.now() + dt.timedelta(
                                          seconds=lease_s))


def _ended_not_dialed(attempt: CallAttempt, reason: str) -> None:
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.ENDED
    assert attempt.disposition == Disposition.CANCELLED
    assert attempt.dialing_at is None
    assert reason in attempt.reason
    # never dialed, so it does not count against the contact
    assert Contact.objects.get(pk=attempt.contact_id).attempts == 0


def test_a_queued_attempt_in_its_window_is_dialed() -> None:
    attempt = _queued()
    decision = mark_attempt_dialing(attempt.pk, ua_name="ua-1", sip_call_id="c1", now=MIDDAY)
    assert decision.allowed
    attempt.refresh_from_db()
    assert (attempt.state, attempt.ua_name, attempt.sip_call_id) == (AttemptState.DIALING, "ua-1", "c1")


def test_a_paused_campaign_is_not_dialed() -> None:
    attempt = _queued()
    attempt.campaign.__class__.objects.filter(pk=attempt.campaign_id).update(status=CampaignStatus.PAUSED)
    decision = mark_attempt_dialing(attempt.pk, ua_name="ua-1", now=MIDDAY)
    assert not decision
    assert decision.reason == "campaign paused"
    _ended_not_dialed(attempt, "campaign paused at dial time")


def test_a_number_put_on_do_not_call_after_the_claim_is_not_dialed() -> None:
    attempt = _queued(phone_e164="+12125550177")
    DoNotCallFactory(phone_e164="+12125550177", campaign=None)
    decision = mark_attempt_dialing(attempt.pk, ua_name="ua-1", now=MIDDAY)
    assert decision.reason == "on a do-not-call list"
    _ended_not_dialed(attempt, "do-not-call")


def test_a_closed_window_is_not_dialed() -> None:
    attempt = _queued()
    decision = mark_attempt_dialing(attempt.pk, ua_name="ua-1", now=NY_NIGHT)
    assert decision.reason == "outside the calling window"
    _ended_not_dialed(attempt, "outside the calling window")


def test_every_zone_of_the_contact_must_be_inside_the_window() -> None:
    # New York at noon is inside, Tokyo (01:00 the next day) is not: a contact who may be in either waits.
    attempt = _queued(zones=[NY, "Asia/Tokyo"])
    assert mark_attempt_dialing(attempt.pk, ua_name="ua-1", now=MIDDAY).reason == "outside the calling window"


def test_a_stale_command_after_the_lease_ran_out_is_not_dialed() -> None:
    attempt = _queued(lease_s=-1)
    decision = mark_attempt_dialing(attempt.pk, ua_name="ua-1", now=timezone.now())
    assert decision.reason == "lease expired (stale command)"
    _ended_not_dialed(attempt, "stale command")


def test_only_one_of_two_uas_dials() -> None:
    attempt = _queued()
    first = mark_attempt_dialing(attempt.pk, ua_name="ua-1", now=MIDDAY)
    second = mark_attempt_dialing(attempt.pk, ua_name="ua-2", now=MIDDAY)
    assert (bool(first), bool(second)) == (True, False)
    assert second.reason == "not queued any more"
    attempt.refresh_from_db()
    assert (attempt.state, attempt.ua_name) == (AttemptState.DIALING, "ua-1")

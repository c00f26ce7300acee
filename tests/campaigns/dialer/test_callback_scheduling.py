"""A "call me back tomorrow" outcome schedules the contact's next attempt at that time in their zone (D5)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from campaigns.choices import AttemptState, CampaignStatus, ContactStatus, Disposition
from campaigns.dialer.attempts import finish_attempt
from campaigns.models import CallAttempt, Contact
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

# Monday 2026-12-07 20:00 UTC; the agent heard "tomorrow" and wrote 10:00 the person's time, with no offset.
NOW = dt.datetime(2026, 12, 7, 20, 0, tzinfo=dt.UTC)
TOMORROW_10 = "2026-12-08T10:00:00"
SCHEMA = [{"label": "call_back", "fields": [{"name": "callback_at", "type": "datetime", "required": True}]},
          {"label": "interested", "fields": [{"name": "notes", "type": "string"}]}]


def _answered(zone: str, *, attempts_before: int = 0, max_attempts: int = 3) -> CallAttempt:
    contact = ContactFactory(status=ContactStatus.IN_PROGRESS, time_zones=[zone], attempts=attempts_before,
                             campaign__status=CampaignStatus.RUNNING, campaign__max_attempts=max_attempts,
                             campaign__window_days=[0, 1, 2, 3, 4], campaign__window_start=dt.time(9),
                             campaign__window_end=dt.time(20))
    agent = contact.campaign.agent
    agent.outcome_schema = SCHEMA
    agent.save(update_fields=["outcome_schema"])
    now = timezone.now()
    return CallAttempt.objects.create(campaign=contact.campaign, contact=contact, trunk=contact.campaign.trunk,
                                      state=AttemptState.BRIDGED, attempt_number=attempts_before + 1,
                                      originated_at=now, dialing_at=now, answered_at=now, bridged_at=now)


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(("zone", "utc", "local"), [
    ("America/New_York", dt.datetime(2026, 12, 8, 15, 0, tzinfo=dt.UTC), "2026-12-08T10:00:00-05:00"),
    ("America/Los_Angeles", dt.datetime(2026, 12, 8, 18, 0, tzinfo=dt.UTC), "2026-12-08T10:00:00-08:00"),
    ("Europe/London", dt.datetime(2026, 12, 8, 10, 0, tzinfo=dt.UTC), "2026-12-08T10:00:00+00:00"),
    ("Pacific/Auckland", dt.datetime(2026, 12, 7, 21, 0, tzinfo=dt.UTC), "2026-12-08T10:00:00+13:00"),
])
def test_a_call_back_is_scheduled_at_the_persons_time(zone: str, utc: dt.datetime, local: str) -> None:
    attempt = _answered(zone)
    finish_attempt(attempt.pk, disposition=Disposition.HUMAN,
                   results={"outcome": "call_back", "outcome_fields": {"callback_at": TOMORROW_10}})
    contact = Contact.objects.get(pk=attempt.contact_id)
    # then the contact waits for that time, not done, and its outcome names the person's own offset
    assert (contact.status, contact.next_attempt_at) == (ContactStatus.RETRY_SCHEDULED, utc)
    assert contact.outcome_fields["callback_at"] == local


@time_machine.travel(NOW, tick=False)
def test_a_call_back_outside_the_window_is_moved_to_its_opening() -> None:
    # Saturday 10:00 in New York: the campaign calls Monday to Friday, so Monday 09:00 there
    attempt = _answered("America/New_York")
    finish_attempt(attempt.pk, disposition=Disposition.HUMAN,
                   results={"outcome": "call_back", "outcome_fields": {"callback_at": "2026-12-12T10:00:00"}})
    contact = Contact.objects.get(pk=attempt.contact_id)
    assert contact.next_attempt_at == dt.datetime(2026, 12, 14, 14, 0, tzinfo=dt.UTC)


@time_machine.travel(NOW, tick=False)
def test_a_call_back_counts_against_the_campaigns_cap() -> None:
    # the third and last attempt of the campaign's cap of 3: no call-back is placed, the contact is done
    attempt = _answered("America/New_York", attempts_before=2, max_attempts=3)
    finish_attempt(attempt.pk, disposition=Disposition.HUMAN,
                   results={"outcome": "call_back", "outcome_fields": {"callback_at": TOMORROW_10}})
    contact = Contact.objects.get(pk=attempt.contact_id)
    assert (contact.status, contact.next_attempt_at) == (ContactStatus.DONE, None)


@time_machine.travel(NOW, tick=False)
def test_other_outcomes_close_the_contact_as_before() -> None:
    attempt = _answered("America/New_York")
    finish_attempt(attempt.pk, disposition=Disposition.HUMAN,
                   results={"outcome": "interested", "outcome_fields": {"notes": "yes"}})
    assert Contact.objects.get(pk=attempt.contact_id).status == ContactStatus.DONE

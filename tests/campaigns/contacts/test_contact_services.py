"""Retry now and schedule a call-back from the console, and the contact's "why / what next" line."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from campaigns.choices import AttemptState, CampaignStatus, ContactStatus, DncSource
from campaigns.contacts.dnc import add_to_do_not_call
from campaigns.contacts.services import ContactQueueError, retry_contact_now, schedule_contact_callback
from campaigns.contacts.whynext import explain_contact
from campaigns.models import CallAttempt, Contact, RetryRule
from telephony.choices import Disposition
from tests.factories import CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db

# Monday 2026-12-07 20:00 UTC: 15:00 in New York, 21:00 in Paris (closed), 09:00 Tuesday in Auckland.
NOW = dt.datetime(2026, 12, 7, 20, 0, tzinfo=dt.UTC)
EVERY_DAY = [0, 1, 2, 3, 4, 5, 6]


def _campaign(**fields: object) -> object:
    return CampaignFactory(status=CampaignStatus.RUNNING, window_days=EVERY_DAY, window_start=dt.time(9),
                           window_end=dt.time(20), **fields)


@time_machine.travel(NOW, tick=False)
def test_retry_now_puts_a_failed_contact_back_in_the_queue() -> None:
    contact = ContactFactory(campaign=_campaign(), status=ContactStatus.FAILED, attempts=3,
                             last_disposition=Disposition.BUSY)
    retry_contact_now(contact.pk)
    contact.refresh_from_db()
    assert (contact.status, contact.next_attempt_at) == (ContactStatus.RETRY_SCHEDULED, NOW)


@pytest.mark.parametrize("status", [ContactStatus.DNC, ContactStatus.INVALID, ContactStatus.IN_PROGRESS])
def test_retry_now_refuses_what_must_not_be_called(status: str) -> None:
    contact = ContactFactory(campaign=_campaign(), status=status)
    with pytest.raises(ContactQueueError):
        retry_contact_now(contact.pk)
    assert Contact.objects.get(pk=contact.pk).status == status


def test_retry_now_refuses_a_number_put_on_the_do_not_call_list_since() -> None:
    contact = ContactFactory(campaign=_campaign(), status=ContactStatus.FAILED)
    add_to_do_not_call(contact.phone_e164, source=DncSource.MANUAL)
    Contact.objects.filter(pk=contact.pk).update(status=ContactStatus.FAILED)  # as if listed after it failed
    with pytest.raises(ContactQueueError, match="do-not-call"):
        retry_contact_now(contact.pk)


@time_machine.travel(NOW, tick=False)
def test_a_call_back_is_the_persons_time_moved_into_the_window() -> None:
    # 08:00 Tuesday in New York is before the 09:00 opening: placed at 09:00 New York = 14:00 UTC
    contact = ContactFactory(campaign=_campaign(), status=ContactStatus.DONE, time_zones=["America/New_York"])
    schedule_contact_callback(contact.pk, dt.date(2026, 12, 8), dt.time(8, 0))
    contact.refresh_from_db()
    assert contact.status == ContactStatus.PENDING
    assert contact.next_attempt_at == dt.datetime(2026, 12, 8, 14, 0, tzinfo=dt.UTC)


@time_machine.travel(NOW, tick=False)
def test_the_why_line_names_the_window_opening_in_both_zones() -> None:
    contact = ContactFactory(campaign=_campaign(), time_zones=["Europe/Paris"])
    assert explain_contact(contact, NOW) == (
        "Waits for its window: opens 2026-12-08 08:00 UTC (Tue 09:00 Europe/Paris).")


def _busy(contact: Contact, number: int) -> None:
    CallAttempt.objects.create(campaign=contact.campaign, contact=contact, attempt_number=number,
                               disposition=Disposition.BUSY, dialing_at=NOW, state=AttemptState.ENDED, ended_at=NOW)


@time_machine.travel(NOW, tick=False)
def test_the_why_line_counts_retries_against_the_rule() -> None:
    campaign = _campaign()
    RetryRule.objects.create(campaign=campaign, disposition=Disposition.BUSY, delay_s=600, max_attempts=3)
    contact = ContactFactory(campaign=campaign, status=ContactStatus.RETRY_SCHEDULED, attempts=1,
                             last_disposition=Disposition.BUSY, next_attempt_at=NOW + dt.timedelta(minutes=10))
    _busy(contact, 1)
    assert explain_contact(contact, NOW) == (
        "Retry after busy (1 of 3) at 20:10 UTC (Mon 15:10 America/New_York).")
    Contact.objects.filter(pk=contact.pk).update(status=ContactStatus.FAILED, next_attempt_at=None)
    contact.refresh_from_db()
    _busy(contact, 2)
    _busy(contact, 3)
    assert explain_contact(contact, NOW) == "Retries exhausted: busy 3 of 3."


def test_the_why_line_for_a_paused_campaign_and_an_unknown_zone() -> None:
    paused = ContactFactory(campaign=CampaignFactory(status=CampaignStatus.PAUSED))
    assert explain_contact(paused) == "Waits: the campaign is paused."
    unknown = ContactFactory(campaign=_campaign(), time_zones=[])
    assert explain_contact(unknown).startswith("No known time zone")

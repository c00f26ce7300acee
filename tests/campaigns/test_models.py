"""Database constraints hold even when Python validation is bypassed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from campaigns.choices import AttemptState
from campaigns.models import CallAttempt, Contact
from tests.factories import CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db


def test_one_contact_per_number_per_campaign() -> None:
    contact = ContactFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(campaign=contact.campaign, phone_e164=contact.phone_e164)


def test_same_number_allowed_in_another_campaign() -> None:
    contact = ContactFactory()
    Contact.objects.create(campaign=CampaignFactory(), phone_e164=contact.phone_e164)
    assert Contact.objects.filter(phone_e164=contact.phone_e164).count() == 2


def test_at_most_one_in_flight_attempt_per_contact() -> None:
    contact = ContactFactory()
    CallAttempt.objects.create(campaign=contact.campaign, contact=contact, attempt_number=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        CallAttempt.objects.create(campaign=contact.campaign, contact=contact, attempt_number=2)


def test_ended_attempts_do_not_block_a_new_one() -> None:
    contact = ContactFactory()
    from django.utils import timezone

    CallAttempt.objects.create(campaign=contact.campaign, contact=contact, attempt_number=1,
                               state=AttemptState.ENDED, ended_at=timezone.now())
    CallAttempt.objects.create(campaign=contact.campaign, contact=contact, attempt_number=2)
    assert CallAttempt.objects.filter(contact=contact).count() == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_concurrent", 0),
        ("max_attempts", 0),
        ("window_start", dt.time(21, 0)),
        ("window_days", [7]),
        ("window_days", []),
        ("amd_max_decision_ms", 999),
        ("amd_max_decision_ms", 10_001),
    ],
)
def test_campaign_limits_are_checked_by_the_database(field: str, value: object) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignFactory(**{field: value})


def test_contact_number_must_be_e164() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactFactory(phone_e164="2125550100")

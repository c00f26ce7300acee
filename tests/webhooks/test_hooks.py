"""The campaigns services write their webhook events in the transaction of the change (the outbox hooks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from campaigns.choices import ContactStatus, DncSource
from campaigns.contacts.dnc import add_to_do_not_call
from campaigns.contacts.imports.services import import_contacts_file
from campaigns.dialer.attempts import finish_attempt, mark_attempt_answered
from campaigns.models import CallAttempt
from campaigns.services import complete_finished_campaigns
from tests.factories import CampaignFactory, ContactFactory
from webhooks.models import WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def endpoint() -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(url="https://hooks.example.com/x", secret="s")


def types() -> list[str]:
    return list(WebhookEvent.objects.order_by("id").values_list("type", flat=True))


def test_answer_and_end_of_a_call_write_their_events(redis_client: object) -> None:
    contact = ContactFactory(status=ContactStatus.IN_PROGRESS)
    attempt = CallAttempt.objects.create(campaign=contact.campaign, contact=contact, state="ringing",
                                         dialing_at=timezone.now())
    assert mark_attempt_answered(attempt.pk)
    assert not mark_attempt_answered(attempt.pk)  # a repeated event changes nothing and says nothing
    assert finish_attempt(attempt.pk, disposition="human", results={"outcome": "interested"})
    assert types() == ["attempt.answered", "attempt.ended", "contact.completed"]
    ended = WebhookEvent.objects.get(type="attempt.ended")
    assert ended.data["outcome"] == "interested"
    assert ended.data["contact_status"] == ContactStatus.DONE


def test_no_event_when_the_change_rolls_back(redis_client: object) -> None:
    contact = ContactFactory(status=ContactStatus.IN_PROGRESS)
    attempt = CallAttempt.objects.create(campaign=contact.campaign, contact=contact, state="bridged")

    def end_then_fail() -> None:
        with transaction.atomic():
            finish_attempt(attempt.pk, disposition="human")
            raise RuntimeError("a later step fails")

    with pytest.raises(RuntimeError):
        end_then_fail()
    assert types() == []


def test_an_opt_out_is_one_event_however_often_it_is_reported(redis_client: object) -> None:
    contact = ContactFactory(status=ContactStatus.IN_PROGRESS)
    attempt = CallAttempt.objects.create(campaign=contact.campaign, contact=contact, state="bridged")
    add_to_do_not_call(contact.phone_e164, source=DncSource.OPT_OUT, attempt_id=attempt.pk)
    assert finish_attempt(attempt.pk, disposition="opted_out")  # adds the same entry again
    add_to_do_not_call(contact.phone_e164, source=DncSource.MANUAL)
    opted = WebhookEvent.objects.filter(type="contact.opted_out")
    assert [e.data["attempt_id"] for e in opted] == [attempt.pk]
    assert opted[0].subject == f"attempt:{attempt.pk}"


def test_campaign_completion_and_import_end_write_their_events(tmp_path: Path) -> None:
    campaign = CampaignFactory(status="running")
    ContactFactory(campaign=campaign, status=ContactStatus.DONE)
    assert complete_finished_campaigns([campaign.pk]) == [campaign.pk]
    csv = tmp_path / "c.csv"
    csv.write_text("phone,name\n+12125550100,Ann\nnope,Bob\n")
    job = import_contacts_file(CampaignFactory(), csv)
    assert types() == ["campaign.completed", "import.finished"]
    finished = WebhookEvent.objects.get(type="import.finished").data
    assert (finished["import_job_id"], finished["imported"], finished["invalid"]) == (job.pk, 1, 1)

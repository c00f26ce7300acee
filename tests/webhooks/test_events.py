"""The catalogue's events as built from the ledger, and only for subscribers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import CallAttempt, ImportJob
from tests.factories import CampaignFactory, ContactFactory
from webhooks import events
from webhooks.models import WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint() -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(url="https://hooks.example.com/x", secret="s")


def test_attempt_ended_carries_disposition_outcome_fields_talk_time_and_cost(endpoint: WebhookEndpoint) -> None:
    contact = ContactFactory(status="done")
    answered = timezone.now() - dt.timedelta(seconds=42)
    attempt = CallAttempt.objects.create(
        campaign=contact.campaign, contact=contact, state="ended", disposition="human", outcome="interested",
        outcome_fields={"plan": "gold"}, answered_at=answered, ended_at=answered + dt.timedelta(seconds=42),
        cost=Decimal("0.0070"), cost_currency="EUR", transcript=[{"speaker": "callee", "text": "private"}])
    events.attempt_ended(attempt.pk)
    event = WebhookEvent.objects.get()
    assert event.type == "attempt.ended"
    assert event.subject == f"attempt:{attempt.pk}"
    data = event.data
    assert (data["disposition"], data["outcome"], data["fields"]) == ("human", "interested", {"plan": "gold"})
    assert data["talk_seconds"] == 42.0
    assert data["cost"] == "0.0070"
    assert data["cost_currency"] == "EUR"
    assert data["to"] == contact.phone_e164
    assert "transcript" not in data  # the conversation stays behind its permission (F4)


def test_no_subscriber_no_event_and_one_query(django_assert_num_queries: object) -> None:
    contact = ContactFactory()
    attempt = CallAttempt.objects.create(campaign=contact.campaign, contact=contact, state="answered")
    WebhookEndpoint.objects.create(url="https://hooks.example.com/x", secret="s", events=["import.finished"])
    with django_assert_num_queries(2):  # type: ignore[operator]  (the attempt, then the endpoints)
        events.attempt_answered(attempt.pk)
    assert not WebhookEvent.objects.exists()


def test_campaign_and_import_and_opt_out_events(endpoint: WebhookEndpoint) -> None:
    campaign = CampaignFactory(status="completed")
    ContactFactory(campaign=campaign, status="done")
    ContactFactory(campaign=campaign, status="failed", phone_e164="+12125550777")
    events.campaign_completed(campaign.pk)
    job = ImportJob.objects.create(campaign=campaign, status="completed", imported=2, rows_total=3, invalid=1)
    events.import_finished(job.pk)
    events.contact_opted_out("+12125550777", campaign_id=None, attempt_id=5)
    by_type = {e.type: e.data for e in WebhookEvent.objects.all()}
    assert by_type["campaign.completed"]["contacts_by_status"] == {"done": 1, "failed": 1}
    assert (by_type["import.finished"]["imported"], by_type["import.finished"]["invalid"]) == (2, 1)
    assert by_type["contact.opted_out"]["attempt_id"] == 5
    assert len(by_type["contact.opted_out"]["contact_ids"]) == 1

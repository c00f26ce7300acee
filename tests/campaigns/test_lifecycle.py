"""Campaign lifecycle: legal transitions only, each a conditional update, with operator-facing errors."""

from __future__ import annotations

import pytest
import redis
import time_machine

from campaigns.choices import AttemptState, CampaignStatus, ContactStatus
from campaigns.dialer.claim import run_dispatch_tick
from campaigns.models import CallAttempt
from campaigns.services import (
    CampaignTransitionError,
    cancel_campaign,
    complete_campaign,
    complete_finished_campaigns,
    pause_campaign,
    resume_campaign,
    start_campaign,
)
from tests.campaigns.dialer_setup import MIDDAY, contacts, live_ua, running_campaign
from tests.factories import CallerIDFactory, CampaignFactory

pytestmark = pytest.mark.django_db


def draft_with_caller_id() -> int:
    campaign = CampaignFactory()
    campaign.caller_ids.add(CallerIDFactory(trunk=campaign.trunk))
    return campaign.pk


def test_start_pause_resume_cancel() -> None:
    campaign_id = draft_with_caller_id()
    started = start_campaign(campaign_id)
    assert started.status == CampaignStatus.RUNNING
    assert started.started_at is not None
    assert pause_campaign(campaign_id).status == CampaignStatus.PAUSED
    assert resume_campaign(campaign_id).status == CampaignStatus.RUNNING
    cancelled = cancel_campaign(campaign_id)
    assert cancelled.status == CampaignStatus.CANCELLED
    assert cancelled.finished_at is not None


@pytest.mark.parametrize(
    ("status", "action", "words"),
    [
        (CampaignStatus.RUNNING, start_campaign, "Cannot start"),
        (CampaignStatus.DRAFT, pause_campaign, "Cannot pause"),
        (CampaignStatus.RUNNING, resume_campaign, "Cannot resume"),
        (CampaignStatus.COMPLETED, cancel_campaign, "Cannot cancel"),
        (CampaignStatus.CANCELLED, resume_campaign, "it is cancelled"),
    ],
)
def test_illegal_transitions_raise_a_clear_error(status: str, action: object, words: str) -> None:
    campaign = CampaignFactory(status=status)
    with pytest.raises(CampaignTransitionError, match=words):
        action(campaign.pk)  # type: ignore[operator]
    campaign.refresh_from_db()
    assert campaign.status == status


def test_a_campaign_without_caller_id_cannot_start() -> None:
    campaign = CampaignFactory()
    with pytest.raises(CampaignTransitionError, match="caller ID"):
        start_campaign(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_pause_stops_new_dials_at_once(redis_client: redis.Redis) -> None:
    live_ua(redis_client)
    campaign = running_campaign(max_concurrent=10)
    contacts(campaign, 3)
    pause_campaign(campaign.pk)
    with time_machine.travel(MIDDAY, tick=False):
        assert run_dispatch_tick(now=MIDDAY, r=redis_client, enqueue=lambda ids: None).claimed == 0
    resume_campaign(campaign.pk)
    with time_machine.travel(MIDDAY, tick=False):
        assert run_dispatch_tick(now=MIDDAY, r=redis_client, enqueue=lambda ids: None).claimed == 3


def test_completion_waits_for_calls_in_flight() -> None:
    campaign = running_campaign()
    contact = contacts(campaign, 1, status=ContactStatus.IN_PROGRESS)[0]
    attempt = CallAttempt.objects.create(campaign=campaign, contact=contact, state=AttemptState.BRIDGED)
    assert complete_finished_campaigns() == []
    with pytest.raises(CampaignTransitionError, match="still"):
        complete_campaign(campaign.pk)
    CallAttempt.objects.filter(pk=attempt.pk).update(state=AttemptState.ENDED, ended_at=MIDDAY)
    contact.status = ContactStatus.DONE
    contact.save()
    assert complete_finished_campaigns() == [campaign.pk]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED


def test_a_scheduled_retry_keeps_the_campaign_running() -> None:
    campaign = running_campaign()
    contacts(campaign, 1, status=ContactStatus.RETRY_SCHEDULED, next_attempt_at=MIDDAY)
    assert complete_finished_campaigns() == []

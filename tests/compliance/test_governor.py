"""The abandonment governor: throttles a campaign from 2.5 %, pauses it before the next abandon could pass 3 %."""

from __future__ import annotations

import datetime as dt
import random

import pytest
import redis
import time_machine

from campaigns.choices import AttemptState, CampaignStatus, Disposition
from campaigns.dialer.claim import run_dispatch_tick
from campaigns.models import CallAttempt, Campaign
from campaigns.reports.live import campaign_live_stats
from campaigns.services import pause_campaign
from compliance.choices import GovernorAction
from compliance.governor import LEGAL_LIMIT, GovernorConfig, abandonment_counts, decide, govern_campaigns
from compliance.models import CampaignGovernor, CampaignHistory
from tests.campaigns.dialer_setup import MIDDAY, contacts, live_ua, running_campaign
from tests.factories import ContactFactory


def test_below_the_throttle_nothing_changes() -> None:
    assert decide(1000, 24, 10, None).action is None


def test_throttle_lowers_concurrency_linearly_then_pause() -> None:
    at_throttle = decide(1000, 25, 10, None)
    assert (at_throttle.action, at_throttle.limit) == (GovernorAction.THROTTLE, 5)
    closer = decide(1000, 27, 10, 5)
    assert (closer.action, closer.limit) == (GovernorAction.THROTTLE, 2)
    # not raised again while the rate stays
    assert decide(1000, 27, 10, 2).action is None
    paused = decide(1000, 29, 10, 2)
    assert paused.action == GovernorAction.PAUSE
    assert "paused" in paused.reason


def test_pause_when_one_more_abandon_would_pass_three_percent() -> None:
    # 2.6 % of 500 = 13; one more is 14/501 = 2.79 %: throttle only
    assert decide(500, 13, 10, None).action == GovernorAction.THROTTLE
    # 3 of 110 = 2.73 %; one more is 4/111 = 3.6 %: pause before it happens
    assert decide(110, 3, 10, None).action == GovernorAction.PAUSE


def test_restore_once_the_rate_falls() -> None:
    assert decide(2000, 40, 10, 3).action == GovernorAction.RESTORE


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="throttle_at"):
        GovernorConfig(throttle_at=0.03, pause_at=0.02)
    with pytest.raises(ValueError, match="pause_at"):
        GovernorConfig(pause_at=0.05)


def _answered(campaign: Campaign, at: dt.datetime, *, abandoned: bool) -> None:
    contact = ContactFactory(campaign=campaign)
    # Abandoned: the agent's first audio 2.5 s after answer (FCC: a live voice within 2 s); otherwise 0.6 s.
    first_audio = at + dt.timedelta(seconds=2.5 if abandoned else 0.6)
    CallAttempt.objects.create(
        campaign=campaign, contact=contact, state=AttemptState.ENDED, disposition=Disposition.HUMAN,
        dialing_at=at - dt.timedelta(seconds=5), answered_at=at, bridged_at=at + dt.timedelta(milliseconds=300),
        agent_first_audio_at=first_audio, ended_at=at + dt.timedelta(seconds=30))


@pytest.mark.django_db
def test_counts_follow_the_report_definition_over_30_days() -> None:
    campaign = running_campaign()
    _answered(campaign, MIDDAY - dt.timedelta(days=31), abandoned=True)  # outside the 30 days
    _answered(campaign, MIDDAY - dt.timedelta(days=1), abandoned=True)
    _answered(campaign, MIDDAY - dt.timedelta(hours=1), abandoned=False)
    assert abandonment_counts([campaign.pk], MIDDAY) == {campaign.pk: (2, 1)}


@pytest.mark.django_db
def test_a_simulated_run_throttles_then_pauses_before_three_percent() -> None:
    # given a running campaign whose agents get slow: about 1 call in 25 abandoned (4 %), 40 calls per round
    campaign = running_campaign(max_concurrent=20)
    rng = random.Random(7)
    now = MIDDAY
    # a clean history first: 600 calls answered in time
    for i in range(600):
        _answered(campaign, now - dt.timedelta(days=10, minutes=i), abandoned=False)
    actions: list[tuple[str, float]] = []
    for _ in range(60):
        # when the campaign is running, it makes 40 calls this round (fewer when throttled)
        campaign.refresh_from_db()
        if campaign.status != CampaignStatus.RUNNING:
            break
        limit = CampaignGovernor.objects.filter(campaign=campaign).values_list("concurrency_limit", flat=True).first()
        for _call in range(2 * (limit or 20)):
            now += dt.timedelta(seconds=30)
            _answered(campaign, now, abandoned=rng.random() < 0.04)
        for _, decision in govern_campaigns([(campaign.pk, 20)], now, pause_campaign):
            actions.append((decision.action, decision.rate))
    # then it was throttled first, then paused, and never went past 3 %
    kinds = [a for a, _ in actions]
    assert kinds[0] == GovernorAction.THROTTLE
    assert kinds[-1] == GovernorAction.PAUSE
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    answered, abandoned = abandonment_counts([campaign.pk], now)[campaign.pk]
    assert abandoned / answered <= LEGAL_LIMIT
    # and each action is in the campaign's history with its reason and rate
    history = list(CampaignHistory.objects.filter(campaign=campaign).order_by("at", "id"))
    assert [h.action for h in history] == kinds
    assert "abandoned of" in history[-1].reason
    governor = CampaignGovernor.objects.get(campaign=campaign)
    assert (governor.answered, governor.abandoned) == (answered, abandoned)


@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_claims_no_more_than_the_governors_limit(redis_client: redis.Redis) -> None:
    live_ua(redis_client)
    campaign = running_campaign(max_concurrent=10)
    contacts(campaign, 6)
    CampaignGovernor.objects.create(campaign=campaign, concurrency_limit=2)
    with time_machine.travel(MIDDAY, tick=False):
        result = run_dispatch_tick(now=MIDDAY, r=redis_client, enqueue=lambda ids: None)
    assert result.claimed == 2


@pytest.mark.django_db
def test_the_live_view_shows_the_rate_the_limit_and_the_governors_reasons() -> None:
    campaign = running_campaign(max_concurrent=10)
    for i in range(97):
        _answered(campaign, MIDDAY - dt.timedelta(minutes=i + 1), abandoned=False)
    for i in range(3):
        _answered(campaign, MIDDAY - dt.timedelta(minutes=200 + i), abandoned=True)
    govern_campaigns([(campaign.pk, 10)], MIDDAY, pause_campaign)
    view = campaign_live_stats(campaign.pk, now=MIDDAY)["compliance"]
    assert view["abandonment"]["answered"] == 100
    assert view["abandonment"]["abandoned"] == 3
    assert view["abandonment"]["rate_pct"] == 3.0
    assert view["abandonment"]["history"][0]["action"] == "Paused"
    assert "3 abandoned of 100 answered" in view["abandonment"]["history"][0]["reason"]
    assert view["dialing_blocked"] is None

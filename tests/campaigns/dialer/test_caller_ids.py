"""Caller ID choice: the campaign's pool on its trunk, local presence first, daily caps respected."""

from __future__ import annotations

import datetime as dt

import pytest
import redis

from campaigns.dialer import caller_ids
from campaigns.dialer.caller_ids import choose_caller_id, presence_score
from campaigns.models import CallAttempt
from tests.factories import CallerIDFactory, CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 6, 16, 16, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fresh_pool_cache() -> None:
    caller_ids._pool_cache.clear()


def campaign_with(*numbers: tuple[str, int]) -> object:
    campaign = CampaignFactory()
    for number, cap in numbers:
        campaign.caller_ids.add(CallerIDFactory(trunk=campaign.trunk, number=number, daily_cap=cap))
    return campaign


def test_presence_scores() -> None:
    assert presence_score("+14155550100", "+14155550199") == 2  # same area code
    assert presence_score("+16505550100", "+14155550199") == 1  # both California
    assert presence_score("+12125550100", "+14155550199") == 0


def test_prefers_a_local_number(redis_client: redis.Redis) -> None:
    campaign = campaign_with(("+12125550100", 10), ("+14155550100", 10), ("+16505550100", 10))
    assert choose_caller_id(redis_client, campaign.pk, campaign.trunk_id, "+14155559999", NOW) == "+14155550100"
    assert choose_caller_id(redis_client, campaign.pk, campaign.trunk_id, "+13105559999", NOW) in (
        "+14155550100", "+16505550100")  # same state, no same area code


def test_daily_cap_moves_to_the_next_number(redis_client: redis.Redis) -> None:
    campaign = campaign_with(("+14155550100", 2), ("+12125550100", 5))
    picks = [choose_caller_id(redis_client, campaign.pk, campaign.trunk_id, "+14155559999", NOW) for _ in range(4)]
    assert picks == ["+14155550100", "+14155550100", "+12125550100", "+12125550100"]


def test_all_capped_means_none(redis_client: redis.Redis) -> None:
    campaign = campaign_with(("+14155550100", 1))
    assert choose_caller_id(redis_client, campaign.pk, campaign.trunk_id, "+14155559999", NOW)
    assert choose_caller_id(redis_client, campaign.pk, campaign.trunk_id, "+14155559999", NOW) is None


def test_the_cap_survives_a_redis_flush(redis_client: redis.Redis) -> None:
    campaign = campaign_with(("+14155550100", 2))
    contact = ContactFactory(campaign=campaign)
    CallAttempt.objects.create(campaign=campaign, contact=contact, caller_id="+14155550100", originated_at=NOW)
    CallAttempt.objects.filter(contact=contact).update(queued_at=NOW)
    redis_client.flushdb()
    # one used today according to the ledger, so one left
    assert choose_caller_id(redis_client, campaign.pk, campaign.trunk_id, "+14155559999", NOW)
    assert choose_caller_id(redis_client, campaign.pk, campaign.trunk_id, "+14155559999", NOW) is None


def test_numbers_of_another_trunk_or_inactive_are_not_used(redis_client: redis.Redis) -> None:
    campaign = CampaignFactory()
    campaign.caller_ids.add(CallerIDFactory(number="+14155550100"))  # another trunk
    campaign.caller_ids.add(CallerIDFactory(trunk=campaign.trunk, number="+14155550101", active=False))
    assert choose_caller_id(redis_client, campaign.pk, campaign.trunk_id, "+14155559999", NOW) is None


def test_a_new_day_resets_the_count(redis_client: redis.Redis) -> None:
    campaign = campaign_with(("+14155550100", 1))
    assert choose_caller_id(redis_client, campaign.pk, campaign.trunk_id, "+14155559999", NOW)
    tomorrow = NOW + dt.timedelta(days=1)
    assert choose_caller_id(redis_client, campaign.pk, campaign.trunk_id, "+14155559999", tomorrow)

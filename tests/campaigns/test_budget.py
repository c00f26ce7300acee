"""The budget cap: spend from billed seconds x the trunk's rate, in its currency; the campaign pauses itself at the
cap, dials nothing past it, and resumes only once the cap is raised. Costs are never summed across currencies."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis
import time_machine
from django.db import connection
from django.utils import timezone

from campaigns.budget import add_spend, spend_by_campaign
from campaigns.choices import AttemptState, CampaignStatus, ContactStatus, Disposition
from campaigns.dialer.attempts import finish_attempt
from campaigns.dialer.claim import run_dispatch_tick
from campaigns.forms import CampaignAdminForm
from campaigns.models import CallAttempt, Campaign
from campaigns.services import CampaignTransitionError, pause_campaign_at_budget, resume_campaign
from campaigns.templatetags.console import console_dashboard
from compliance.models import CampaignHistory
from telephony.forms import TrunkAdminForm
from tests.campaigns.dialer_setup import MIDDAY, contacts, live_ua, running_campaign
from tests.factories import ContactFactory, TrunkFactory

RATE = Decimal("0.6000")  # per minute: a one-minute call costs 0.60


def _budgeted(budget: str | None = "1.00", currency: str = "EUR") -> Campaign:
    trunk = TrunkFactory(cost_per_minute=RATE, currency=currency)
    return running_campaign(trunk=trunk, budget=Decimal(budget) if budget else None)


def _talking(campaign: Campaign, seconds: int = 60) -> CallAttempt:
    """An attempt in a call answered ``seconds`` ago."""
    contact = ContactFactory(campaign=campaign, status=ContactStatus.IN_PROGRESS)
    now = timezone.now()
    return CallAttempt.objects.create(
        campaign=campaign,
        contact=contact,
        trunk=campaign.trunk,
        state=AttemptState.BRIDGED,
        originated_at=now - timedelta(seconds=seconds + 5),
        dialing_at=now - timedelta(seconds=seconds + 5),
        answered_at=now - timedelta(seconds=seconds),
        bridged_at=now - timedelta(seconds=seconds),
        lease_expires_at=now + timedelta(seconds=30),
    )


def _end(attempt: CallAttempt) -> None:
    assert finish_attempt(attempt.pk, disposition=Disposition.HUMAN, sip_code=200)


@pytest.mark.django_db
def test_the_campaign_pauses_itself_when_its_spend_reaches_the_cap(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # given a running campaign with a 1.00 EUR cap on a trunk at 0.60 EUR a minute
    campaign = _budgeted("1.00")
    first, second = _talking(campaign), _talking(campaign)

    # when a one-minute call ends: charged in the trunk's currency, below the cap
    with django_capture_on_commit_callbacks(execute=True):
        _end(first)
    first.refresh_from_db()
    assert first.cost_currency == "EUR"
    assert Decimal("0.60") <= first.cost < Decimal("0.61")
    assert spend_by_campaign([campaign.pk])[campaign.pk] == first.cost
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING

    # when the second one ends: 1.20 of 1.00 spent
    with django_capture_on_commit_callbacks(execute=True):
        _end(second)

    # then the campaign paused itself, and says why in its history
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert campaign.budget_reached_at is not None
    [entry] = CampaignHistory.objects.filter(campaign=campaign)
    assert entry.reason.startswith("budget cap reached: 1.20 of 1.00 EUR spent"), entry.reason


@pytest.mark.django_db
def test_an_unanswered_call_costs_nothing_and_a_campaign_without_cap_never_pauses(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    campaign = _budgeted(None)
    attempt = _talking(campaign, seconds=600)
    with django_capture_on_commit_callbacks(execute=True):
        _end(attempt)
    assert spend_by_campaign([campaign.pk])[campaign.pk] >= Decimal("6.00")
    assert not pause_campaign_at_budget(campaign.pk)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING


@pytest.mark.django_db
def test_a_late_result_replacing_the_reapers_guess_is_not_charged_twice() -> None:
    # given a call the reaper ended failed_unknown (charged once), whose real end arrives late
    campaign = _budgeted("10.00")
    attempt = _talking(campaign)
    assert finish_attempt(attempt.pk, disposition=Disposition.FAILED_UNKNOWN, reason="lease expired")
    charged = CallAttempt.objects.get(pk=attempt.pk).cost
    # when the late result replaces it
    assert finish_attempt(attempt.pk, disposition=Disposition.HUMAN, sip_code=200)
    # then the spend holds the call's cost once
    assert charged
    assert spend_by_campaign([campaign.pk])[campaign.pk] == charged


@pytest.mark.django_db
def test_resume_is_refused_until_the_cap_is_raised() -> None:
    campaign = _budgeted("1.00")
    add_spend(campaign.pk, Decimal("1.0000"))
    assert pause_campaign_at_budget(campaign.pk)
    # a second check finds it paused already: nothing happens twice
    assert not pause_campaign_at_budget(campaign.pk)

    with pytest.raises(CampaignTransitionError, match=r"budget is spent \(1.00 of 1.00 EUR spent\)"):
        resume_campaign(campaign.pk)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.PAUSED

    Campaign.objects.filter(pk=campaign.pk).update(budget=Decimal("5.00"))
    resumed = resume_campaign(campaign.pk)
    assert resumed.status == CampaignStatus.RUNNING
    assert resumed.budget_reached_at is None


@pytest.mark.django_db
def test_the_dispatcher_dials_nothing_for_a_campaign_past_its_cap(redis_client: redis.Redis) -> None:
    # given two running campaigns with contacts due; one has spent its cap (its pause has not landed yet)
    live_ua(redis_client)
    spent, other = _budgeted("1.00"), _budgeted("1.00")
    contacts(spent, 2)
    contacts(other, 2)
    add_spend(spent.pk, Decimal("1.00"))

    with time_machine.travel(MIDDAY, tick=False):
        run_dispatch_tick(now=MIDDAY, r=redis_client, enqueue=lambda ids: None)

    # then only the other one dialed
    assert not CallAttempt.objects.filter(campaign=spent).exists()
    assert CallAttempt.objects.filter(campaign=other).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_calls_ending_together_past_the_cap_pause_the_campaign() -> None:
    # given a 1.00 cap that only the two calls together pass
    campaign = _budgeted("1.00")
    attempts = [_talking(campaign), _talking(campaign)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def end(attempt: CallAttempt) -> None:
        try:
            barrier.wait(timeout=10)
            _end(attempt)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    # when both end at once, in two threads with their own connections
    threads = [threading.Thread(target=end, args=(a,)) for a in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    # then each addition counted and the later check saw both: paused
    assert not errors, errors
    assert spend_by_campaign([campaign.pk])[campaign.pk] >= Decimal("1.20")
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.PAUSED


@pytest.mark.django_db
def test_a_failover_trunk_must_bill_in_the_same_currency() -> None:
    backup = TrunkFactory(currency="EUR")
    form = TrunkAdminForm(
        data={
            "name": "primary",
            "enabled": True,
            "host": "sip.example.com",
            "port": 5060,
            "transport": "udp",
            "failover": backup.pk,
            "auth_mode": "ip",
            "register_expiry_s": 300,
            "srtp_policy": "disabled",
            "codecs": "PCMU",
            "max_channels": 10,
            "max_cps": "5",
            "cost_per_minute": "0.01",
            "currency": "usd",
        }
    )
    assert not form.is_valid()
    assert "bills in EUR, this one in USD" in form.errors["failover"][0]


@pytest.mark.django_db
def test_a_campaign_with_spend_cannot_move_to_a_trunk_of_another_currency() -> None:
    campaign = _budgeted("10.00", currency="EUR")
    add_spend(campaign.pk, Decimal("2.50"))
    dollars = TrunkFactory(currency="USD")
    form = CampaignAdminForm(instance=campaign)
    data = {name: form[name].value() for name in form.fields}
    data.update(trunk=dollars.pk, caller_ids=[], budget="10.00")
    bound = CampaignAdminForm(data=data, instance=campaign)
    assert not bound.is_valid()
    assert "has spent 2.50 EUR" in bound.errors["trunk"][0]


@pytest.mark.django_db
def test_the_dashboard_never_sums_two_currencies(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    euros, dollars = _budgeted(None, "EUR"), _budgeted(None, "USD")
    with django_capture_on_commit_callbacks(execute=True):
        _end(_talking(euros, 60))
        _end(_talking(dollars, 120))
    CallAttempt.objects.update(queued_at=timezone.now())
    spend = dict(console_dashboard()["spend"])
    assert set(spend) == {"EUR", "USD"}
    assert spend["EUR"] == Decimal("0.60")
    assert spend["USD"] == Decimal("1.20")

"""Builders shared by the dialer tests: a running campaign that can dial, contacts, a live UA."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import redis
from django.utils import timezone

from campaigns.choices import CampaignStatus, ContactStatus
from campaigns.dialer.attempts import mark_attempt_dialing
from campaigns.models import CallAttempt, Campaign, Contact
from telephony.ua_registry import advertise_ua
from tests.factories import CallerIDFactory, CampaignFactory, ContactFactory, TrunkFactory

# Tuesday 2026-06-16 16:00 UTC = 12:00 in New York, 09:00 in Los Angeles: inside the default window.
MIDDAY = dt.datetime(2026, 6, 16, 16, 0, tzinfo=dt.UTC)
NY, LA = "America/New_York", "America/Los_Angeles"


def running_campaign(*, max_concurrent: int = 5, trunk: object | None = None, max_channels: int = 100,
                     trunk_cps: str = "1000", campaign_cps: str = "1000", **fields: object) -> Campaign:
    """A running campaign on its own (or the given) trunk with one caller ID."""
    trunk = trunk or TrunkFactory(max_channels=max_channels, max_cps=Decimal(trunk_cps))
    campaign = CampaignFactory(status=CampaignStatus.RUNNING, trunk=trunk, max_concurrent=max_concurrent,
                               max_cps=Decimal(campaign_cps), **fields)
    caller = CallerIDFactory(trunk=trunk)
    campaign.caller_ids.add(caller)
    return campaign


def contacts(campaign: Campaign, n: int, *, zones: list[str] | None = None, **fields: object) -> list[Contact]:
    """``n`` pending contacts in New York (by default)."""
    return [ContactFactory(campaign=campaign, time_zones=zones if zones is not None else [NY], **fields)
            for _ in range(n)]


def live_ua(r: redis.Redis, name: str = "ua-test", free_lines: int = 1000) -> str:
    """Advertise a UA with free lines for a minute."""
    advertise_ua(r, name, free_lines=free_lines, host="127.0.0.1", sip_port=5070, ttl_s=60)
    return name


def dialing_attempt(phone_e164: str) -> CallAttempt:
    """An attempt of a running campaign that passed its last gate (DIALING) at `MIDDAY`."""
    campaign = running_campaign()
    contact = ContactFactory(campaign=campaign, phone_e164=phone_e164, status=ContactStatus.IN_PROGRESS)
    attempt = CallAttempt.objects.create(campaign=campaign, contact=contact, trunk=campaign.trunk,
                                         lease_expires_at=timezone.now() + dt.timedelta(seconds=30))
    assert mark_attempt_dialing(attempt.pk, ua_name="ua-1", now=MIDDAY)
    return attempt

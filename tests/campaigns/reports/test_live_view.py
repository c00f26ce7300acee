"""The campaign page's live view and lifecycle actions in the admin."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.choices import AttemptState, CampaignStatus, ContactStatus, Disposition
from campaigns.models import CallAttempt, Campaign
from campaigns.reports.live import campaign_live_stats
from tests.campaigns.dialer_setup import MIDDAY, contacts, running_campaign
from tests.factories import CallerIDFactory, CampaignFactory

pytestmark = pytest.mark.django_db


def test_live_stats_count_flight_dials_statuses_and_windows() -> None:
    campaign = running_campaign(max_concurrent=7)
    waiting = contacts(campaign, 2)
    contacts(campaign, 3, zones=["Asia/Tokyo"])  # 01:00 in Tokyo
    contacts(campaign, 1, zones=[])
    contacts(campaign, 4, status=ContactStatus.DONE)
    calling = contacts(campaign, 1, status=ContactStatus.IN_PROGRESS)[0]
    with time_machine.travel(MIDDAY - dt.timedelta(seconds=20), tick=False):
        CallAttempt.objects.create(campaign=campaign, contact=calling, state=AttemptState.BRIDGED,
                                   originated_at=timezone.now())
        CallAttempt.objects.create(campaign=campaign, contact=waiting[0], state=AttemptState.ENDED,
                                   ended_at=timezone.now(), disposition=Disposition.CANCELLED,
                                   originated_at=timezone.now())
    with time_machine.travel(MIDDAY - dt.timedelta(minutes=5), tick=False):
        CallAttempt.objects.create(campaign=campaign, contact=waiting[1], state=AttemptState.ENDED,
                                   ended_at=timezone.now(), disposition=Disposition.BUSY,
                                   originated_at=timezone.now())
    stats = campaign_live_stats(campaign.pk, now=MIDDAY)
    assert (stats["in_flight"], stats["limit"]) == (1, 7)
    assert stats["dialed_last_minute"] == 1
    by_status = {row["status"]: row["count"] for row in stats["contacts_by_status"]}
    assert by_status[ContactStatus.PENDING] == 6
    assert by_status[ContactStatus.DONE] == 4
    assert by_status[ContactStatus.IN_PROGRESS] == 1
    assert stats["outside_window_contacts"] == 3
    # Tokyo opens at 09:00 local (the default window) = 00:00 UTC on Wednesday
    assert stats["next_window_opening"] == "2026-06-17T00:00:00+00:00"
    assert stats["unknown_zone_contacts"] == 1


def test_live_endpoint_serves_json_to_staff(admin_client: Client) -> None:
    campaign = running_campaign()
    response = admin_client.get(reverse("admin:campaigns_campaign_live", args=[campaign.pk]))
    assert response.status_code == 200
    assert response.json()["limit"] == campaign.max_concurrent


def test_live_endpoint_is_not_public(client: Client) -> None:
    campaign = running_campaign()
    response = client.get(reverse("admin:campaigns_campaign_live", args=[campaign.pk]))
    assert response.status_code == 302  # to the login page


def test_change_page_loads_the_live_script(admin_client: Client) -> None:
    campaign = running_campaign()
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert b"campaigns/campaign_live.js" in page.content


def _act(client: Client, action: str, *campaigns: Campaign) -> list[str]:
    # "post": "yes" is the confirmation page's answer (cancel asks first; the others ignore it)
    response = client.post(reverse("admin:campaigns_campaign_changelist"),
                           {"action": action, "_selected_action": [c.pk for c in campaigns], "post": "yes"},
                           follow=True)
    assert response.status_code == 200
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_admin_actions_drive_the_lifecycle(admin_client: Client) -> None:
    draft = CampaignFactory()
    draft.caller_ids.add(CallerIDFactory(trunk=draft.trunk))
    assert _act(admin_client, "start_campaigns", draft) == ["1 campaign started."]
    assert _act(admin_client, "pause_campaigns", draft) == ["1 campaign paused."]
    assert _act(admin_client, "resume_campaigns", draft) == ["1 campaign resumed."]
    assert _act(admin_client, "cancel_campaigns", draft) == ["1 campaign cancelled."]
    draft.refresh_from_db()
    assert draft.status == CampaignStatus.CANCELLED


def test_admin_shows_illegal_transitions_as_errors(admin_client: Client) -> None:
    done = CampaignFactory(status=CampaignStatus.COMPLETED, name="Spring")
    running = running_campaign()
    found = _act(admin_client, "pause_campaigns", done, running)
    assert "Cannot pause campaign \u201cSpring\u201d: it is completed." in found
    assert "1 campaign paused." in found

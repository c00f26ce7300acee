"""The campaign page's live view at 1440x900: the calls in progress, what holds dialing back, the trend, and the
admin home's dashboard of running campaigns."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from campaigns.choices import AttemptState, ContactStatus
from campaigns.models import CallAttempt
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in
from tests.campaigns.dialer_setup import contacts, running_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1440, "height": 900}
ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "Asia/Tokyo", "America/Los_Angeles",
         "Pacific/Honolulu", "Australia/Sydney", "Asia/Dubai", "Europe/Berlin", "Pacific/Auckland"]
EVERY_DAY = [0, 1, 2, 3, 4, 5, 6]


def zone_inside_window_now() -> str:
    """A zone where it is between 10:00 and 19:00 now, so its contacts are inside an 08:00-21:00 window."""
    now = timezone.now()
    return next(z for z in ZONES if 10 <= now.astimezone(zoneinfo.ZoneInfo(z)).hour < 19)


def _in_thread(fn: object) -> None:
    """ORM writes from another thread: Playwright's event loop runs in this one (Django refuses ORM there)."""
    def run() -> None:
        try:
            fn()  # type: ignore[operator]
        finally:
            connections.close_all()
    writer = threading.Thread(target=run)
    writer.start()
    writer.join()


def test_live_view_lists_calls_in_progress_and_names_the_binding_limit(live_server: object,
                                                                        screenshot_dir: Path) -> None:
    # given a running campaign at its cap of 2 calls: one ringing for 20 s, one talking for 75 s
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    zone = zone_inside_window_now()
    campaign = running_campaign(max_concurrent=2, window_days=EVERY_DAY, window_start=dt.time(8),
                                window_end=dt.time(21))
    ringing, talking, third = contacts(campaign, 3, zones=[zone], status=ContactStatus.IN_PROGRESS)
    contacts(campaign, 4, zones=[zone])  # due now, held back by the cap
    now = timezone.now()
    CallAttempt.objects.create(campaign=campaign, contact=ringing, state=AttemptState.RINGING, caller_id="+14155550100",
                               dialing_at=now - dt.timedelta(seconds=22), ringing_at=now - dt.timedelta(seconds=20))
    first_talk = CallAttempt.objects.create(
        campaign=campaign, contact=talking, state=AttemptState.BRIDGED, amd_result="human",
        dialing_at=now - dt.timedelta(seconds=90), answered_at=now - dt.timedelta(seconds=75))
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, base_url, "operator", "op-pass-123")
        # when the operator opens the campaign
        page.goto(f"{base_url}/admin/campaigns/campaign/{campaign.pk}/change/")
        # then each call in progress is listed with its state, duration and AMD verdict
        rows = page.locator("#live-calls tr[data-attempt]")
        expect(rows).to_have_count(2)
        expect(page.locator(f"#live-calls tr[data-attempt='{first_talk.pk}']")).to_contain_text("Bridged")
        expect(page.locator(f"#live-calls tr[data-attempt='{first_talk.pk}']")).to_contain_text("human")
        expect(page.locator(f"#live-calls tr[data-attempt='{first_talk.pk}'] .live-duration")).to_have_text(
            _duration_pattern(75))
        expect(page.locator(f"#live-calls tr[data-attempt='{first_talk.pk}']")).to_contain_text(zone)
        # and the line that says why no more is dialed names the campaign cap
        expect(page.locator("#live-holding")).to_have_attribute("data-binding", "campaign_cap")
        expect(page.locator("#live-holding")).to_contain_text("2 / 2")
        expect(page.locator("#live-spark")).to_be_visible()
        expect(page.locator("#live-updated")).to_contain_text("UTC")
        page.screenshot(path=screenshot_dir / "campaign-live.png", full_page=True)

        # when the ringing call ends and a third starts dialing, the view follows without a reload
        _in_thread(lambda: (
            CallAttempt.objects.filter(contact=ringing).update(state=AttemptState.ENDED, ended_at=timezone.now()),
            CallAttempt.objects.create(campaign=campaign, contact=third, state=AttemptState.DIALING,
                                       dialing_at=timezone.now())))
        expect(page.locator("#live-calls tr[data-state=dialing]")).to_have_count(1, timeout=15_000)
        expect(page.locator("#live-calls tr[data-state=ringing]")).to_have_count(0)

        # and a campaign with room left says nothing holds it back
        _in_thread(lambda: type(campaign).objects.filter(pk=campaign.pk).update(max_concurrent=10))
        expect(page.locator("#live-holding")).to_have_attribute("data-binding", "ua_lines", timeout=15_000)
        browser.close()
    assert errors == []


def _duration_pattern(seconds: int) -> object:
    import re

    # polled every 3 s: the shown duration is the seconds at the last poll, a few seconds after the setup
    low, high = seconds, seconds + 30
    return re.compile("|".join(f"^{s // 60}:{s % 60:02d}$" for s in range(low, high)))


def test_admin_home_is_a_dashboard_of_running_campaigns(live_server: object, screenshot_dir: Path) -> None:
    # given one running campaign with a call in progress and one draft
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    campaign = running_campaign(max_concurrent=3, name="Winter renewals")
    first, *_ = contacts(campaign, 3)
    CallAttempt.objects.create(campaign=campaign, contact=first, state=AttemptState.BRIDGED,
                               answered_at=timezone.now())
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(20_000)
        log_in(page, base_url, "operator", "op-pass-123")
        page.goto(f"{base_url}/admin/")
        # then the running campaign leads the page with its calls in flight and links to its live view and report
        row = page.locator(f"#dashboard-campaigns tr[data-campaign='{campaign.pk}']")
        expect(row).to_contain_text("Winter renewals")
        expect(row).to_contain_text("1 / 3")
        expect(row.locator("a", has_text="Report")).to_have_count(1)
        expect(page.locator("#dashboard-today")).to_contain_text("Dialed today")
        page.screenshot(path=screenshot_dir / "admin-home-dashboard.png", full_page=True)
        browser.close()

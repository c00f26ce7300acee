"""A contact's page at 1440x900: why it waits and what happens next, retry now, schedule a call-back."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from campaigns.choices import AttemptState, CampaignStatus, ContactStatus
from campaigns.models import CallAttempt, RetryRule
from telephony.choices import Disposition
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in
from tests.factories import CampaignFactory, ContactFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1440, "height": 900}


def test_a_failed_contact_says_why_and_can_be_retried_or_called_back(live_server: object,
                                                                     screenshot_dir: Path) -> None:
    # given a contact whose busy retries are exhausted (3 of 3)
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    campaign = CampaignFactory(status=CampaignStatus.RUNNING, window_days=list(range(7)),
                               window_start=dt.time(9), window_end=dt.time(20))
    RetryRule.objects.create(campaign=campaign, disposition=Disposition.BUSY, delay_s=600, max_attempts=3)
    contact = ContactFactory(campaign=campaign, status=ContactStatus.FAILED, attempts=3,
                             last_disposition=Disposition.BUSY, time_zones=["America/Chicago"])
    now = timezone.now()
    first = None
    for n in (1, 2, 3):
        attempt = CallAttempt.objects.create(campaign=campaign, contact=contact, attempt_number=n,
                                             state=AttemptState.ENDED, disposition=Disposition.BUSY,
                                             dialing_at=now, ended_at=now, sip_code=486)
        first = first or attempt
    base_url = live_server.url  # type: ignore[attr-defined]
    page_url = f"{base_url}/admin/campaigns/contact/{contact.pk}/change/"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(20_000)
        log_in(page, base_url, "operator", "op-pass-123")
        page.goto(page_url)
        # then the page says why nothing more happens
        expect(page.locator(".field-why_next")).to_contain_text(
            "Retries exhausted: 3 of 3 attempts per contact (busy).")
        # and each attempt links to the report's attempt page
        expect(page.locator(f"a[href$='/report/attempts/{first.pk}/']")).to_have_count(1)  # type: ignore[union-attr]
        page.screenshot(path=screenshot_dir / "contact-failed.png", full_page=True)

        # when the operator presses "Retry now"
        page.click("#contact-retry")
        expect(page.locator(".messagelist .success")).to_contain_text("Queued again")
        expect(page.locator(".field-status")).to_contain_text("Retry scheduled")

        # and schedules a call-back for tomorrow 07:00 on the person's clock (before the 09:00 opening)
        tomorrow = (timezone.now().astimezone(zoneinfo.ZoneInfo("America/Chicago")) + dt.timedelta(days=1)).date()
        page.fill("#id_day", tomorrow.isoformat())
        page.fill("#id_at", "07:00")
        page.click("#contact-callback-save")
        expect(page.locator(".messagelist .success")).to_contain_text("Call-back scheduled")
        expect(page.locator(".field-why_next")).to_contain_text("America/Chicago")
        page.screenshot(path=screenshot_dir / "contact-callback.png", full_page=True)
        browser.close()

    contact.refresh_from_db()
    opening = dt.datetime.combine(tomorrow, dt.time(9), tzinfo=zoneinfo.ZoneInfo("America/Chicago"))
    assert contact.next_attempt_at == opening
    history = list(LogEntry.objects.filter(object_id=str(contact.pk)).order_by("pk")
                   .values_list("change_message", flat=True))
    assert history[0] == "Queued again (retry now)"
    assert history[1].startswith("Call-back scheduled for")

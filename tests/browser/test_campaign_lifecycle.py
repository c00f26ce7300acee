"""Start, pause, resume and cancel from the campaign's own page (D8), in a real browser at 1440x900.

Each button runs the lifecycle service, cancel asks first, and every change is in the campaign's History.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from campaigns.choices import CampaignStatus
from campaigns.models import CallAttempt, Campaign
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in
from tests.factories import CallerIDFactory, CampaignFactory, ContactFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1440, "height": 900}


def _draft_that_can_dial() -> Campaign:
    campaign = CampaignFactory(name="Renewals")
    campaign.caller_ids.add(CallerIDFactory(trunk=campaign.trunk))
    ContactFactory.create_batch(3, campaign=campaign)
    return campaign


def _status_now(campaign_id: int) -> str:
    """The campaign's status read from another thread (Playwright's loop runs in this one; Django refuses ORM
    calls from a thread with a running loop)."""
    found: list[str] = []

    def read() -> None:
        try:
            found.append(Campaign.objects.get(pk=campaign_id).status)
        finally:
            connections.close_all()

    reader = threading.Thread(target=read)
    reader.start()
    reader.join()
    return found[0]


def test_lifecycle_buttons_follow_the_status_and_land_in_history(live_server: object, screenshot_dir: Path) -> None:
    # given a draft campaign with contacts and a caller ID
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    campaign = _draft_that_can_dial()
    base_url = live_server.url  # type: ignore[attr-defined]
    change_url = f"{base_url}/admin/campaigns/campaign/{campaign.pk}/change/"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, base_url, "operator", "op-pass-123")
        page.goto(change_url)
        # then only Start (and Cancel) are offered, with the checklist before starting
        expect(page.locator("#campaign-status")).to_have_text("Draft")
        expect(page.locator("#lifecycle-start")).to_be_enabled()
        expect(page.locator("#lifecycle-pause")).to_be_disabled()
        expect(page.locator("#lifecycle-resume")).to_be_disabled()
        expect(page.locator("#start-checklist")).to_contain_text("3 contacts")
        page.screenshot(path=screenshot_dir / "campaign-lifecycle-draft.png", full_page=False)

        # when the operator starts, pauses and resumes it from the page
        page.click("#lifecycle-start")
        expect(page.locator("#campaign-status")).to_have_text("Running")
        expect(page.locator(".messagelist")).to_contain_text("started")
        expect(page.locator("#lifecycle-start")).to_be_disabled()
        page.click("#lifecycle-pause")
        expect(page.locator("#campaign-status")).to_have_text("Paused")
        page.click("#lifecycle-resume")
        expect(page.locator("#campaign-status")).to_have_text("Running")

        # and cancels it: a confirmation page comes first, and "keep it" changes nothing
        page.click("#lifecycle-cancel")
        expect(page.locator("#content-main")).to_contain_text("for good")
        expect(page.locator("#cancel-list")).to_contain_text("Renewals")
        page.screenshot(path=screenshot_dir / "campaign-cancel-confirm.png")
        page.click("#keep-campaign")
        expect(page.locator("#campaign-status")).to_have_text("Running")
        page.click("#lifecycle-cancel")
        page.click("#confirm-cancel")
        expect(page.locator("#campaign-status")).to_have_text("Cancelled")
        for name in ("start", "pause", "resume", "cancel"):
            expect(page.locator(f"#lifecycle-{name}")).to_be_disabled()

        # then the History page names every change and who made it
        page.goto(f"{base_url}/admin/campaigns/campaign/{campaign.pk}/history/")
        history = page.locator("#change-history").inner_text()
        page.screenshot(path=screenshot_dir / "campaign-history.png")
        browser.close()

    assert errors == []
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED
    for word in ("Started", "Paused", "Resumed", "Cancelled"):
        assert word in history
    assert "operator" in history
    messages = list(LogEntry.objects.filter(object_id=str(campaign.pk)).order_by("pk")
                    .values_list("change_message", flat=True))
    assert messages == ["Started", "Paused", "Resumed", "Cancelled"]


def test_a_refused_start_says_why_and_changes_nothing(live_server: object) -> None:
    # given a draft without a caller ID
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    campaign = CampaignFactory(name="No caller ID yet")
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(20_000)
        log_in(page, base_url, "operator", "op-pass-123")
        page.goto(f"{base_url}/admin/campaigns/campaign/{campaign.pk}/change/")
        expect(page.locator("#start-checklist li[data-ok='0']", has_text="caller ID")).to_have_count(1)
        # when the operator presses Start anyway
        page.click("#lifecycle-start")
        # then the refusal is shown and the campaign is still a draft
        expect(page.locator(".messagelist .error")).to_contain_text("add at least one active caller ID")
        expect(page.locator("#campaign-status")).to_have_text("Draft")
        browser.close()
    assert LogEntry.objects.filter(object_id=str(campaign.pk)).count() == 0


def test_cancel_from_the_list_asks_first(live_server: object) -> None:
    # given two running campaigns
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    first, second = _draft_that_can_dial(), _draft_that_can_dial()
    Campaign.objects.filter(pk__in=[first.pk, second.pk]).update(status=CampaignStatus.RUNNING)
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(20_000)
        log_in(page, base_url, "operator", "op-pass-123")
        page.goto(f"{base_url}/admin/campaigns/campaign/")
        # when the operator selects the first and chooses the cancel action
        page.check(f"input[name=_selected_action][value='{first.pk}']")
        page.select_option("select[name=action]", "cancel_campaigns")
        page.click("button[name=index]")
        # then a confirmation page lists it, and nothing is cancelled before the operator confirms
        expect(page.locator("#cancel-list")).to_contain_text("Renewals")
        before_confirm = _status_now(first.pk)
        page.click("#confirm-cancel")
        expect(page.locator(".messagelist")).to_contain_text("1 campaign cancelled")
        browser.close()
    assert before_confirm == CampaignStatus.RUNNING
    assert Campaign.objects.get(pk=first.pk).status == CampaignStatus.CANCELLED
    assert Campaign.objects.get(pk=second.pk).status == CampaignStatus.RUNNING
    assert LogEntry.objects.get(object_id=str(first.pk)).change_message == "Cancelled"


def test_a_campaign_that_has_dialed_offers_no_delete(live_server: object) -> None:
    # given a campaign with one attempt (D10: its records are kept)
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    campaign = _draft_that_can_dial()
    CallAttempt.objects.create(campaign=campaign, contact=campaign.contacts.first())
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(20_000)
        log_in(page, base_url, "operator", "op-pass-123")
        page.goto(f"{base_url}/admin/campaigns/campaign/{campaign.pk}/change/")
        # then there is no Delete button, and the page says why and what to do instead
        expect(page.locator(".submit-row .deletelink")).to_have_count(0)
        expect(page.locator("#campaign-kept-note")).to_contain_text("kept")
        expect(page.locator("#campaign-kept-note")).to_contain_text("Cancel")
        # and the list's first action is a lifecycle action, not delete
        page.goto(f"{base_url}/admin/campaigns/campaign/")
        options = page.locator("select[name=action] option").all_inner_texts()
        browser.close()
    assert options[1].startswith("Start")

"""The campaign form, the upload page and the do-not-call list say things in plain words, at 1440x900:
defaults that start valid (D12), retry rules that match what the dialer does (D2), errors on their field
instead of constraint names (D3), no upload into a closed campaign (D9), plural names that read (D16)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright

from campaigns.choices import CampaignStatus
from campaigns.models import Campaign, ImportJob
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in
from tests.factories import AgentProfileFactory, CampaignFactory, DoNotCallFactory, TrunkFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1440, "height": 900}
SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "sample-contacts.csv"


def _browser_page(playwright: object, base_url: str) -> object:
    browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)  # type: ignore[attr-defined]
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(20_000)
    log_in(page, base_url, "operator", "op-pass-123")
    return page


def test_the_add_form_starts_valid_and_speaks_plainly(live_server: object, screenshot_dir: Path) -> None:
    # given an agent and a trunk of 10 channels
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    AgentProfileFactory(name="Renewals agent")
    TrunkFactory(name="carrier", max_channels=10)
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        page = _browser_page(playwright, base_url)
        page.goto(f"{base_url}/admin/campaigns/campaign/add/")
        # then Monday to Friday are ticked, the region is filled, and the built-in retries are rows to edit
        for day in range(7):
            checked = page.locator(f"#id_window_days_{day}").is_checked()
            assert checked == (day < 5), day
        expect(page.locator("#id_default_region")).to_have_value("US")
        expect(page.locator("#content-main")).not_to_contain_text("without a rule are not retried")
        expect(page.locator("#content-main")).to_contain_text("retried with the built-in delay (busy after 10 min")
        expect(page.locator("#id_retry_rules-0-disposition")).to_have_value("busy")
        expect(page.locator("#id_retry_rules-0-delay_s")).to_have_value("600")
        page.screenshot(path=screenshot_dir / "campaign-add.png", full_page=True)

        # when the operator enters impossible limits and a retry rule that never allows an attempt
        page.fill("#id_name", "Plain words")
        page.select_option("#id_agent", label="Renewals agent")
        page.select_option("#id_trunk", label="carrier")
        page.fill("#id_max_concurrent", "0")
        page.fill("#id_max_cps", "0")
        page.fill("#id_ring_timeout_s", "2")
        page.fill("#id_opt_out_digit", "x")
        page.fill("#id_retry_rules-0-max_attempts", "0")
        page.click("input[name=_save]")
        # then each field says what is wrong, and no constraint name shows anywhere
        expect(page.locator(".field-max_concurrent .errorlist")).to_contain_text("At least 1 call at a time")
        expect(page.locator(".field-max_cps .errorlist")).to_contain_text("More than 0 calls per second")
        expect(page.locator(".field-ring_timeout_s .errorlist")).to_contain_text("Between 5 and 300 seconds")
        expect(page.locator(".field-opt_out_digit .errorlist")).to_contain_text("One key")
        expect(page.locator("#retry_rules-group .errorlist")).to_contain_text("1 means this result is not retried")
        body = page.content()
        page.screenshot(path=screenshot_dir / "campaign-add-errors.png", full_page=True)

        # when the limits are fixed but exceed the trunk's channels, it saves with a warning
        page.fill("#id_max_concurrent", "50")
        page.fill("#id_max_cps", "1")
        page.fill("#id_ring_timeout_s", "30")
        page.fill("#id_opt_out_digit", "9")
        page.fill("#id_retry_rules-0-max_attempts", "3")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist .warning")).to_contain_text("more than trunk")
    assert "Constraint" not in body
    assert "_gte_1" not in body
    campaign = Campaign.objects.get(name="Plain words")
    assert sorted(campaign.window_days) == [0, 1, 2, 3, 4]
    assert campaign.retry_rules.count() == 6


def test_no_upload_into_a_cancelled_campaign(live_server: object) -> None:
    # given a cancelled campaign
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    campaign = CampaignFactory(name="Stopped for good", status=CampaignStatus.CANCELLED)
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        page = _browser_page(playwright, base_url)
        page.goto(f"{base_url}/admin/campaigns/campaign/{campaign.pk}/import/")
        # then the page says so before anything is chosen, and an upload is refused
        expect(page.locator("#closed-campaign")).to_contain_text("is cancelled")
        page.set_input_files("#id_file", str(SAMPLE))
        page.click("input[name=_upload]")
        expect(page.locator(".errornote, .errorlist").first).to_be_visible()
        expect(page.locator("#content-main")).to_contain_text("would never be called")
    assert not ImportJob.objects.filter(campaign=campaign).exists()


def test_the_do_not_call_list_reads_in_the_plural(live_server: object) -> None:
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    DoNotCallFactory.create_batch(4)
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        page = _browser_page(playwright, base_url)
        page.goto(f"{base_url}/admin/campaigns/donotcall/")
        text = page.locator("#content").inner_text()
        options = page.locator("select[name=action] option").all_inner_texts()
    assert "4 do-not-call entries" in text
    assert "4 do-not-call list" not in text
    assert any("do-not-call entries" in o for o in options)

"""The budget cap and the campaign comparison in a real browser at 1440x900.

A campaign pauses itself when its calls' cost reaches its cap: its page says so, Resume waits until the cap is
raised, and then works. The list's Compare action puts two campaigns side by side, without horizontal overflow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from campaigns.choices import AttemptState, CampaignStatus, ContactStatus, Disposition
from campaigns.dialer.attempts import finish_attempt
from campaigns.models import CallAttempt, Campaign
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in
from tests.campaigns.dialer_setup import running_campaign
from tests.campaigns.report_data import add_attempt, at
from tests.factories import CampaignFactory, ContactFactory, TrunkFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1440, "height": 900}
T = TypeVar("T")


def _in_thread(fn: Callable[[], T]) -> T:
    """Run ORM work off Playwright's thread (Django refuses ORM calls from a thread with a running loop)."""
    found: list[Any] = []

    def run() -> None:
        try:
            found.append(fn())
        finally:
            connections.close_all()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return found[0]


def _one_minute_call_ends(campaign: Campaign) -> bool:
    """A call of the campaign answered a minute ago ends now (through the dialer's own end of call)."""
    contact = ContactFactory(campaign=campaign, status=ContactStatus.IN_PROGRESS)
    now = timezone.now()
    attempt = CallAttempt.objects.create(
        campaign=campaign,
        contact=contact,
        trunk=campaign.trunk,
        state=AttemptState.BRIDGED,
        originated_at=now - timedelta(seconds=65),
        dialing_at=now - timedelta(seconds=65),
        answered_at=now - timedelta(seconds=60),
        bridged_at=now - timedelta(seconds=60),
        lease_expires_at=now + timedelta(seconds=30),
    )
    return finish_attempt(attempt.pk, disposition=Disposition.HUMAN, sip_code=200)


def test_a_campaign_pauses_at_its_budget_cap_and_resumes_once_it_is_raised(
    live_server: object, screenshot_dir: Path
) -> None:
    # given a running campaign with a 1.00 USD cap on a trunk at 0.60 USD a minute, after one call
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    trunk = TrunkFactory(name="carrier-usd", cost_per_minute=Decimal("0.6000"), currency="USD")
    campaign = running_campaign(trunk=trunk, name="Renewals", budget=Decimal("1.00"))
    ContactFactory.create_batch(2, campaign=campaign)
    assert _one_minute_call_ends(campaign)
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
        expect(page.locator("#campaign-status")).to_have_text("Running")
        expect(page.locator("#campaign-budget")).to_contain_text("0.60 of 1.00 USD spent")

        # when a second one-minute call ends: 1.20 of 1.00
        assert _in_thread(lambda: _one_minute_call_ends(campaign))
        page.goto(change_url)

        # then the campaign paused itself, says why, and Resume waits for a higher cap
        expect(page.locator("#campaign-status")).to_have_text("Paused")
        expect(page.locator("#campaign-budget-paused")).to_contain_text("Paused by its budget cap")
        expect(page.locator("#campaign-budget-paused")).to_contain_text("1.20 of 1.00 USD spent")
        expect(page.locator("#lifecycle-resume")).to_be_disabled()
        assert "raise the budget cap" in (page.locator("#lifecycle-resume").get_attribute("title") or "")
        page.screenshot(path=screenshot_dir / "campaign-budget-paused.png")

        # when the operator raises the cap to 5.00 and saves, then resumes
        page.fill("#id_budget", "5.00")
        page.click("input[name=_continue]")
        expect(page.locator("#campaign-budget")).to_contain_text("1.20 of 5.00 USD spent")
        expect(page.locator("#lifecycle-resume")).to_be_enabled()
        page.click("#lifecycle-resume")
        expect(page.locator("#campaign-status")).to_have_text("Running")

        # and the report shows the spend against the cap
        page.goto(f"{base_url}/admin/campaigns/campaign/{campaign.pk}/report/")
        expect(page.locator("#report-budget")).to_contain_text("1.20 of 5.00 USD spent")
        browser.close()

    assert errors == []
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING


def _with_calls(name: str, currency: str, calls: list[tuple[str, int, str]]) -> Campaign:
    campaign = CampaignFactory(name=name, trunk=TrunkFactory(cost_per_minute=Decimal("0.6000"), currency=currency))
    for i, (disposition, talk_s, outcome) in enumerate(calls):
        contact = ContactFactory(campaign=campaign, status=ContactStatus.DONE, outcome=outcome)
        answered = disposition == Disposition.HUMAN
        add_attempt(
            campaign,
            contact,
            1,
            at(15, i),
            disposition,
            answered_after_s=5 if answered else None,
            talk_s=talk_s,
            first_audio_after_s=0.5 if answered else None,
            outcome=outcome,
            amd_result="human" if answered else "",
            cost=Decimal(talk_s) / 100 if answered else None,
            cost_currency=currency if answered else "",
        )
    return campaign


def test_two_campaigns_compared_side_by_side_from_the_list(live_server: object, screenshot_dir: Path) -> None:
    # given two campaigns billed in two currencies
    User.objects.create_superuser("analyst", "an@example.com", "an-pass-123")
    spring = _with_calls(
        "Spring solar offer",
        "USD",
        [
            (Disposition.HUMAN, 60, "interested"),
            (Disposition.HUMAN, 40, "not_interested"),
            (Disposition.NO_ANSWER, 0, ""),
        ],
    )
    autumn = _with_calls("Autumn heat pumps", "EUR", [(Disposition.HUMAN, 30, "interested"), (Disposition.BUSY, 0, "")])
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, base_url, "analyst", "an-pass-123")
        # when both are selected in the list and compared
        page.goto(f"{base_url}/admin/campaigns/campaign/")
        for campaign in (spring, autumn):
            page.check(f"input[name=_selected_action][value='{campaign.pk}']")
        page.select_option("select[name=action]", "compare_selected")
        page.click("button[name=index]")

        # then they stand side by side, each cost in its own currency, the spend summed per currency
        table = page.locator("#compare-table")
        expect(table.locator("thead th[data-campaign]")).to_have_count(2)
        expect(table.locator("tr[data-row=contact-rate]")).to_contain_text("66.7%")
        expect(table.locator("tr[data-row=contact-rate]")).to_contain_text("50.0%")
        expect(table.locator("tr[data-outcome=interested]")).to_contain_text("1.00 USD")
        expect(table.locator("tr[data-outcome=interested]")).to_contain_text("0.30 EUR")
        expect(page.locator("#compare-spend")).to_contain_text("0.30 EUR + 1.00 USD")
        box = page.evaluate(
            "() => { const t = document.querySelector('#compare-table'); "
            "return {table: t.scrollWidth, box: t.parentElement.clientWidth}; }"
        )
        assert box["table"] <= box["box"], box
        page.screenshot(path=screenshot_dir / "campaign-compare.png", full_page=True)

        # when one is unticked in the picker, then the page says what is missing
        page.uncheck(f"#compare-picker input[value='{autumn.pk}']")
        page.click("#compare-submit")
        expect(page.locator("#compare-error")).to_contain_text("between 2 and 6")
        browser.close()

    assert errors == []

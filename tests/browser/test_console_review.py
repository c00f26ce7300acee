"""Correcting and flagging an outcome on the attempt page (D6: an objection recorded as interest), at 1440x900."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright

from campaigns.models import CallAttempt, Contact
from telephony.choices import Disposition
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in
from tests.campaigns.report_data import add_attempt, at
from tests.factories import CampaignFactory, ContactFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_wrong_outcome_is_corrected_and_flagged_with_who_and_why(live_server: object,
                                                                   screenshot_dir: Path) -> None:
    # given a call recorded as "interested" where the person objected
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    campaign = CampaignFactory(agent__outcome_schema=[
        {"label": "interested", "fields": []}, {"label": "not_interested", "fields": []}])
    contact = ContactFactory(campaign=campaign, outcome="interested")
    attempt = add_attempt(campaign, contact, 1, at(12), Disposition.HUMAN, answered_after_s=3, talk_s=20,
                          outcome="interested", transcript=[
                              {"speaker": "caller", "text": "who is this, how did you get my number",
                               "start_ms": 900, "end_ms": 2500}])
    base_url = live_server.url  # type: ignore[attr-defined]
    page_url = f"{base_url}/admin/campaigns/campaign/{campaign.pk}/report/attempts/{attempt.pk}/"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(20_000)
        log_in(page, base_url, "operator", "op-pass-123")
        page.goto(page_url)
        # when the operator corrects it with a reason, then flags it for a colleague
        page.select_option("#review-label", "not_interested")
        page.fill("#review-note", "asked how we got the number, then declined")
        page.click("#review-correct")
        expect(page.locator(".messagelist .success")).to_contain_text("from interested to not_interested")
        page.fill("#review-note", "check the recogniser on this voice")
        page.click("#review-flag")
        # then the page keeps both, with who made them
        expect(page.locator("#outcome-reviews li")).to_have_count(2)
        expect(page.locator("#outcome-reviews")).to_contain_text("operator: Outcome corrected from interested")
        expect(page.locator("#outcome-reviews")).to_contain_text("Flagged for review: check the recogniser")
        expect(page.locator("#outcome strong").first).to_have_text("not_interested")
        page.screenshot(path=screenshot_dir / "attempt-review.png", full_page=True)
        # and a label the agent does not have is refused
        page.evaluate("document.querySelector('#review-label').add(new Option('converted', 'converted', true, true))")
        page.click("#review-correct")
        expect(page.locator(".messagelist .error")).to_contain_text("not an outcome of this agent")
        browser.close()

    assert CallAttempt.objects.get(pk=attempt.pk).outcome == "not_interested"
    assert Contact.objects.get(pk=contact.pk).outcome == "not_interested"

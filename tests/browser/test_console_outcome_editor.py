"""The agent profile's outcome schema is edited as rows, not raw JSON (the review's top-10, item 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright

from campaigns.models import AgentProfile
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in
from tests.factories import AgentProfileFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_outcome_with_a_field_is_added_without_touching_json(live_server: object, screenshot_dir: Path) -> None:
    # given an agent with the two default outcomes
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    agent = AgentProfileFactory(name="Renewals agent")
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, base_url, "operator", "op-pass-123")
        page.goto(f"{base_url}/admin/campaigns/agentprofile/{agent.pk}/change/")
        # then the outcomes are rows and the JSON is hidden
        expect(page.locator("#outcome-editor .outcome-row")).to_have_count(2)
        expect(page.locator("#id_outcome_schema")).to_be_hidden()
        # when the operator adds "call_back" with a required date-time field, and removes "not_interested"
        page.click("#outcome-add")
        row = page.locator("#outcome-editor .outcome-row").nth(2)
        row.locator(".outcome-label").fill("call_back")
        row.locator(".outcome-description").fill("The person asked to be called back.")
        row.locator(".field-add").click()
        row.locator(".field-name").fill("callback_at")
        row.locator(".field-type").select_option("datetime")
        row.locator(".field-required").check()
        page.locator("#outcome-editor .outcome-row").nth(1).locator(".outcome-remove").click()
        page.screenshot(path=screenshot_dir / "agent-outcome-editor.png", full_page=True)
        page.click("input[name=_save]")
        expect(page.locator(".messagelist .success")).to_be_visible()
        browser.close()

    assert errors == []
    agent.refresh_from_db()
    assert agent.outcome_schema == [
        {"label": "interested", "description": "The person wants to hear more.", "fields": []},
        {"label": "call_back", "description": "The person asked to be called back.",
         "fields": [{"name": "callback_at", "type": "datetime", "required": True}]},
    ]
    assert AgentProfile.objects.count() == 1

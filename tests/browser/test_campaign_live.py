"""The campaign page's live panel, in a real browser: it renders and follows the database as it changes."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import User
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from campaigns.choices import AttemptState, ContactStatus
from campaigns.models import CallAttempt
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in
from tests.campaigns.dialer_setup import contacts, running_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_live_panel_updates_while_calls_start(live_server: object) -> None:
    # given a running campaign with one call in flight
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    campaign = running_campaign(max_concurrent=5)
    first, second = contacts(campaign, 2, status=ContactStatus.IN_PROGRESS)
    contacts(campaign, 3, zones=[])
    CallAttempt.objects.create(campaign=campaign, contact=first, state=AttemptState.BRIDGED)
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, base_url, "operator", "op-pass-123")
        # when the operator opens the campaign
        page.goto(f"{base_url}/admin/campaigns/campaign/{campaign.pk}/change/")
        # then the panel shows calls in flight / limit and the contacts by status
        expect(page.locator("#live-in-flight")).to_have_text("1 / 5")
        expect(page.locator("#live-contacts [data-status=in_progress] strong")).to_have_text("2")
        expect(page.locator("#campaign-live")).to_contain_text("3 waiting contacts have no known time zone")
        # and it follows a second call starting, without a reload
        # (written from another thread: Playwright's event loop runs in this one, and Django refuses ORM
        # calls from a thread with a running loop)
        writer = threading.Thread(target=lambda: (
            CallAttempt.objects.create(campaign=campaign, contact=second, state=AttemptState.DIALING),
            connections.close_all()))
        writer.start()
        writer.join()
        expect(page.locator("#live-in-flight")).to_have_text("2 / 5", timeout=15_000)
        browser.close()
    assert errors == []

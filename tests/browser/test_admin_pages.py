"""The operator's main admin pages render in a real browser without script errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright

from campaigns.choices import ContactStatus
from campaigns.models import DoNotCall, RetryRule
from telephony.choices import TrunkAuth
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in
from tests.factories import CallerIDFactory, CampaignFactory, ContactFactory, TrunkFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "never-shown-Pa55"


def test_admin_pages_render_without_script_errors(live_server: object, screenshot_dir: Path) -> None:
    # given a configured campaign with contacts, a digest trunk and a do-not-call entry
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    trunk = TrunkFactory(name="carrier", auth_mode=TrunkAuth.DIGEST, username="acct", password=SECRET,
                         realm="carrier.example")
    CallerIDFactory(trunk=trunk)
    campaign = CampaignFactory(name="Renewals", trunk=trunk)
    RetryRule.objects.create(campaign=campaign, disposition="busy", delay_s=900, max_attempts=3)
    ContactFactory.create_batch(5, campaign=campaign)
    ContactFactory(campaign=campaign, status=ContactStatus.DNC, phone_e164="+12125550123")
    DoNotCall.objects.create(phone_e164="+12125550123", note="asked on the phone")
    pages = {
        "campaign-list": "/admin/campaigns/campaign/",
        "campaign-form": f"/admin/campaigns/campaign/{campaign.pk}/change/",
        "contact-list": "/admin/campaigns/contact/",
        "dnc-list": "/admin/campaigns/donotcall/",
        "dnc-add": "/admin/campaigns/donotcall/add/",
        "dnc-upload": "/admin/campaigns/donotcall/upload/",
        "trunk-list": "/admin/telephony/trunk/",
        "trunk-form": f"/admin/telephony/trunk/{trunk.pk}/change/",
    }
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(f"{msg.text} {msg.location.get('url')}")
                if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico") else None)
        log_in(page, base_url, "operator", "op-pass-123")
        expect(page.locator("#site-name")).to_be_visible()

        # when the operator visits each page
        bodies: dict[str, str] = {}
        for name, path in pages.items():
            response = page.goto(base_url + path)
            assert response is not None
            assert response.status == 200, name
            page.screenshot(path=screenshot_dir / f"page-{name}.png", full_page=True)
            bodies[name] = page.content()
        browser.close()

    # then no page raised a script error and the trunk password appears nowhere
    assert errors == []
    assert all(SECRET not in body for body in bodies.values())
    assert "Retry rules per disposition" in bodies["campaign-form"]

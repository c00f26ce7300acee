"""The campaign report and an attempt's detail render in a real browser, charts drawn, no script errors."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright

from campaigns.choices import Disposition
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in
from tests.campaigns.report_data import add_attempt, at, build_report_campaign
from tests.factories import ContactFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London"]


def test_report_and_attempt_pages_render_with_charts(live_server: object, screenshot_dir: Path,
                                                     settings: pytest.FixtureRequest, tmp_path: Path) -> None:
    # given a campaign with a day of varied calls and a recording on disk
    settings.RECORDINGS_ROOT = tmp_path  # type: ignore[attr-defined]
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    data = build_report_campaign()
    rng = random.Random(7)
    for k in range(120):
        contact = ContactFactory(campaign=data.campaign, time_zones=[rng.choice(ZONES)])
        disposition = rng.choice([Disposition.HUMAN, Disposition.NO_ANSWER, Disposition.NO_ANSWER,
                                  Disposition.MACHINE, Disposition.BUSY])
        answered = disposition in {Disposition.HUMAN, Disposition.MACHINE}
        add_attempt(data.campaign, contact, 1, at(12) + dt.timedelta(minutes=5 * k), disposition,
                    answered_after_s=5 if answered else None, talk_s=rng.randint(10, 240),
                    first_audio_after_s=rng.choice([0.6, 0.9, 2.5]) if disposition == Disposition.HUMAN else None,
                    first_response_ms=[rng.randint(400, 1500)] if disposition == Disposition.HUMAN else [],
                    amd_result="machine" if disposition == Disposition.MACHINE else "")
    attempt = data.attempts["ny_2"]
    (tmp_path / attempt.recording).parent.mkdir(parents=True)
    (tmp_path / attempt.recording).write_bytes(b"RIFF" + b"\x00" * 100)
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text)
                if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico") else None)
        log_in(page, base_url, "operator", "op-pass-123")

        # when the operator opens the campaign, follows "Report", then one attempt
        page.goto(f"{base_url}/admin/campaigns/campaign/{data.campaign.pk}/change/")
        page.click("#campaign-report")
        expect(page.locator("#funnel h2")).to_have_text("Funnel")
        page.screenshot(path=str(screenshot_dir / "campaign-report.png"), full_page=True)
        for section in ("funnel", "timeline", "local-hours", "outcomes"):
            page.locator(f"#{section}").screenshot(path=str(screenshot_dir / f"campaign-report-{section}.png"))
        chart_count = page.locator("svg.report-chart").count()
        page.click("#attempts tbody a")  # the latest attempt opens
        expect(page.locator("#timings h2")).to_have_text("Timings")
        page.goto(f"{base_url}/admin/campaigns/campaign/{data.campaign.pk}/report/attempts/{attempt.pk}/")
        expect(page.locator("#transcript .bubble").first).to_contain_text("Hi, this is <Acme> calling.")
        page.screenshot(path=str(screenshot_dir / "campaign-report-attempt.png"), full_page=True)
        audio_src = page.locator("#recording audio").get_attribute("src")
        browser.close()

    # then the four charts were drawn, the player points at the recording, and no script failed
    assert chart_count == 4
    assert audio_src is not None
    assert audio_src.endswith(f"/report/attempts/{attempt.pk}/recording/")
    assert errors == []

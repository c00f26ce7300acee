"""The attempts explorer of the report, at 1440x900: filters, click-through from the report, transcript search,
the listen queue playing one recording after another, and the attempts CSV for the same filter."""

from __future__ import annotations

import csv
import io
import math
import struct
import wave
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright

from campaigns.choices import Disposition
from campaigns.models import Campaign
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in
from tests.campaigns.report_data import add_attempt, at
from tests.factories import CampaignFactory, ContactFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1440, "height": 900}


def _wav(path: Path, seconds: float, hz: float) -> None:
    """A short stereo 8 kHz tone: a real file the browser decodes and plays to its end."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(struct.pack("<hh", v, v) for v in (
        int(8000 * math.sin(2 * math.pi * hz * i / 8000)) for i in range(int(8000 * seconds))))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(frames)


def _campaign(recordings: Path) -> tuple[Campaign, dict[str, int]]:
    campaign = CampaignFactory(name="Explorer test")
    ids: dict[str, int] = {}
    plan = [  # key, disposition, outcome, amd, transcript words, recorded
        ("busy1", Disposition.BUSY, "", "", "", False),
        ("busy2", Disposition.BUSY, "", "", "", False),
        ("yes1", Disposition.HUMAN, "interested", "human", "yes tell me more about the solar panels", True),
        ("yes2", Disposition.HUMAN, "interested", "human", "sounds good", True),
        ("no1", Disposition.HUMAN, "not_interested", "human", "no thanks, not for me", True),
        ("vm1", Disposition.MACHINE, "", "machine", "", False),
    ]
    for k, (key, disposition, outcome, amd, words, recorded) in enumerate(plan):
        contact = ContactFactory(campaign=campaign, outcome=outcome)  # the final outcome, as the dialer copies it
        answered = disposition in (Disposition.HUMAN, Disposition.MACHINE)
        recording = f"{campaign.pk}/{key}.wav" if recorded else ""
        transcript = ([{"speaker": "agent", "text": "Hello, this is Sam.", "start_ms": 0, "end_ms": 900},
                       {"speaker": "caller", "text": words, "start_ms": 1200, "end_ms": 2400}] if words else [])
        attempt = add_attempt(campaign, contact, 1, at(12, k), disposition,
                              answered_after_s=4 if answered else None, talk_s=30, outcome=outcome,
                              amd_result=amd, transcript=transcript, recording=recording,
                              cost=Decimal("0.0050") if answered else None)
        if recorded:
            _wav(recordings / recording, 0.6, 440 + 100 * k)
        ids[key] = attempt.pk
    return campaign, ids


def test_explorer_filters_listens_in_turn_and_exports(live_server: object, screenshot_dir: Path,
                                                      settings: pytest.FixtureRequest, tmp_path: Path) -> None:
    # given a campaign with busy, interested, not interested and machine attempts, three of them recorded
    settings.RECORDINGS_ROOT = tmp_path  # type: ignore[attr-defined]
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    campaign, ids = _campaign(tmp_path)
    base_url = live_server.url  # type: ignore[attr-defined]
    report_url = f"{base_url}/admin/campaigns/campaign/{campaign.pk}/report/"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(),
                                             args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"])
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, base_url, "operator", "op-pass-123")

        # when the operator clicks "Busy" in the report's disposition table
        page.goto(report_url)
        page.click("#dispositions a[data-disposition=busy]")
        # then the explorer lists the two busy attempts only
        expect(page.locator("#explorer-results tr[data-attempt]")).to_have_count(2)
        expect(page.locator("#id_disposition")).to_have_value("busy")

        # when they filter by outcome "interested" from the report's outcomes table
        page.goto(report_url)
        page.click("#outcomes a[data-outcome=interested]")
        expect(page.locator("#explorer-results tr[data-attempt]")).to_have_count(2)

        # and by AMD result, and by words in the transcript
        page.goto(f"{report_url}attempts/")
        page.select_option("#id_amd", "machine")
        page.click("#explorer-apply")
        expect(page.locator("#explorer-results tr[data-attempt]")).to_have_count(1)
        expect(page.locator(f"#explorer-results tr[data-attempt='{ids['vm1']}']")).to_have_count(1)
        page.goto(f"{report_url}attempts/")
        page.fill("#id_q", "SOLAR panels")
        page.click("#explorer-apply")
        expect(page.locator("#explorer-results tr[data-attempt]")).to_have_count(1)
        expect(page.locator("#explorer-results")).to_contain_text("caller: yes tell me more about the solar panels")

        # then the listen queue of all human calls plays the first recording and goes on to the next by itself
        page.goto(f"{report_url}attempts/?disposition=human")
        expect(page.locator("#listen-queue h2")).to_contain_text("3 recordings")
        first = page.locator("#queue-now").get_attribute("data-attempt")
        page.click("#queue-next")  # a user gesture: starts the second
        page.wait_for_function("() => { const p = document.getElementById('queue-player');"
                               " return p.currentTime > 0.2 && !p.paused; }")
        second = page.locator("#queue-now").get_attribute("data-attempt")
        # it plays to the end and the third starts without a click
        expect(page.locator("#queue-now")).not_to_have_attribute("data-attempt", second or "", timeout=10_000)
        third = page.locator("#queue-now").get_attribute("data-attempt")
        page.wait_for_function("() => document.getElementById('queue-player').currentTime > 0.1")
        page.screenshot(path=screenshot_dir / "report-attempts-explorer.png", full_page=True)

        # and the CSV of the same filter holds those three attempts with their outcome and recording link
        with page.expect_download() as download:
            page.click("#attempts-csv")
        body = Path(download.value.path()).read_text(encoding="utf-8")
        context.close()
        browser.close()

    assert errors == []
    assert len({first, second, third}) == 3
    assert {int(x) for x in (first, second, third) if x} == {ids["yes1"], ids["yes2"], ids["no1"]}
    rows = list(csv.DictReader(io.StringIO(body)))
    assert sorted(int(r["attempt"]) for r in rows) == sorted([ids["yes1"], ids["yes2"], ids["no1"]])
    by_id = {int(r["attempt"]): r for r in rows}
    assert by_id[ids["no1"]]["outcome"] == "not_interested"
    assert by_id[ids["no1"]]["recording_url"].endswith(f"/report/attempts/{ids['no1']}/recording/")
    assert "caller: no thanks, not for me" in by_id[ids["no1"]]["transcript"]
    assert (by_id[ids["no1"]]["cost"], by_id[ids["no1"]]["currency"]) == ("0.0050", "USD")

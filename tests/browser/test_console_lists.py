"""The operator's list pages at 1440x900 with the navigation sidebar open (D1): no table needs a horizontal
scroll, and the columns an operator works from are on screen."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import sync_playwright

from campaigns.choices import AttemptState, ContactStatus, Disposition, ImportStatus
from campaigns.models import CallAttempt, ImportJob
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in
from tests.factories import CallerIDFactory, CampaignFactory, ContactFactory, DoNotCallFactory, TrunkFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1440, "height": 900}

# page -> column headers that must be fully visible without scrolling
LISTS = {
    "campaign": ("/admin/campaigns/campaign/", ["Status", "Contacts", "Report"]),
    "attempt": ("/admin/campaigns/callattempt/", ["Disposition", "Outcome", "Cost"]),
    "contact": ("/admin/campaigns/contact/", ["Status", "Next attempt", "Outcome"]),
    "importjob": ("/admin/campaigns/importjob/", ["Imported", "Invalid", "Do not call"]),
    "trunk": ("/admin/telephony/trunk/", ["Max channels", "Enabled"]),
    "dnc": ("/admin/campaigns/donotcall/", ["Scope"]),
}

MEASURE = r"""() => {
  const table = document.querySelector('#result_list');
  const box = table.closest('.results') || table.parentElement;
  const heads = Array.from(table.querySelectorAll('thead th')).map(th => {
    const r = th.getBoundingClientRect();
    return {text: th.textContent.replace(/\s+/g, ' ').trim(), right: r.right};
  });
  return {tableWidth: table.scrollWidth, boxWidth: box.clientWidth,
          viewport: document.documentElement.clientWidth, heads: heads,
          sidebarOpen: document.querySelector('#main').classList.contains('shifted')};
}"""


def _fill() -> None:
    """A realistic row on each list: long names, a finished attempt with outcome and cost."""
    trunk = TrunkFactory(name="carrier-east-primary-sip-trunk", cost_per_minute=Decimal("0.0100"))
    CallerIDFactory(trunk=trunk, label="Main office line")
    campaign = CampaignFactory(name="Policy renewals, December, east coast customers", trunk=trunk)
    contact = ContactFactory(campaign=campaign, name="Alexandra Montgomery-Whitfield", status=ContactStatus.DONE,
                             next_attempt_at=timezone.now() + dt.timedelta(hours=3), outcome="not_interested")
    now = timezone.now()
    CallAttempt.objects.create(
        campaign=campaign, contact=contact, state=AttemptState.ENDED, disposition=Disposition.HUMAN,
        sip_code=200, answered_at=now - dt.timedelta(seconds=40), ended_at=now, outcome="not_interested",
        cost=Decimal("0.0067"), amd_result="human")
    ImportJob.objects.create(campaign=campaign, original_name="december-renewals-east-coast.csv",
                             status=ImportStatus.COMPLETED, rows_total=62, rows_done=62, imported=56, duplicates=1,
                             invalid=1, dnc=4)
    DoNotCallFactory(note="asked on the phone not to be called again")


def test_lists_fit_at_1440_with_the_sidebar_open(live_server: object, screenshot_dir: Path) -> None:
    # given one realistic row on every operator list
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    _fill()
    base_url = live_server.url  # type: ignore[attr-defined]
    overflowing: dict[str, str] = {}

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(20_000)
        log_in(page, base_url, "operator", "op-pass-123")
        # when the operator opens each list
        for name, (path, needed) in LISTS.items():
            page.goto(base_url + path)
            page.screenshot(path=screenshot_dir / f"list-{name}-1440.png")
            m = page.evaluate(MEASURE)
            assert m["sidebarOpen"], name
            # then the table fits its box, and every key column ends inside the window
            if m["tableWidth"] > m["boxWidth"] + 1:
                overflowing[name] = f"table {m['tableWidth']} px in a {m['boxWidth']} px box"
            rights = {h["text"]: h["right"] for h in m["heads"]}
            for header in needed:
                right = next((r for text, r in rights.items() if text.startswith(header)), None)
                assert right is not None, (name, header, list(rights))
                if right > m["viewport"]:
                    overflowing.setdefault(name, f"{header} ends at {right:.0f} px")
        browser.close()
    assert overflowing == {}, overflowing

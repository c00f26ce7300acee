"""The do-not-call list in a browser: add a number, upload a list, search."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright

from campaigns.choices import ContactStatus
from campaigns.models import Contact, DoNotCall
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in
from tests.factories import ContactFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operator_adds_uploads_and_searches_numbers(live_server: object, celery_worker: subprocess.Popen[str],
                                                    tmp_path: Path, screenshot_dir: Path) -> None:
    # given a contact waiting to be called and a list of numbers to block
    User.objects.create_superuser("operator", "op@example.com", "op-pass-123")
    waiting = ContactFactory(phone_e164="+12125550123")
    upload = tmp_path / "blocked.csv"
    upload.write_text("number\n2125550140\n2125550141\nnot-a-number\n", encoding="utf-8")
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(20_000)
        log_in(page, base_url, "operator", "op-pass-123", "/admin/campaigns/donotcall/")

        # when the operator adds the waiting contact's number as typed on a note
        page.click(".object-tools a.addlink")
        page.fill("#id_phone_e164", "(212) 555-0123")
        page.fill("#id_note", "asked by email")
        page.click("input[name=_save]")
        expect(page.locator("#result_list")).to_contain_text("+12125550123")

        # and uploads a list
        page.click("#upload-dnc")
        page.set_input_files("#id_file", str(upload))
        page.click("input[type=submit][value=Upload]")
        # a worker adds the list; the job's page reloads itself until it has
        expect(page.locator("#dnc-added")).to_have_text("2", timeout=30_000)
        expect(page.locator("#dnc-result")).to_contain_text("not-a-number")
        page.screenshot(path=screenshot_dir / "dnc-upload-result.png", full_page=True)

        # and searches in national format
        page.goto(f"{base_url}/admin/campaigns/donotcall/")
        page.fill("#searchbar", "212-555-0141")
        page.press("#searchbar", "Enter")
        expect(page.locator("#result_list tbody tr")).to_have_count(1)
        expect(page.locator("#result_list")).to_contain_text("+12125550141")
        browser.close()

    # then the entries exist and the waiting contact will not be dialed
    assert set(DoNotCall.objects.values_list("phone_e164", flat=True)) == {
        "+12125550123", "+12125550140", "+12125550141"
    }
    assert Contact.objects.get(pk=waiting.pk).status == ContactStatus.DNC

"""The contact import, as an operator does it in a real browser: upload, preview, confirm, watch, download."""

from __future__ import annotations

import csv
import io
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from playwright.sync_api import Browser, expect, sync_playwright

from campaigns.choices import ContactStatus, ImportStatus
from campaigns.models import Campaign, Contact, ImportJob
from tests.browser.conftest import CHROMIUM_ARGS, chromium_path, log_in
from tests.factories import CampaignFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

USERNAME, PASSWORD = "operator", "op-pass-123"
# Three good rows, a duplicate of the first and two numbers that are not numbers.
CONTACTS_CSV = (
    "Phone,Name,Plan,Renewal date\n"
    "+12125550101,Ann Lee,gold,2026-12-01\n"
    "(212) 555-0102,Bob Stone,silver,2026-12-02\n"
    "212.555.0103,Cy Young,gold,2026-12-03\n"
    "hello,Dee Bad,gold,2026-12-04\n"
    "12,Eve Short,bronze,2026-12-05\n"
    "+1 212 555 0101,Ann Again,gold,2026-12-01\n"
)


def _operator() -> None:
    User.objects.create_superuser(USERNAME, "operator@example.com", PASSWORD)


def _launch(playwright: object) -> Browser:
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)  # type: ignore[attr-defined]


def test_operator_imports_contacts_and_downloads_the_error_report(
    live_server: object, celery_worker: subprocess.Popen[str], tmp_path: Path, screenshot_dir: Path
) -> None:
    # given an operator, a campaign and a CSV with good and bad rows
    _operator()
    campaign: Campaign = CampaignFactory(name="Renewals")
    upload = tmp_path / "renewals.csv"
    upload.write_text(CONTACTS_CSV, encoding="utf-8")
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        browser = _launch(playwright)
        page = browser.new_page(accept_downloads=True, viewport={"width": 1280, "height": 900})
        page.set_default_timeout(20_000)

        # when the operator opens the campaign and uploads the file
        log_in(page, base_url, USERNAME, PASSWORD, f"/admin/campaigns/campaign/{campaign.pk}/change/")
        page.click("#upload-contacts")
        page.set_input_files("#id_file", str(upload))
        page.screenshot(path=screenshot_dir / "import-1-upload.png", full_page=True)
        page.click("input[name=_upload]")

        # then the preview shows the detected columns and the first rows
        mapping = page.locator("#mapping")
        expect(mapping).to_contain_text("phone number")
        expect(mapping).to_contain_text("{{plan}}")
        expect(mapping).to_contain_text("{{renewal_date}}")
        expect(page.locator("#preview-rows tbody tr")).to_have_count(6)
        page.screenshot(path=screenshot_dir / "import-2-preview.png", full_page=True)

        # when the operator confirms, the worker imports while the page polls for progress
        page.click("#confirm-import")
        expect(page.locator("#import-progress")).to_be_visible()
        page.screenshot(path=screenshot_dir / "import-3-progress.png", full_page=True)
        expect(page.locator("#import-counts")).to_be_visible(timeout=60_000)

        # then the counts and the error report link are on the page
        expect(page.locator("#count-imported")).to_have_text("3")
        expect(page.locator("#count-invalid")).to_have_text("2")
        expect(page.locator("#count-duplicates")).to_have_text("1")
        expect(page.locator("#rows-done")).to_have_text("6")
        link = page.locator("#error-report-download")
        expect(link).to_be_visible()
        page.screenshot(path=screenshot_dir / "import-4-done.png", full_page=True)
        with page.expect_download() as download_info:
            link.click()
        report_path = download_info.value.path()
        report = list(csv.reader(io.StringIO(Path(report_path).read_text(encoding="utf-8-sig"))))
        browser.close()

    # and the report names the bad lines with their raw values and reasons
    bad_lines = {(row[0], row[1]) for row in report[1:]}
    assert {("5", "hello"), ("6", "12")} <= bad_lines
    assert all(row[2] for row in report[1:])
    # and the contacts are in the campaign, dialable
    job = ImportJob.objects.get(campaign=campaign)
    assert job.status == ImportStatus.COMPLETED
    assert set(Contact.objects.filter(campaign=campaign).values_list("phone_e164", "status")) == {
        ("+12125550101", ContactStatus.PENDING),
        ("+12125550102", ContactStatus.PENDING),
        ("+12125550103", ContactStatus.PENDING),
    }


def test_an_unusable_file_is_refused_with_a_clear_message(
    live_server: object, tmp_path: Path, screenshot_dir: Path
) -> None:
    # given a CSV without any phone column
    _operator()
    campaign: Campaign = CampaignFactory()
    upload = tmp_path / "people.csv"
    upload.write_text("name,email\nAnn,ann@example.com\n", encoding="utf-8")
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        browser = _launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(20_000)
        log_in(page, base_url, USERNAME, PASSWORD, f"/admin/campaigns/campaign/{campaign.pk}/import/")

        # when the operator uploads it
        page.set_input_files("#id_file", str(upload))
        page.click("input[name=_upload]")

        # then the upload page says what is wrong and nothing is stored
        error = page.locator(".field-file .errorlist")
        expect(error).to_be_visible()
        expect(error).to_contain_text("phone", ignore_case=True)
        page.screenshot(path=screenshot_dir / "import-bad-file.png", full_page=True)
        browser.close()

    assert not ImportJob.objects.exists()


def _in_thread(work: Callable[[], None]) -> None:
    """Run ORM work outside the thread Playwright's event loop runs in (Django refuses it there)."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)


def test_job_page_follows_the_worker_without_a_reload_by_the_operator(
    live_server: object, screenshot_dir: Path
) -> None:
    # given an import the worker is running
    _operator()
    campaign: Campaign = CampaignFactory()
    job = ImportJob.objects.create(campaign=campaign, file="imports/x.csv", original_name="x.csv",
                                   status=ImportStatus.RUNNING, rows_total=10, rows_done=2)
    base_url = live_server.url  # type: ignore[attr-defined]

    with sync_playwright() as playwright:
        browser = _launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(20_000)
        log_in(page, base_url, USERNAME, PASSWORD, f"/admin/campaigns/importjob/{job.pk}/change/")
        expect(page.locator("#rows-done")).to_have_text("2")
        page.evaluate("window.sameDocument = true")  # a reload would clear it

        # when the worker advances, the numbers change in place
        _in_thread(lambda: ImportJob.objects.filter(pk=job.pk).update(rows_done=7))
        expect(page.locator("#rows-done")).to_have_text("7")
        assert page.evaluate("window.sameDocument === true")
        expect(page.locator("#import-counts")).to_have_count(0)

        # and when it finishes, the page shows the counts
        _in_thread(lambda: ImportJob.objects.filter(pk=job.pk).update(
            status=ImportStatus.COMPLETED, rows_done=10, imported=8, invalid=2))
        expect(page.locator("#count-imported")).to_have_text("8")
        expect(page.locator("#count-invalid")).to_have_text("2")
        page.screenshot(path=screenshot_dir / "import-followed.png", full_page=True)
        browser.close()

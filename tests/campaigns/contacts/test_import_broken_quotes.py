"""Contact import of files with stray quotes: no row is silently lost, the preview and the report name the lines."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from campaigns.choices import ImportStatus
from campaigns.contacts.imports import import_contacts_file, preview_csv
from campaigns.contacts.imports import pipeline as import_pipeline
from campaigns.models import Contact, ImportJob
from tests.factories import CampaignFactory, DoNotCallFactory

pytestmark = pytest.mark.django_db

HEADER = "phone,name,height,note"


def _rows(count: int = 10) -> list[str]:
    """``count`` good rows; row ``r`` (1-based) is on line ``r + 1`` of the file."""
    return [f"21255501{r:02d},Person {r},5 ft {r} in,ok" for r in range(1, count + 1)]


def _with_height(row: str, height: str) -> str:
    phone, name, _, note = row.split(",")
    return f"{phone},{name},{height},{note}"


def _write(tmp_path: Path, rows: list[str], name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _report(job: ImportJob) -> list[list[str]]:
    with job.error_report.open("rb") as fh:
        return list(csv.reader(io.StringIO(fh.read().decode("utf-8"))))[1:]


def _data_lines(path: Path) -> int:
    """The data records the file holds: its non-blank physical lines after the header."""
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines()[1:] if line.strip(' ,"'))


def _total(job: ImportJob) -> int:
    return job.imported + job.duplicates + job.invalid + job.dnc


@pytest.mark.parametrize("closer", ['6"w', "5'10\""], ids=["closed-mid-field", "closed-by-an-inch-mark"])
@pytest.mark.parametrize("later", [1, 2, 3, 4, 5])
def test_stray_quote_closed_some_lines_later_reports_every_line_it_took(tmp_path: Path, later: int,
                                                                        closer: str) -> None:
    # given 10 rows; row 2 (line 3) opens a quote that a quote in row 2 + later closes
    rows = _rows()
    rows[1] = _with_height(rows[1], '"5 ft')
    rows[1 + later] = _with_height(rows[1 + later], closer)
    path = _write(tmp_path, rows)
    last = 3 + later
    # when
    job = import_contacts_file(CampaignFactory(), path)
    # then the rows outside the glued lines are imported, each glued line is reported
    assert job.status == ImportStatus.COMPLETED
    assert (job.imported, job.duplicates, job.invalid, job.dnc) == (10 - later - 1, 0, later + 1, 0)
    reason = (f"Lines 3-{last}: a quote opened in line 3 is closed only in line {last}, so these lines were read "
              "as one record; check the quotes")
    assert _report(job) == [[str(line), rows[line - 2], reason] for line in range(3, last + 1)]
    imported = set(Contact.objects.values_list("phone_e164", flat=True))
    assert imported == {f"+121255501{r:02d}" for r in range(1, 11) if not 2 <= r <= 2 + later}


def test_quote_that_never_closes_in_a_small_file_reports_the_rest_of_the_file(tmp_path: Path) -> None:
    # given a quote opened in row 4 (line 5) and no quote after it
    rows = _rows()
    rows[3] = _with_height(rows[3], '"5 ft')
    path = _write(tmp_path, rows)
    # when
    job = import_contacts_file(CampaignFactory(), path)
    # then
    assert (job.status, job.imported, job.invalid) == (ImportStatus.COMPLETED, 3, 7)
    report = _report(job)
    assert [line for line, _, _ in report] == [str(n) for n in range(5, 12)]
    assert {reason for _, _, reason in report} == {
        "Lines 5-11: a quote opened in line 5 is never closed, so these lines were read as one record; "
        "check the quotes"}


def test_quote_in_the_middle_of_a_field_loses_no_row(tmp_path: Path) -> None:
    # given inch marks inside fields, unquoted and inside a quoted field on one line
    rows = _rows()
    rows[2] = _with_height(rows[2], '5" 10')
    rows[4] = _with_height(rows[4], '"6" tall"')
    rows[6] = _with_height(rows[6], '6"')
    path = _write(tmp_path, rows)
    # when
    job = import_contacts_file(CampaignFactory(), path)
    # then every row is imported, the unquoted inch marks as written
    assert (job.imported, job.invalid) == (10, 0)
    heights = dict(Contact.objects.values_list("phone_e164", "variables__height"))
    assert (heights["+12125550103"], heights["+12125550107"]) == ('5" 10', '6"')
    assert preview_csv(path, "US").problems == []


def test_quoted_multi_line_address_is_still_one_row(tmp_path: Path) -> None:
    # given quoted addresses over two and three lines, one with commas, CRLF in one
    path = tmp_path / "addresses.csv"
    path.write_bytes(b'phone,name,address\n'
                     b'2125550101,Ann,"12 Main St\nApt 4"\n'
                     b'2125550102,Bob,"1 Elm Rd\nSuite 4, Springfield, IL"\n'
                     b'2125550103,Cy,"PO Box 9\r\nStation B\r\nRiverside, CA"\r\n'
                     b'2125550104,Di,"7 Oak Ave"\n')
    # when
    preview = preview_csv(path, "US")
    job = import_contacts_file(CampaignFactory(), path)
    # then
    assert (preview.problems, len(preview.rows)) == ([], 4)
    assert (job.imported, job.invalid) == (4, 0)
    addresses = dict(Contact.objects.values_list("phone_e164", "variables__address"))
    assert addresses["+12125550101"] == "12 Main St\nApt 4"
    assert addresses["+12125550102"] == "1 Elm Rd\nSuite 4, Springfield, IL"
    assert not job.error_report


def test_two_column_address_with_a_comma_is_still_one_row(tmp_path: Path) -> None:
    # a continuation line splitting in two like a row would, but with no phone number first
    path = tmp_path / "two.csv"
    path.write_bytes(b'phone,address\n2125550101,"12 Main St\nSpringfield, IL"\n2125550102,"x"\n')
    job = import_contacts_file(CampaignFactory(), path)
    assert (job.imported, job.invalid) == (2, 0)


@pytest.mark.parametrize("pool", [False, True], ids=["in-process", "worker-pool"])
def test_every_data_line_is_counted_once_even_with_broken_quotes(tmp_path: Path, settings: Any, monkeypatch: Any,
                                                                 pool: bool) -> None:
    # given glued lines across chunks (a blank line among them), a duplicate, a bad number, a do-not-call
    if pool:
        monkeypatch.setattr(import_pipeline, "_POOL_MIN_ROWS", 0)
    settings.IMPORT_BATCH_SIZE = 3
    campaign = CampaignFactory()
    DoNotCallFactory(phone_e164="+12125550112")
    rows = _rows(14)
    rows[1] = _with_height(rows[1], '"5 ft')
    rows[3] = ""
    rows[5] = _with_height(rows[5], '6"w')
    rows[8] = rows[0]
    rows[9] = "not a number,Bad,,"
    rows[13] = _with_height(rows[13], '"open again')
    path = _write(tmp_path, [*rows, _rows(15)[14]])
    # when
    job = import_contacts_file(campaign, path)
    # then imported + duplicates + invalid + do-not-call = the data lines of the file
    assert _total(job) == _data_lines(path) == 14
    assert (job.imported, job.duplicates, job.invalid, job.dnc, job.rows_done) == (5, 1, 7, 1, 14)
    assert [int(line) for line, _, _ in _report(job)] == [3, 4, 6, 7, 10, 11, 13, 15, 16]


def test_preview_lists_the_broken_lines_before_anything_is_imported(tmp_path: Path) -> None:
    # given a quote opened in line 3, closed in line 6
    rows = _rows()
    rows[1] = _with_height(rows[1], '"5 ft')
    rows[4] = _with_height(rows[4], '6"w')
    path = _write(tmp_path, rows)
    # when
    preview = preview_csv(path, "US")
    # then
    assert preview.problems == ["Lines 3-6: a quote opened in line 3 is closed only in line 6, so these lines were "
                                "read as one record; check the quotes"]
    assert (preview.problems_total, preview.problem_lines) == (1, 4)
    assert [row["phone"] for row in preview.rows] == [f"21255501{r:02d}" for r in (1, 6, 7, 8, 9, 10)]
    assert not Contact.objects.exists()


def test_preview_page_shows_the_broken_lines(admin_client: Client) -> None:
    # given an upload whose row 2 opens a quote closed in row 5
    rows = _rows()
    rows[1] = _with_height(rows[1], '"5 ft')
    rows[4] = _with_height(rows[4], '6"w')
    upload = SimpleUploadedFile("stray.csv", ("\n".join([HEADER, *rows]) + "\n").encode(), content_type="text/csv")
    campaign = CampaignFactory()
    admin_client.post(reverse("admin:campaigns_campaign_import", args=[campaign.pk]),
                      {"file": upload, "default_region": "US"})
    job = ImportJob.objects.get(campaign=campaign)
    # when
    page = admin_client.get(reverse("admin:campaigns_importjob_preview", args=[job.pk]))
    # then
    body = " ".join(page.content.decode().split())
    assert 'id="preview-problems"' in body
    assert "Broken quotes: 4 lines in 1 place will be reported as invalid, not imported" in body
    assert "Lines 3-6: a quote opened in line 3 is closed only in line 6" in body
    assert 'id="confirm-import"' in body  # the rest of the file can still be imported


def test_preview_warns_of_a_file_that_cannot_be_read_past_a_line(tmp_path: Path) -> None:
    # given a quote that never closes and more than the csv field limit after it, past the first rows
    path = tmp_path / "broken.csv"
    good = b"".join(b"21255501%02d,ok\n" % i for i in range(12))
    path.write_bytes(b"phone,note\n" + good + b'2125550199,"never closed\n' + b"x" * (1 << 20) + b"\n")
    preview = preview_csv(path, "US")
    assert preview.read_error.startswith("Line 14: the file cannot be read as CSV past this point")
    assert len(preview.rows) == 10

"""Files expire and leave with their rows (audit F14); uploads have size limits (F15)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.choices import AttemptState, ImportStatus
from campaigns.models import CallAttempt, DncUpload, ImportJob
from campaigns.retention import purge_expired_files
from tests.factories import CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db


def _job(days_ago: int) -> ImportJob:
    job = ImportJob.objects.create(campaign=CampaignFactory(), file=ContentFile(b"phone\n+12125550100\n", name="c.csv"),
                                   status=ImportStatus.COMPLETED, finished_at=timezone.now() - timedelta(days=days_ago))
    job.error_report.save("errors.csv", ContentFile(b"line,value,reason\n"))
    return job


def _attempt(recordings: Path, days_ago: int, name: str) -> CallAttempt:
    contact = ContactFactory()
    (recordings / name).write_bytes(b"RIFF")
    return CallAttempt.objects.create(campaign=contact.campaign, contact=contact, state=AttemptState.ENDED,
                                      ended_at=timezone.now() - timedelta(days=days_ago), recording=name)


@pytest.fixture
def recordings(settings: Any, tmp_path: Path) -> Path:
    settings.RECORDINGS_ROOT = tmp_path
    settings.RETENTION_UPLOAD_DAYS = 30
    settings.RETENTION_ERROR_REPORT_DAYS = 60
    settings.RETENTION_RECORDING_DAYS = 90
    return tmp_path


def test_files_past_their_retention_are_deleted_and_newer_ones_kept(recordings: Path) -> None:
    # given an import finished 45 days ago, one finished yesterday, and recordings of 100 and 10 days ago
    old, new = _job(45), _job(1)
    old_upload, old_report = Path(old.file.path), Path(old.error_report.path)
    old_call, new_call = _attempt(recordings, 100, "old.wav"), _attempt(recordings, 10, "new.wav")
    # when the retention task runs
    purged = purge_expired_files()
    # then the old upload is gone (30 days), its report kept (60 days), the old recording gone (90 days)
    assert (purged.uploads, purged.error_reports, purged.recordings) == (1, 0, 1)
    assert not old_upload.exists()
    assert old_report.exists()
    old.refresh_from_db()
    assert not old.file
    assert old.error_report
    assert Path(new.file.path).exists()
    assert not (recordings / "old.wav").exists()
    assert (recordings / "new.wav").exists()
    assert CallAttempt.objects.get(pk=old_call.pk).recording == ""
    assert CallAttempt.objects.get(pk=new_call.pk).recording == "new.wav"


def test_a_do_not_call_list_left_by_a_job_that_never_finished_expires(recordings: Path) -> None:
    job = DncUpload.objects.create(file=ContentFile(b"phone\n", name="dnc.csv"))
    DncUpload.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(days=31))
    path = Path(job.file.path)
    assert purge_expired_files().uploads == 1
    assert not path.exists()
    assert not DncUpload.objects.get(pk=job.pk).file


def test_deleting_an_import_deletes_its_files(django_capture_on_commit_callbacks: Any) -> None:
    job = _job(0)
    upload, report = Path(job.file.path), Path(job.error_report.path)
    with django_capture_on_commit_callbacks(execute=True):
        job.delete()
    assert not upload.exists()
    assert not report.exists()


def test_a_do_not_call_upload_over_its_limit_is_refused(admin_client: Client, settings: Any) -> None:
    settings.DNC_UPLOAD_MAX_BYTES = 1_000_000
    big = ContentFile(b"phone\n" + b"+12125550100\n" * 100_000, name="dnc.csv")
    response = admin_client.post(reverse("admin:campaigns_donotcall_upload"), {"file": big, "default_region": "US"})
    assert response.status_code == 200
    assert "larger than 1 MB" in str(response.context["form"].errors["file"])


def test_an_upload_past_the_global_cap_is_cut_off_while_it_streams(admin_client: Client, settings: Any) -> None:
    settings.UPLOAD_MAX_BYTES = 100_000
    big = ContentFile(b"phone\n" + b"+12125550100\n" * 100_000, name="dnc.csv")
    response = admin_client.post(reverse("admin:campaigns_donotcall_upload"), {"file": big, "default_region": "US"})
    # the handler stopped the upload: the form never received a file
    assert "file" in response.context["form"].errors
    assert "required" in str(response.context["form"].errors["file"]).lower()

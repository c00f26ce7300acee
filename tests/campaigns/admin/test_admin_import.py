"""The admin import pages: upload, preview, confirm, progress, error report (server side, no browser)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from campaigns.choices import ImportStatus
from campaigns.contacts.imports import run_import_job
from campaigns.models import Contact, ImportJob
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db

GOOD_AND_BAD = (
    b"phone,name,plan\n"
    b"+12125550101,Ann,gold\n"
    b"2125550102,Bob,silver\n"
    b"not a number,Cy,gold\n"
)


def _upload(client: Client, campaign: Any, content: bytes = GOOD_AND_BAD, name: str = "admin-upload.csv") -> Any:
    return client.post(reverse("admin:campaigns_campaign_import", args=[campaign.pk]),
                       {"file": SimpleUploadedFile(name, content, content_type="text/csv"), "default_region": "US"})


def test_upload_page_offers_the_campaigns_region(admin_client: Client) -> None:
    campaign = CampaignFactory(default_region="GB")

    response = admin_client.get(reverse("admin:campaigns_campaign_import", args=[campaign.pk]))

    assert response.status_code == 200
    assert response.context["form"]["default_region"].value() == "GB"


def test_upload_stores_a_preview_and_shows_the_mapping(admin_client: Client) -> None:
    campaign = CampaignFactory()

    response = _upload(admin_client, campaign)

    job = ImportJob.objects.get(campaign=campaign)
    assert job.status == ImportStatus.PREVIEW
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:campaigns_importjob_preview", args=[job.pk])
    preview = admin_client.get(response["Location"])
    assert preview.status_code == 200
    assert ("phone", "phone number") in preview.context["roles"]
    assert ("plan", "{{plan}}") in preview.context["roles"]
    assert preview.context["rows"][0] == ["+12125550101", "Ann", "gold"]
    assert not Contact.objects.exists()  # nothing imported before confirmation


def test_unusable_file_is_refused_on_the_upload_page(admin_client: Client) -> None:
    campaign = CampaignFactory()

    response = _upload(admin_client, campaign, b"name,email\nAnn,ann@example.com\n")

    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not ImportJob.objects.exists()


def test_wrong_extension_is_refused(admin_client: Client) -> None:
    response = _upload(admin_client, CampaignFactory(), b"\x89PNG....", name="photo.png")

    assert response.status_code == 200
    assert "extension" in str(response.context["form"].errors["file"])


def test_confirm_queues_the_import_and_enqueues_the_task_on_commit(
    admin_client: Client, django_capture_on_commit_callbacks: Any, redis_client: Any
) -> None:
    campaign = CampaignFactory()
    _upload(admin_client, campaign)
    job = ImportJob.objects.get()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(reverse("admin:campaigns_importjob_preview", args=[job.pk]), {"confirm": "1"})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:campaigns_importjob_change", args=[job.pk])
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    assert len(callbacks) == 1
    assert redis_client.llen("bulk") == 1  # the message waits for a bulk worker (F10: not on the dial queue)
    assert redis_client.llen("celery") == 0


def test_finished_import_page_shows_counts_and_error_report(admin_client: Client) -> None:
    # given a confirmed import that the worker has run
    campaign = CampaignFactory()
    _upload(admin_client, campaign)
    job = ImportJob.objects.get()
    admin_client.post(reverse("admin:campaigns_importjob_preview", args=[job.pk]), {"confirm": "1"})
    run_import_job(job.pk)

    # when the operator opens the job and its progress endpoint
    page = admin_client.get(reverse("admin:campaigns_importjob_change", args=[job.pk]))
    progress = admin_client.get(reverse("admin:campaigns_importjob_progress", args=[job.pk])).json()
    report = admin_client.get(reverse("admin:campaigns_importjob_errors", args=[job.pk]))

    # then
    body = page.content.decode()
    assert 'id="count-imported">2<' in body
    assert 'id="count-invalid">1<' in body
    assert reverse("admin:campaigns_importjob_errors", args=[job.pk]) in body
    assert "<script>" not in body  # finished: no more polling
    assert progress["finished"] is True
    assert (progress["rows_done"], progress["rows_total"], progress["imported"]) == (3, 3, 2)
    assert report.status_code == 200
    assert report["Content-Disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode("utf-8-sig"))))
    assert rows[1][:2] == ["4", "not a number"]
    assert rows[1][2]


def test_running_import_page_polls_for_progress(admin_client: Client) -> None:
    campaign = CampaignFactory()
    _upload(admin_client, campaign)
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, rows_total=10, rows_done=4)

    page = admin_client.get(reverse("admin:campaigns_importjob_change", args=[job.pk]))

    body = page.content.decode()
    assert reverse("admin:campaigns_importjob_progress", args=[job.pk]) in body
    assert "<script>" in body
    assert 'id="rows-done">4<' in body
    assert "http://" not in body.split("<script>")[1].split("</script>")[0]  # no external assets


def test_discard_removes_the_preview(admin_client: Client) -> None:
    campaign = CampaignFactory()
    _upload(admin_client, campaign)
    job = ImportJob.objects.get()

    response = admin_client.post(reverse("admin:campaigns_importjob_preview", args=[job.pk]), {"discard": "1"})

    assert response.status_code == 302
    assert not ImportJob.objects.exists()


def test_preview_of_a_confirmed_job_goes_to_its_page(admin_client: Client) -> None:
    campaign = CampaignFactory()
    _upload(admin_client, campaign)
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)

    response = admin_client.post(reverse("admin:campaigns_importjob_preview", args=[job.pk]), {"confirm": "1"})

    assert response["Location"] == reverse("admin:campaigns_importjob_change", args=[job.pk])


def test_job_without_errors_has_no_report_to_download(admin_client: Client) -> None:
    campaign = CampaignFactory()
    _upload(admin_client, campaign, b"phone\n+12125550101\n")
    job = ImportJob.objects.get()
    admin_client.post(reverse("admin:campaigns_importjob_preview", args=[job.pk]), {"confirm": "1"})
    run_import_job(job.pk)

    response = admin_client.get(reverse("admin:campaigns_importjob_errors", args=[job.pk]))

    assert response.status_code == 404


def test_staff_without_campaign_permission_cannot_import(client: Client) -> None:
    user = User.objects.create_user("viewer", password="pw-12345678", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client.force_login(user)
    campaign = CampaignFactory()

    response = _upload(client, campaign)

    assert response.status_code == 403
    assert not ImportJob.objects.exists()


def test_failed_import_page_says_why(admin_client: Client) -> None:
    campaign = CampaignFactory()
    _upload(admin_client, campaign)
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.FAILED, rows_done=1,
                                               error="Line 3: the file cannot be read as CSV past this point")

    page = admin_client.get(reverse("admin:campaigns_importjob_change", args=[job.pk]))

    body = page.content.decode()
    assert "Line 3: the file cannot be read as CSV past this point" in body
    assert "<script>" not in body


def test_import_list_links_to_the_error_report(admin_client: Client) -> None:
    campaign = CampaignFactory()
    _upload(admin_client, campaign)
    job = ImportJob.objects.get()
    admin_client.post(reverse("admin:campaigns_importjob_preview", args=[job.pk]), {"confirm": "1"})
    run_import_job(job.pk)

    response = admin_client.get(reverse("admin:campaigns_importjob_changelist"))

    assert reverse("admin:campaigns_importjob_errors", args=[job.pk]) in response.content.decode()

"""Attempts with their transcript (and a recording URL only for those allowed), CSV uploads as import jobs, and
keys issued in the admin (shown once)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from api.keys import digest_of
from api.models import ApiKey, IdempotencyRecord
from api.tasks import purge_idempotency
from campaigns.contacts.imports.services import run_import_job
from campaigns.models import CallAttempt, Contact
from tests.api.conftest import ApiClient
from tests.factories import CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db


def test_attempt_detail_has_the_transcript_and_the_recording_only_for_listeners(
        make_client: Callable[..., ApiClient]) -> None:
    contact = ContactFactory()
    attempt = CallAttempt.objects.create(
        campaign=contact.campaign, contact=contact, state="ended", disposition="human", recording="r/1.wav",
        ended_at=timezone.now(),
        transcript=[{"speaker": "callee", "text": "Yes please", "start_ms": 0, "end_ms": 900}])
    reader = make_client("campaigns.view_callattempt")
    listener = make_client("campaigns.view_callattempt", "campaigns.listen_recording")
    body = reader.get(f"/api/v1/attempts/{attempt.pk}").json()
    assert body["transcript"][0]["text"] == "Yes please"
    assert body["recording_url"] is None
    url = listener.get(f"/api/v1/attempts/{attempt.pk}").json()["recording_url"]
    assert url.endswith(f"/{contact.campaign_id}/report/attempts/{attempt.pk}/recording/")
    # a key that may only view campaigns reads no conversation (F4)
    assert make_client("campaigns.view_campaign").get(f"/api/v1/attempts/{attempt.pk}").status_code == 403
    listed = reader.get("/api/v1/attempts", campaign_id=contact.campaign_id, disposition="human").json()
    assert [a["id"] for a in listed["items"]] == [attempt.pk]
    assert "transcript" not in listed["items"][0]


def test_a_csv_upload_is_an_import_job_with_progress(api_client: ApiClient, redis_client: object) -> None:
    campaign = CampaignFactory()
    upload = SimpleUploadedFile("leads.csv", b"phone,name,plan\n+12125550100,Ann,gold\nnope,Bob,x\n",
                                content_type="text/csv")
    response = api_client.client.post(f"/api/v1/campaigns/{campaign.pk}/imports", {"file": upload},
                                      headers={"Authorization": f"Bearer {api_client.secret}"})
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    assert response.json()["status"] == "queued"
    run_import_job(job_id)  # what the worker's task does
    job = api_client.get(f"/api/v1/imports/{job_id}").json()
    assert (job["status"], job["rows_done"], job["imported"], job["invalid"]) == ("completed", 2, 1, 1)
    assert Contact.objects.get(campaign=campaign).variables == {"plan": "gold"}


def test_the_admin_shows_a_new_key_once_and_stores_its_digest() -> None:
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    response = admin.post("/admin/api/apikey/add/", {"name": "CRM", "rate_per_minute": 100}, follow=True)
    assert response.status_code == 200
    [message] = [str(m) for m in response.context["messages"] if "not shown again" in str(m)]
    secret = message.rsplit(" ", 1)[1]
    key = ApiKey.objects.get()
    assert key.digest == digest_of(secret)
    assert secret not in admin.get(f"/admin/api/apikey/{key.pk}/change/").content.decode()


def test_stored_idempotent_responses_expire_after_a_day(api_client: ApiClient) -> None:
    campaign = CampaignFactory()
    headers = {"Idempotency-Key": "k1"}
    assert api_client.post(f"/api/v1/campaigns/{campaign.pk}/pause", headers=headers).status_code == 409
    assert api_client.post(f"/api/v1/campaigns/{campaign.pk}/pause", headers=headers)["Idempotent-Replayed"] == "true"
    IdempotencyRecord.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    purge_idempotency()
    assert not IdempotencyRecord.objects.exists()
    assert not api_client.post(f"/api/v1/campaigns/{campaign.pk}/pause", headers=headers).has_header(
        "Idempotent-Replayed")

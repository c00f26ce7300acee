"""API keys: stored hashed, refused when unknown, revoked or expired; permissions from groups; rate limits;
every write audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone

from api.keys import issue_api_key, revoke_api_key
from api.models import ApiKey, AuditEntry
from tests.api.conftest import ApiClient, group_with
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def test_the_key_is_stored_only_as_a_digest(redis_client: object) -> None:
    issued = issue_api_key("crm")
    row = ApiKey.objects.get(pk=issued.key.pk)
    assert issued.secret not in (row.digest, row.prefix, row.name)
    assert issued.secret.split("_")[2] not in row.digest
    assert ApiClient(issued.secret).get("/api/v1/campaigns").status_code == 403  # known key, no permission


@pytest.mark.parametrize("secret", ["", "nope", "ce_00000000_wrong"])
def test_an_unknown_key_gets_401_as_problem_details(redis_client: object, secret: str) -> None:
    response = ApiClient(secret).get("/api/v1/campaigns")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/unauthenticated")


def test_a_revoked_or_expired_key_is_refused(redis_client: object) -> None:
    group = group_with("campaigns.view_campaign")
    revoked = issue_api_key("old", groups=[group])
    expired = issue_api_key("temp", groups=[group], expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert ApiClient(revoked.secret).get("/api/v1/campaigns").status_code == 200
    assert revoke_api_key(revoked.key.pk)
    assert ApiClient(revoked.secret).get("/api/v1/campaigns").status_code == 401
    assert ApiClient(expired.secret).get("/api/v1/campaigns").status_code == 401


def test_last_used_is_recorded(make_client: Callable[..., ApiClient]) -> None:
    client = make_client("campaigns.view_campaign")
    assert ApiKey.objects.get().last_used_at is None
    client.get("/api/v1/campaigns")
    assert ApiKey.objects.get().last_used_at is not None


def test_a_key_without_the_permission_is_refused_and_names_it(make_client: Callable[..., ApiClient]) -> None:
    # given a key that may read campaigns but not start them
    campaign = CampaignFactory()
    client = make_client("campaigns.view_campaign")
    # when it tries to start one
    response = client.post(f"/api/v1/campaigns/{campaign.pk}/start")
    # then it is refused, and nothing changed
    assert response.status_code == 403
    assert response.json()["permission"] == "campaigns.change_campaign"
    campaign.refresh_from_db()
    assert campaign.status == "draft"
    assert client.get(f"/api/v1/campaigns/{campaign.pk}").status_code == 200


def test_the_per_key_rate_limit_answers_429_with_retry_after(make_client: Callable[..., ApiClient]) -> None:
    client = make_client("campaigns.view_campaign", rate_per_minute=3)
    codes = [client.get("/api/v1/campaigns").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.get("/api/v1/campaigns")
    assert 1 <= int(response["Retry-After"]) <= 60
    # another key has its own budget
    assert make_client("campaigns.view_campaign").get("/api/v1/campaigns").status_code == 200


def test_every_write_is_audited_reads_are_not(api_client: ApiClient) -> None:
    campaign = CampaignFactory()
    api_client.get(f"/api/v1/campaigns/{campaign.pk}")
    api_client.post(f"/api/v1/campaigns/{campaign.pk}/pause")  # refused: a draft cannot be paused
    entries = list(AuditEntry.objects.all())
    assert [(e.method, e.path, e.status_code) for e in entries] == [
        ("POST", f"/api/v1/campaigns/{campaign.pk}/pause", 409)]
    assert entries[0].api_key_id is not None

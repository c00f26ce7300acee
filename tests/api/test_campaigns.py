"""Campaign resources: create, read with a version, update only with the current version, lifecycle, report,
pagination, and the catalogue without secrets."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign
from tests.api.conftest import ApiClient
from tests.factories import AgentProfileFactory, CallerIDFactory, CampaignFactory, TrunkFactory

pytestmark = pytest.mark.django_db


def test_create_then_read_carries_the_etag(api_client: ApiClient) -> None:
    agent, trunk = AgentProfileFactory(), TrunkFactory()
    caller = CallerIDFactory(trunk=trunk)
    response = api_client.post("/api/v1/campaigns", {"name": "Renewals", "agent_id": agent.pk, "trunk_id": trunk.pk,
                                                     "caller_id_ids": [caller.pk], "max_concurrent": 3})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft"
    assert body["caller_id_ids"] == [caller.pk]
    assert body["max_concurrent"] == 3
    read = api_client.get(f"/api/v1/campaigns/{body['id']}")
    assert read["ETag"] == body["version"] == read.json()["version"]


def test_create_refuses_invalid_fields_naming_them(api_client: ApiClient) -> None:
    agent, trunk = AgentProfileFactory(), TrunkFactory()
    response = api_client.post("/api/v1/campaigns", {"name": "x", "agent_id": agent.pk, "trunk_id": trunk.pk,
                                                     "window_start": "21:00", "window_end": "09:00"})
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"]
    missing = api_client.post("/api/v1/campaigns", {"name": "x", "agent_id": agent.pk, "trunk_id": 999999})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "body.trunk_id"
    assert not Campaign.objects.exists()


def test_an_update_needs_the_current_version_and_a_stale_one_is_refused(api_client: ApiClient) -> None:
    campaign = CampaignFactory(max_concurrent=5)
    version = api_client.get(f"/api/v1/campaigns/{campaign.pk}").json()["version"]
    assert api_client.patch(f"/api/v1/campaigns/{campaign.pk}", {"max_concurrent": 7}).status_code == 428
    # given two clients that read the same version
    first = api_client.patch(f"/api/v1/campaigns/{campaign.pk}", {"max_concurrent": 7}, headers={"If-Match": version})
    second = api_client.patch(f"/api/v1/campaigns/{campaign.pk}", {"max_attempts": 9}, headers={"If-Match": version})
    # then the first wins and the second is told, not silently merged
    assert first.status_code == 200
    assert first.json()["max_concurrent"] == 7
    assert second.status_code == 412
    assert second.json()["current_version"] == first.json()["version"]
    campaign.refresh_from_db()
    assert (campaign.max_concurrent, campaign.max_attempts) == (7, 3)


def test_lifecycle_actions_and_their_refusals(api_client: ApiClient) -> None:
    trunk = TrunkFactory()
    campaign = CampaignFactory(trunk=trunk)
    assert api_client.post(f"/api/v1/campaigns/{campaign.pk}/start").status_code == 409  # no caller ID yet
    campaign.caller_ids.add(CallerIDFactory(trunk=trunk))
    assert api_client.post(f"/api/v1/campaigns/{campaign.pk}/start").json()["status"] == "running"
    assert api_client.post(f"/api/v1/campaigns/{campaign.pk}/pause").json()["status"] == "paused"
    assert api_client.post(f"/api/v1/campaigns/{campaign.pk}/resume").json()["status"] == "running"
    assert api_client.post(f"/api/v1/campaigns/{campaign.pk}/cancel").json()["status"] == "cancelled"
    refused = api_client.post(f"/api/v1/campaigns/{campaign.pk}/resume")
    assert refused.status_code == 409
    assert "cancelled" in refused.json()["detail"]


def test_cursor_pagination_walks_every_campaign_once(api_client: ApiClient) -> None:
    ids = {CampaignFactory().pk for _ in range(7)}
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api_client.get("/api/v1/campaigns", **params).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 7
    assert api_client.get("/api/v1/campaigns", cursor="garbage!").status_code == 400


def test_trunks_never_carry_their_password(api_client: ApiClient) -> None:
    TrunkFactory(username="u", password="s3cret-pass")
    body = api_client.get("/api/v1/trunks").content.decode()
    assert "s3cret-pass" not in body
    assert "password" not in body


def test_the_report_is_json(api_client: ApiClient) -> None:
    campaign = CampaignFactory()
    report = api_client.get(f"/api/v1/campaigns/{campaign.pk}/report")
    assert report.status_code == 200
    assert report.json()["campaign_id"] == campaign.pk
    assert report.json()["contacts_total"] == 0

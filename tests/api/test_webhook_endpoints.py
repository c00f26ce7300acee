"""Webhook endpoints through the API: the secret shown once (create, rotate) and never on a read; the admin's URL
rules; permissions; every write audited; Idempotency-Key on the create."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from api.models import AuditEntry
from tests.api.conftest import ApiClient
from tests.factories import CampaignFactory
from webhooks.models import WebhookEndpoint
from webhooks.signing import signature_header, verify

pytestmark = pytest.mark.django_db

PERMS = ("webhooks.view_webhookendpoint", "webhooks.add_webhookendpoint", "webhooks.change_webhookendpoint",
         "webhooks.delete_webhookendpoint")
URL = "http://127.0.0.1:9/hook"  # loopback http: allowed by the test settings, as in development


@pytest.fixture
def client(make_client: Callable[..., ApiClient]) -> ApiClient:
    return make_client(*PERMS)


def _create(client: ApiClient, **body: object) -> dict[str, object]:
    response = client.post("/api/v1/webhooks", {"url": URL, **body})
    assert response.status_code == 201, response.content
    return dict(response.json())


def test_the_secret_is_shown_on_create_and_never_on_a_read(client: ApiClient) -> None:
    created = _create(client, events=["attempt.ended"], description="crm")
    secret = str(created["secret"])
    assert secret == WebhookEndpoint.objects.get(pk=created["id"]).secret
    for response in (client.get(f"/api/v1/webhooks/{created['id']}"), client.get("/api/v1/webhooks"),
                     client.patch(f"/api/v1/webhooks/{created['id']}", {"description": "other"})):
        assert response.status_code == 200
        assert secret not in response.content.decode()
        assert b'"secret"' not in response.content
    assert client.get(f"/api/v1/webhooks/{created['id']}").json()["events"] == ["attempt.ended"]


def test_rotation_shows_the_new_secret_once_and_both_sign_until_it_ends(client: ApiClient) -> None:
    created = _create(client)
    old = str(created["secret"])
    rotated = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret")
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != old
    assert rotated.json()["rotating"] is True
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    now, body = int(time.time()), b'{"a":1}'
    header = signature_header([endpoint.secret, endpoint.previous_secret], now, body)
    assert verify(header, body, old)
    assert verify(header, body, new)
    read = client.get(f"/api/v1/webhooks/{created['id']}").content.decode()
    assert old not in read
    assert new not in read
    assert client.post(f"/api/v1/webhooks/{created['id']}/end-rotation").json()["rotating"] is False
    endpoint.refresh_from_db()
    assert endpoint.secret == new
    assert endpoint.previous_secret == ""


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", "https://10.0.0.5/hook",
                                 "https://169.254.169.254/latest", "https://user:pw@127.0.0.1/x"])
def test_the_admins_url_rules_apply_on_create_and_update(client: ApiClient, url: str) -> None:
    response = client.post("/api/v1/webhooks", {"url": url})
    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["field"] == "body.payload.url"
    created = _create(client)
    assert client.patch(f"/api/v1/webhooks/{created['id']}", {"url": url}).status_code == 422
    assert WebhookEndpoint.objects.get(pk=created["id"]).url == URL


def test_private_addresses_are_allowed_by_the_setting(client: ApiClient, settings: object) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # type: ignore[attr-defined]
    assert client.post("/api/v1/webhooks", {"url": "https://10.0.0.5/hook"}).status_code == 201


def test_update_delete_and_an_unknown_campaign(client: ApiClient) -> None:
    campaign = CampaignFactory()
    assert client.post("/api/v1/webhooks", {"url": URL, "campaign_id": 10**9}).status_code == 422
    created = _create(client, campaign_id=campaign.pk)
    changed = client.patch(f"/api/v1/webhooks/{created['id']}", {"enabled": False, "events": ["contact.completed"]})
    assert changed.status_code == 200
    assert changed.json()["enabled"] is False
    assert changed.json()["events"] == ["contact.completed"]
    assert changed.json()["campaign_id"] == campaign.pk
    assert client.patch(f"/api/v1/webhooks/{created['id']}", {"events": ["nope"]}).status_code == 422
    assert client.delete(f"/api/v1/webhooks/{created['id']}").status_code == 204
    assert not WebhookEndpoint.objects.filter(pk=created["id"]).exists()
    assert client.get(f"/api/v1/webhooks/{created['id']}").status_code == 404


@pytest.mark.parametrize(("method", "path", "perm"), [
    ("get", "/api/v1/webhooks", "webhooks.view_webhookendpoint"),
    ("post", "/api/v1/webhooks", "webhooks.add_webhookendpoint"),
    ("patch", "/api/v1/webhooks/{id}", "webhooks.change_webhookendpoint"),
    ("delete", "/api/v1/webhooks/{id}", "webhooks.delete_webhookendpoint"),
    ("post", "/api/v1/webhooks/{id}/rotate-secret", "webhooks.change_webhookendpoint"),
])
def test_a_key_without_the_permission_is_refused(client: ApiClient, make_client: Callable[..., ApiClient],
                                                 method: str, path: str, perm: str) -> None:
    created = _create(client)
    others = make_client(*[p for p in PERMS if p != perm])
    target = path.format(id=created["id"])
    response = (others.patch(target, {"description": "x"}) if method == "patch"
                else others.post(target, {"url": URL}) if method == "post" else getattr(others, method)(target))
    assert response.status_code == 403
    assert response.json()["permission"] == perm
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert endpoint.secret == created["secret"]
    assert endpoint.description == ""
    assert WebhookEndpoint.objects.count() == 1


def test_writes_are_audited_and_a_retried_create_makes_one_endpoint(client: ApiClient) -> None:
    headers = {"Idempotency-Key": "hook-1"}
    first = client.post("/api/v1/webhooks", {"url": URL}, headers=headers)
    again = client.post("/api/v1/webhooks", {"url": URL}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert json.loads(first.content) == json.loads(again.content)
    assert WebhookEndpoint.objects.count() == 1
    assert client.post("/api/v1/webhooks", {"url": URL + "2"}, headers=headers).status_code == 409
    client.delete(f"/api/v1/webhooks/{first.json()['id']}")
    entries = [(e.method, e.path, e.status_code, e.replayed) for e in AuditEntry.objects.order_by("id")]
    assert entries[:2] == [("POST", "/api/v1/webhooks", 201, False), ("POST", "/api/v1/webhooks", 201, True)]
    assert ("DELETE", f"/api/v1/webhooks/{first.json()['id']}", 204, False) in entries


def test_a_disabled_endpoint_enabled_through_the_api_sends_again(client: ApiClient) -> None:
    created = _create(client, enabled=False)
    WebhookEndpoint.objects.filter(pk=created["id"]).update(disabled_reason="kept failing")
    enabled = client.patch(f"/api/v1/webhooks/{created['id']}", {"enabled": True}).json()
    assert enabled["enabled"] is True
    assert enabled["disabled_reason"] == ""

"""API test helpers: keys with the permissions a test names, and a client that sends them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from django.contrib.auth.models import Group, Permission
from django.test import Client

from api.keys import issue_api_key


def group_with(*perms: str) -> Group:
    """A group granting ``perms`` (``app_label.codename``)."""
    label = "-".join(p.split(".")[1] for p in perms)[:140]
    group = Group.objects.create(name=f"g-{label}-{Group.objects.count()}")
    for perm in perms:
        app, code = perm.split(".")
        group.permissions.add(Permission.objects.get(content_type__app_label=app, codename=code))
    return group


class ApiClient:
    """Django's test client with a bearer key on every request and JSON bodies."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.client = Client()

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}", **(headers or {})}

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        return self.client.get(path, params, headers=self._headers(headers))

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(path, body if body is not None else {}, content_type="application/json",
                                headers=self._headers(headers))

    def patch(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return self.client.patch(path, body, content_type="application/json", headers=self._headers(headers))

    def delete(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.delete(path, headers=self._headers(headers))


ALL_PERMS = (
    "campaigns.view_campaign", "campaigns.add_campaign", "campaigns.change_campaign", "campaigns.view_agentprofile",
    "telephony.view_trunk", "telephony.view_callerid", "campaigns.add_contact", "campaigns.view_contact",
    "campaigns.add_importjob", "campaigns.view_importjob", "campaigns.view_donotcall", "campaigns.add_donotcall",
    "campaigns.delete_donotcall", "campaigns.view_callattempt", "campaigns.add_callattempt",
    "campaigns.listen_recording", "webhooks.view_webhookendpoint", "webhooks.add_webhookendpoint",
    "webhooks.change_webhookendpoint", "webhooks.delete_webhookendpoint",
)


@pytest.fixture
def make_client(redis_client: redis.Redis) -> Callable[..., ApiClient]:
    """``make_client(*perms, rate_per_minute=...)``: a client whose key's group grants ``perms``."""

    def make(*perms: str, **kwargs: Any) -> ApiClient:
        issued = issue_api_key("test key", groups=[group_with(*perms)] if perms else [], **kwargs)
        return ApiClient(issued.secret)

    return make


@pytest.fixture
def api_client(make_client: Callable[..., ApiClient]) -> ApiClient:
    """A client whose key may do everything the API offers."""
    return make_client(*ALL_PERMS)

"""The API against its own OpenAPI schema (schemathesis): no 5xx, every status, content type, header and body
documented; and the schema and the docs page are served without the network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import schemathesis
from django.contrib.staticfiles import finders
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.keys import issue_api_key
from tests.api.conftest import ALL_PERMS, group_with
from tests.campaigns.dialer_setup import running_campaign
from tests.factories import ContactFactory

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture
def wsgi_requests_keep_the_connection(db: None, redis_client: redis.Redis) -> Iterator[None]:
    # As Django's test client does: a request must not close the test's connection (and its transaction).
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


@pytest.fixture
def secret(db: None) -> str:
    # Some objects for the generated ids to hit, and a key that may do everything (and is never rate limited).
    campaign = running_campaign()
    ContactFactory(campaign=campaign)
    return issue_api_key("fuzz", groups=[group_with(*ALL_PERMS)], rate_per_minute=10**9).secret


# Loaded once at collection: serving the schema reads no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case: schemathesis.Case, secret: str,
                                    wsgi_requests_keep_the_connection: None) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS)


@pytest.mark.django_db
def test_the_schema_and_the_docs_page_need_no_network() -> None:
    client = Client()
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["openapi"].startswith("3.")
    assert "/api/v1/calls" in spec.json()["paths"]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    # every script and stylesheet comes from this server's static files, which exist in the package
    assert "cdn" not in html.lower()
    assert "https://" not in html
    for name in ("ninja/swagger-ui-bundle.js", "ninja/swagger-ui.css", "ninja/swagger-ui-init.js"):
        assert f"/static/{name}" in html
        found = finders.find(name)
        assert found
        assert Path(str(found)).stat().st_size > 0

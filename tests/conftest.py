"""Shared fixtures: real PostgreSQL (pytest-django) and real Redis (a dedicated test database)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

from tests.peers import install_hint, missing_peers, peer_versions


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail the run at once when a required peer program is missing (never skip the tests that need it)."""
    missing = missing_peers()
    if missing and not session.config.option.collectonly:
        names = ", ".join(f"{peer.command} ({peer.used_by})" for peer in missing)
        pytest.exit(f"required test peers are missing: {names}. Install them with: {install_hint(missing)}",
                    returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which independent peers this run used, with their versions."""
    return ["peers: " + "; ".join(peer_versions())]


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """The test Redis database, flushed before and after each test."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()

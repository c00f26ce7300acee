"""Every problem type the API can answer with is described at its ``type`` URI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from api.problem_types import PROBLEM_TYPES

API = Path(__file__).resolve().parents[2] / "api"


def used_slugs() -> set[str]:
    text = "\n".join(p.read_text() for p in API.rglob("*.py"))
    return set(re.findall(r'ApiProblem\(\s*\d{3},\s*"([a-z-]+)"', text)) | set(re.findall(r'_refuse\("([a-z-]+)"',
                                                                                           text))


def test_every_problem_raised_has_a_description() -> None:
    slugs = used_slugs()
    assert {"validation", "do-not-call", "outside-calling-window"} <= slugs
    assert slugs <= set(PROBLEM_TYPES), slugs - set(PROBLEM_TYPES)


@pytest.mark.django_db
def test_problem_type_uris_resolve_without_a_key() -> None:
    client = Client()
    body = client.get("/api/v1/problems/outside-calling-window").json()
    assert body["title"] == "Outside the calling window"
    assert "retry_at" in body["what_to_do"]
    assert client.get("/api/v1/problems/no-such-problem").status_code == 404

"""The trunk check keeps its secrets out of tracebacks and out of its child's environment (audit F6, F1)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from telephony import trunk_check
from telephony.choices import TrunkAuth
from tests.factories import TrunkFactory

pytestmark = pytest.mark.django_db

SECRET = "tb-secret-trunk-pass"


class _Unreadable:
    """A finished child whose output cannot be read: the error is raised in check_trunk's own frame."""

    returncode = 1

    @property
    def stdout(self) -> str:
        raise RuntimeError("output lost")


def test_a_traceback_through_check_trunk_does_not_show_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a digest trunk, and a check whose output cannot be read
    trunk = TrunkFactory(auth_mode=TrunkAuth.DIGEST, username="u", password=SECRET, realm="r")
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: _Unreadable())
    # when the error reaches Django's error reporter (the debug page, the error mail)
    try:
        trunk_check.check_trunk(trunk)
    except RuntimeError:
        html = ExceptionReporter(RequestFactory().get("/"), *sys.exc_info()).get_traceback_html()
    # then the frame is there, its secret-holding locals are not
    assert "check_trunk" in html
    assert SECRET not in html


def test_a_child_that_cannot_start_is_a_result_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    # subprocess.run's frames hold the stdin text (the password): the error must not travel up through them
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    trunk = TrunkFactory(auth_mode=TrunkAuth.DIGEST, username="u", password=SECRET, realm="r")
    result = trunk_check.check_trunk(trunk)
    assert not result.reachable
    assert "could not start" in result.error


def test_the_checks_child_gets_no_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def record(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.update(kwargs["env"])
        return subprocess.CompletedProcess(args, 1, "", "")

    monkeypatch.setenv("DATABASE_URL", "postgres://app:pw@db/prod")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws")
    monkeypatch.setattr(subprocess, "run", record)
    trunk_check.check_trunk(TrunkFactory())
    assert "DATABASE_URL" not in seen
    assert "AWS_SECRET_ACCESS_KEY" not in seen
    assert "PATH" in seen

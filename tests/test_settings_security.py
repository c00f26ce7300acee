"""Settings that keep a deployment safe (audit F6): no process guesses its settings, no default SECRET_KEY outside
the development and test settings, and `check --deploy` is clean on the production settings."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ImproperlyConfigured, ValidationError

import manage
from telephony.ua import process as ua_process
from telephony.ua.supervisor import PoolSettings, UaSupervisor

ROOT = Path(__file__).resolve().parent.parent


def _env(**extra: str) -> dict[str, str]:
    """A clean environment for a child process: no settings module (pytest-django sets one), no Django secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_"))}
    env.update({"PYTHONPATH": str(ROOT), "DATABASE_URL": "postgres://app@db.invalid:5432/ledger"})
    env.update(extra)
    return env


def _production_env(**extra: str) -> dict[str, str]:
    return _env(DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DJANGO_ALLOWED_HOSTS="engine.example.com",
                TRUNK_SECRET_KEYS=Fernet.generate_key().decode(), **extra)


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,  # noqa: S603
                          timeout=120, check=False)


def test_production_refuses_to_start_without_the_trunk_password_keys() -> None:
    # F8: no derived key in production; trunk passwords at rest need keys from the environment
    env = _production_env()
    del env["TRUNK_SECRET_KEYS"]
    done = _run(["manage.py", "check", "--settings=config.settings.production"], env)
    assert done.returncode != 0
    assert "TRUNK_SECRET_KEYS" in done.stderr


def test_check_deploy_on_the_production_settings_is_clean() -> None:
    done = _run(["manage.py", "check", "--deploy", "--settings=config.settings.production"], _production_env())
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi", "config.celery_app"])
def test_servers_and_celery_refuse_to_start_without_a_settings_module(module: str) -> None:
    # E9 of the audit: importing config.wsgi with nothing set gave the local settings, DEBUG on, the public key
    done = _run(["-c", f"import {module}"], _env())
    assert done.returncode != 0
    assert "DJANGO_SETTINGS_MODULE is not set" in done.stderr


def test_the_ua_supervisor_refuses_to_start_workers_without_a_settings_module(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SETTINGS_MODULE"):
        UaSupervisor(PoolSettings(processes=1))
    # and it passes its own on to the workers
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "config.settings.test")
    assert UaSupervisor(PoolSettings(processes=1)).env["DJANGO_SETTINGS_MODULE"] == "config.settings.test"


def test_a_ua_worker_refuses_to_start_without_a_settings_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SETTINGS_MODULE"):
        ua_process.main(["--name", "ua-settings-test", "--sip-port", "1", "--rtp-port", "2"])


def test_manage_py_falls_back_to_local_settings_only_in_a_development_checkout(tmp_path: Path) -> None:
    # a development checkout, DEBUG not switched off: the local settings
    (tmp_path / ".git").mkdir()
    assert manage.fallback_settings_module(["manage.py", "migrate"], {}, tmp_path) == "config.settings.local"
    # settings named by the environment or the command line: no fallback
    named = {"DJANGO_SETTINGS_MODULE": "config.settings.production"}
    assert manage.fallback_settings_module(["manage.py", "migrate"], named, tmp_path) is None
    assert manage.fallback_settings_module(["manage.py", "check", "--settings=x.y"], {}, tmp_path) is None
    assert manage.fallback_settings_module(["manage.py", "check", "--settings", "x.y"], {}, tmp_path) is None
    # DEBUG switched off: somebody means production, so manage.py asks
    with pytest.raises(SystemExit, match="DJANGO_SETTINGS_MODULE"):
        manage.fallback_settings_module(["manage.py", "migrate"], {"DJANGO_DEBUG": "false"}, tmp_path)


def test_manage_py_outside_a_checkout_asks_for_the_settings(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="DJANGO_SETTINGS_MODULE"):
        manage.fallback_settings_module(["manage.py", "migrate"], {}, tmp_path)


def test_only_the_local_and_test_settings_have_a_development_secret_key() -> None:
    code = ("import config.settings.base as base, config.settings.local as local; "
            "print(hasattr(base, 'SECRET_KEY'), bool(local.SECRET_KEY))")
    done = _run(["-c", code], _env(DJANGO_SETTINGS_MODULE="config.settings.local"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
    # and production starts only with a key from the environment
    done = _run(["-c", "import django; django.setup()"], _env(DJANGO_SETTINGS_MODULE="config.settings.production",
                                                             DJANGO_ALLOWED_HOSTS="engine.example.com"))
    assert done.returncode != 0
    assert "DJANGO_SECRET_KEY" in done.stderr


def test_the_command_key_follows_the_production_secret_key() -> None:
    code = "from django.conf import settings; import django; django.setup(); print(settings.UA_COMMAND_KEY.hex())"
    first = _run(["-c", code], _production_env(DJANGO_SETTINGS_MODULE="config.settings.production"))
    second = _run(["-c", code], _production_env(DJANGO_SETTINGS_MODULE="config.settings.production"))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout != second.stdout  # two secret keys, two command keys


def _production_setting(name: str, **extra: str) -> str:
    """``repr`` of one production setting, imported in a child process with ``extra`` in its environment."""
    code = f"from django.conf import settings; print(repr(getattr(settings, {name!r}, None)))"
    done = _run(["-c", code], _production_env(DJANGO_SETTINGS_MODULE="config.settings.production", **extra))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_x_forwarded_proto_is_trusted_only_when_the_deployment_opts_in() -> None:
    # F26: behind a proxy that passes the client's header on, a client could claim HTTPS
    assert _production_setting("SECURE_PROXY_SSL_HEADER") == "None"
    assert _production_setting("SECURE_PROXY_SSL_HEADER", DJANGO_TRUST_X_FORWARDED_PROTO="0") == "None"
    assert _production_setting("SECURE_PROXY_SSL_HEADER", DJANGO_TRUST_X_FORWARDED_PROTO="1") == (
        "('HTTP_X_FORWARDED_PROTO', 'https')")


def test_hsts_lasts_a_year_in_production_unless_the_environment_says_otherwise() -> None:
    assert _production_setting("SECURE_HSTS_SECONDS") == "31536000"
    assert _production_setting("SECURE_HSTS_SECONDS", DJANGO_SECURE_HSTS_SECONDS="3600") == "3600"


@pytest.mark.parametrize("password", ["password", "12345678901", "campaigns-admin"])
def test_passwords_get_djangos_four_standard_checks(password: str) -> None:
    # F24: only the minimum length was checked; "password" passed
    with pytest.raises(ValidationError):
        validate_password(password, User(username="campaigns-admin"))
    validate_password("a long and uncommon passphrase 7", User(username="campaigns-admin"))

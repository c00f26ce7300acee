"""A UA worker's environment is built from an explicit list (audit F1): foreign secrets never reach it."""

from __future__ import annotations

import pytest

from telephony.ua.supervisor import PoolSettings, UaSupervisor
from telephony.ua.worker_env import worker_environment

SUPERVISOR_ENV = {
    "PATH": "/usr/bin", "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": "postgres://db/x",
    "REDIS_URL": "redis://r/1", "TRUNK_SECRET_KEYS": "k1", "UA_BIND_ADDRESS": "127.0.0.1", "AI_OPENAI_HOSTS": "h",
    "OPENAI_API_KEY": "sk-openai", "LC_ALL": "C.UTF-8",
    # what a deployment's shell often holds besides, and a worker never needs
    "AWS_SECRET_ACCESS_KEY": "aws-secret", "GITHUB_TOKEN": "ghp-secret", "STRIPE_API_KEY": "stripe-secret",
    "CELERY_BROKER_URL": "redis://broker/0",
}


def test_only_listed_variables_and_allowed_key_variables_pass() -> None:
    env = worker_environment(SUPERVISOR_ENV)
    assert set(env) == {"PATH", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "TRUNK_SECRET_KEYS",
                        "UA_BIND_ADDRESS", "AI_OPENAI_HOSTS", "OPENAI_API_KEY", "LC_ALL"}


def test_the_key_allow_list_and_the_extra_names_decide_the_rest() -> None:
    env = worker_environment({**SUPERVISOR_ENV, "AI_API_KEY_ENVS": "STRIPE_API_KEY_NOT", "MY_KEY": "m",
                              "UA_WORKER_ENV_EXTRA": "MY_KEY"})
    assert "OPENAI_API_KEY" not in env  # no longer an allowed key name
    assert env["MY_KEY"] == "m"
    assert "STRIPE_API_KEY" not in env


def test_the_supervisor_hands_its_workers_the_built_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SUPERVISOR_ENV.items():
        monkeypatch.setenv(name, value)
    supervisor = UaSupervisor(PoolSettings(processes=1), env={"UA_SPOOL_DIR": "spool-x"})
    assert "AWS_SECRET_ACCESS_KEY" not in supervisor.env
    assert "GITHUB_TOKEN" not in supervisor.env
    assert supervisor.env["UA_SPOOL_DIR"] == "spool-x"
    assert supervisor.env["DATABASE_URL"] == "postgres://db/x"

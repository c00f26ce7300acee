"""Agent profiles name a URL and a key variable the UA pool acts on: both are checked against the deployment's
allow-lists when a profile is saved (audit F1, F7)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from campaigns.models import AgentProfile, default_outcome_schema

pytestmark = pytest.mark.django_db


def _profile(**fields: Any) -> AgentProfile:
    values: dict[str, Any] = {"name": "agent", "provider": "openai_realtime", "prompt_template": "Hello."}
    values.update(fields)
    return AgentProfile(**values)


def _errors(profile: AgentProfile) -> dict[str, list[str]]:
    try:
        profile.full_clean()
    except ValidationError as exc:
        return exc.message_dict
    return {}


def test_a_profile_naming_another_secret_as_its_key_is_refused() -> None:
    errors = _errors(_profile(api_key_env="DATABASE_URL"))
    assert "not an allowed API key variable" in errors["api_key_env"][0]


@pytest.mark.parametrize(("provider", "url"), [
    ("openai_realtime", "ws://attacker.example/v1/realtime"),
    ("openai_realtime", "wss://attacker.example/v1/realtime"),
    ("openai_realtime", "wss://10.0.0.5/v1/realtime"),
    ("gemini_live", "wss://attacker.example/ws"),
    ("twilio_stream", "ws://agents.example.com/stream"),
    ("local", "ws://attacker.example:8765/v1"),
])
def test_a_profile_pointing_outside_the_allowed_hosts_is_refused(provider: str, url: str) -> None:
    assert "url" in _errors(_profile(provider=provider, url=url))


def test_cloud_and_local_profiles_with_defaults_pass() -> None:
    assert _errors(_profile(api_key_env="OPENAI_API_KEY")) == {}
    assert _errors(_profile(provider="gemini_live")) == {}
    assert _errors(_profile(provider="local")) == {}
    twilio = _profile(provider="twilio_stream", url="wss://agents.example.com/s", api_key_env="AGENT_API_KEY")
    assert _errors(twilio) == {}


def test_a_twilio_stream_profile_needs_a_url() -> None:
    assert "url" in _errors(_profile(provider="twilio_stream"))


def test_the_allow_lists_come_from_the_settings(settings: Settings) -> None:
    settings.AI_API_KEY_ENVS = ["ACME_OPENAI_KEY"]
    settings.AI_OPENAI_HOSTS = ["realtime-proxy.example.com"]
    assert _errors(_profile(api_key_env="ACME_OPENAI_KEY", url="wss://realtime-proxy.example.com/v1")) == {}
    assert "api_key_env" in _errors(_profile(api_key_env="OPENAI_API_KEY", url="wss://realtime-proxy.example.com/v1"))
    assert "url" in _errors(_profile(api_key_env="ACME_OPENAI_KEY", url="wss://api.openai.com/v1/realtime"))


def test_a_local_agent_on_another_host_needs_the_shared_token(settings: Settings) -> None:
    settings.LOCAL_AGENT_URL = "ws://agent.internal:8765/v1"
    settings.LOCAL_AGENT_TOKEN = ""
    assert "url" in _errors(_profile(provider="local"))
    settings.LOCAL_AGENT_TOKEN = "shared-token"
    assert _errors(_profile(provider="local")) == {}
    assert "url" in _errors(_profile(provider="local", url="ws://elsewhere.internal:8765/v1"))


def test_the_admin_form_shows_the_refusal_on_the_field(admin_client: Client) -> None:
    # given the agent profile add form, filled as an operator would (E2 of the audit)
    data = {"name": "exfil", "provider": "openai_realtime", "model": "", "voice": "",
            "url": "ws://127.0.0.1:9999/anything", "api_key_env": "DATABASE_URL", "prompt_template": "Hi.",
            "greeting": "", "fallback_message": "Bye.", "max_call_s": "600",
            "outcome_schema": json.dumps(default_outcome_schema())}
    # when it is saved
    response = admin_client.post(reverse("admin:campaigns_agentprofile_add"), data)
    # then nothing is stored and the form says why
    assert response.status_code == 200
    assert not AgentProfile.objects.filter(name="exfil").exists()
    form = response.context["adminform"].form
    assert "url" in form.errors
    # and with an allowed URL, the key variable is refused on its own
    data["url"] = ""
    response = admin_client.post(reverse("admin:campaigns_agentprofile_add"), data)
    assert "api_key_env" in response.context["adminform"].form.errors
    data["api_key_env"] = "OPENAI_API_KEY"
    response = admin_client.post(reverse("admin:campaigns_agentprofile_add"), data)
    assert response.status_code == 302
    assert AgentProfile.objects.filter(name="exfil", api_key_env="OPENAI_API_KEY").exists()

"""The AI agent of a call as the UA pool builds it, and the deployment's endpoint policy from the settings.

`endpoint_policy` is the one builder of `media.endpoints.EndpointPolicy` for both sides: the control plane checks
agent profiles against it when they are saved (`campaigns.models.AgentProfile.clean`), and the UA pool checks
every call's agent against it (`agent_config`, through `media.bridge.config.AgentConfig`). The media library itself
reads no settings.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from media.bridge.config import AgentConfig
from media.endpoints import DEFAULT_HOSTS, DEFAULT_KEY_ENVS, EndpointPolicy
from telephony.contract import AgentSpec


def endpoint_policy(settings: Any = None) -> EndpointPolicy:
    """The allow-lists of this deployment.

    Args:
        settings: an object with the settings as attributes; ``django.conf.settings`` when None.

    Returns:
        Key variables from ``AI_API_KEY_ENVS``; hosts from ``AI_OPENAI_HOSTS``, ``AI_GEMINI_HOSTS``,
        ``AI_TWILIO_STREAM_HOSTS`` and the host of ``LOCAL_AGENT_URL``; ``AI_ALLOW_LOOPBACK_AGENTS``.
    """
    if settings is None:
        from django.conf import settings as django_settings

        settings = django_settings
    local_host = urlsplit(str(getattr(settings, "LOCAL_AGENT_URL", "") or "")).hostname
    return EndpointPolicy(
        key_envs=frozenset(getattr(settings, "AI_API_KEY_ENVS", DEFAULT_KEY_ENVS)),
        hosts={
            "openai_realtime": frozenset(getattr(settings, "AI_OPENAI_HOSTS", DEFAULT_HOSTS["openai_realtime"])),
            "gemini_live": frozenset(getattr(settings, "AI_GEMINI_HOSTS", DEFAULT_HOSTS["gemini_live"])),
            "twilio_stream": frozenset(getattr(settings, "AI_TWILIO_STREAM_HOSTS", ())),
            "local": frozenset([local_host] if local_host else []),
        },
        allow_loopback=bool(getattr(settings, "AI_ALLOW_LOOPBACK_AGENTS", False)),
    )


def agent_config(raw: AgentSpec, local_agent_url: str, policy: EndpointPolicy, local_agent_token: str) -> AgentConfig:
    """The `AgentConfig` of one call from its originate command's agent.

    Args:
        raw: the agent as the command carries it.
        local_agent_url: where provider ``local`` goes when the profile names no URL.
        policy: the allow-lists the URL and key variable must pass.
        local_agent_token: the shared local agent token (``LOCAL_AGENT_TOKEN``).

    Raises:
        ValueError: unusable settings; `media.endpoints.EndpointRefused` when the policy refuses the endpoint.
    """
    url = raw.url
    if raw.provider == "local" and not url:
        url = local_agent_url
    if raw.provider == "local" and url and not url.rstrip("/").split("?")[0].endswith("/realtime"):
        # LOCAL_AGENT_URL is the SDK-style base (".../v1"); the server answers on ".../v1/realtime".
        url = url.rstrip("/") + "/realtime"
    return AgentConfig(
        provider=raw.provider,
        prompt_template=raw.prompt_template,
        outcome_schema=list(raw.outcome_schema or []),
        model=raw.model,
        voice=raw.voice,
        url=url,
        api_key_env=raw.api_key_env,
        greeting=raw.greeting,
        fallback_message=raw.fallback_message,
        policy=policy,
        # F22: the token is for the local agent only; no other provider's host ever sees it.
        token=local_agent_token if raw.provider == "local" else "",
    )

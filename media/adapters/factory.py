"""Choose the adapter for a call from the campaign's AgentProfile provider."""

from __future__ import annotations

from collections.abc import Callable

from media.adapters.base import AdapterEvent, AgentAdapter
from media.adapters.gemini_live import GeminiLiveAdapter
from media.adapters.openai_realtime import OpenAIRealtimeAdapter
from media.adapters.twilio_stream import TwilioStreamAdapter
from media.bridge.config import AgentConfig, BridgeConfig, CallContext

ADAPTERS: dict[str, type[AgentAdapter]] = {
    "openai_realtime": OpenAIRealtimeAdapter,
    "local": OpenAIRealtimeAdapter,  # the embedded agent speaks the OpenAI Realtime protocol
    "gemini_live": GeminiLiveAdapter,
    "twilio_stream": TwilioStreamAdapter,
}


def make_adapter(
    agent: AgentConfig, bridge: BridgeConfig, call: CallContext, emit: Callable[[AdapterEvent], None]
) -> AgentAdapter:
    """Build the adapter for ``agent.provider``.

    Raises:
        ValueError: for a provider without an adapter (AgentConfig validation normally prevents it).
    """
    try:
        cls = ADAPTERS[agent.provider]
    except KeyError:
        raise ValueError(f"no adapter for provider {agent.provider!r}") from None
    return cls(agent, bridge, call, emit)

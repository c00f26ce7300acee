"""Prompt rendering, tool schemas from the outcome schema, and validated bridge configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.models import AgentProfile
from media.bridge.config import AgentConfig, BridgeConfig, CallContext
from media.bridge.prompts import (
    gemini_function_declarations,
    outcome_tool_parameters,
    render_template,
    to_gemini_schema,
    tool_definitions,
)

SCHEMA = [
    {"label": "callback", "description": "Call back later.",
     "fields": [{"name": "when", "type": "datetime", "required": True, "description": "When to call."},
                {"name": "note", "type": "string"}]},
    {"label": "sale", "fields": [{"name": "note", "type": "string", "required": True},
                                 {"name": "amount", "type": "number"}, {"name": "paid", "type": "boolean"},
                                 {"name": "day", "type": "date"}, {"name": "units", "type": "integer"}]},
]


def test_render_template_fills_variables_and_blanks_unknown_ones() -> None:
    text = render_template("Hi {{name}}, {{ balance }} due {{missing}}; {{ {{name}} }}.",
                           {"name": "Ada", "balance": 12.5, "unused": "x"})
    assert text == "Hi Ada, 12.5 due ; {{ Ada }}."


def test_render_template_inserts_values_as_text_without_rendering_them_again() -> None:
    assert render_template("{{a}}", {"a": "{{b}}", "b": "no"}) == "{{b}}"
    assert render_template("{{a}}", {"a": None}) == ""


def test_outcome_tool_has_label_enum_and_typed_fields_shared_across_outcomes() -> None:
    params = outcome_tool_parameters(SCHEMA)
    assert params["required"] == ["label"]
    assert params["properties"]["label"]["enum"] == ["callback", "sale"]
    fields = params["properties"]["fields"]["properties"]
    assert fields == {
        "when": {"type": "string", "format": "date-time",
                 "description": "When to call. Used with: callback (required)."},
        "note": {"type": "string", "description": "Used with: callback, sale (required)."},
        "amount": {"type": "number", "description": "Used with: sale."},
        "paid": {"type": "boolean", "description": "Used with: sale."},
        "day": {"type": "string", "format": "date", "description": "Used with: sale."},
        "units": {"type": "integer", "description": "Used with: sale."},
    }


def test_tools_without_an_outcome_schema_are_end_and_transfer_only() -> None:
    assert [t["name"] for t in tool_definitions([])] == ["end_call", "transfer_call"]
    assert [t["name"] for t in tool_definitions(SCHEMA)] == ["record_outcome", "end_call", "transfer_call"]


def test_gemini_schema_is_the_openapi_subset() -> None:
    converted = to_gemini_schema(outcome_tool_parameters(SCHEMA))
    assert "additionalProperties" not in converted
    fields = converted["properties"]["fields"]["properties"]
    assert fields["day"] == {"type": "STRING", "description": "Used with: sale. Format: date (ISO 8601)."}
    assert fields["when"]["format"] == "date-time"
    assert fields["units"]["type"] == "INTEGER"
    declarations = gemini_function_declarations(tool_definitions(SCHEMA))
    assert [d["name"] for d in declarations] == ["record_outcome", "end_call", "transfer_call"]
    assert set(declarations[0]) == {"name", "description", "parameters"}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"inbound_buffer_ms": 30}, "inbound_buffer_ms"),
    ({"inbound_buffer_ms": 0}, "inbound_buffer_ms"),
    ({"session_timeout_s": 0}, "session_timeout_s"),
    ({"max_bad_events": 0}, "max_bad_events"),
    ({"speech_rms_threshold": -1}, "speech_rms_threshold"),
    ({"end_call_grace_ms": -5}, "end_call_grace_ms"),
])
def test_bad_bridge_config_names_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        BridgeConfig(**kwargs)


def test_bridge_config_takes_a_string_recordings_root(tmp_path: Path) -> None:
    assert BridgeConfig(recordings_root=str(tmp_path)).recordings_root == tmp_path  # type: ignore[arg-type]
    assert BridgeConfig().inbound_buffer_frames == 50


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"provider": "skype"}, "provider"),
    ({"provider": "local", "url": "http://x"}, "url"),
    ({"provider": "local", "outcome_schema": [{"label": "Bad Label"}]}, "outcome_schema"),
])
def test_bad_agent_config_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        AgentConfig(**kwargs)  # type: ignore[arg-type]


def test_agent_config_from_profile_and_provider_defaults() -> None:
    profile = AgentProfile(name="a", provider="gemini_live", prompt_template="Hi {{x}}", voice="",
                           api_key_env="", url="", model="", greeting="Hello",
                           outcome_schema=[{"label": "ok", "fields": []}], fallback_message="Bye.")
    config = AgentConfig.from_profile(profile)
    assert config.provider == "gemini_live"
    assert config.resolved_key_env == "GOOGLE_API_KEY"
    assert config.resolved_voice == "Puck"
    assert config.resolved_url.startswith("wss://generativelanguage.googleapis.com/")
    assert (config.greeting, config.fallback_message) == ("Hello", "Bye.")
    local = AgentConfig(provider="local")
    assert (local.resolved_url, local.resolved_key_env) == ("ws://127.0.0.1:8765/v1/realtime", "")


def test_call_context_validates() -> None:
    with pytest.raises(ValueError, match="attempt_id"):
        CallContext(-1)


def test_the_factory_picks_the_adapter_by_provider() -> None:
    from media.adapters.factory import make_adapter
    from media.adapters.gemini_live import GeminiLiveAdapter
    from media.adapters.openai_realtime import OpenAIRealtimeAdapter
    from media.adapters.twilio_stream import TwilioStreamAdapter

    expected = {"openai_realtime": OpenAIRealtimeAdapter, "local": OpenAIRealtimeAdapter,
                "gemini_live": GeminiLiveAdapter, "twilio_stream": TwilioStreamAdapter}
    for provider, cls in expected.items():
        adapter = make_adapter(AgentConfig(provider=provider), BridgeConfig(), CallContext(1), lambda _e: None)
        assert type(adapter) is cls

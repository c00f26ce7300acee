"""The bridge against the embedded local agent (local_agent), reached through the OpenAI adapter: a whole
call from greeting to outcome and hangup, with speech synthesised for the callee. Every message of the call passes
through a relay that checks it against the OpenAI Realtime protocol, both ways."""

from __future__ import annotations

from local_agent.server import start_in_thread
from media.bridge.config import AgentConfig, BridgeConfig, CallContext
from media.bridge.session import BridgeSession
from media.speech import tts
from tests.media.bridge_harness import (
    SILENCE,
    Clock,
    RecordingControls,
    WsServer,
    free_port,
    media_loop,
    relay,
    wait_for,
)
from tests.media.protocol_check import OPENAI_REALTIME

PROMPT = """You are Sam from Sunny Solar calling {{first_name}}.
Greeting: Hello {{first_name}}, this is Sam from Sunny Solar.
Question: Would you like a free quote?
Closing: Great, we will send it. Goodbye.
"""
SCHEMA = [{"label": "interested", "description": "Wants a quote.", "fields": []},
          {"label": "not_interested", "description": "Declined.", "fields": []}]


def test_a_call_with_the_local_agent_records_the_outcome_and_hangs_up() -> None:
    agent_server = start_in_thread("127.0.0.1", free_port())
    reply = tts.synthesize("yes I would like a free quote", 8000, repeatable=True)
    reply_frames = [reply[i:i + 320].ljust(320, b"\0") for i in range(0, len(reply), 320)]
    state: dict[str, int] = {}
    try:
        with WsServer(relay(f"{agent_server.url}/realtime"), OPENAI_REALTIME) as checked, media_loop() as loop:
            controls = RecordingControls()
            agent = AgentConfig(provider="local", url=checked.url, prompt_template=PROMPT,
                                greeting="Hello {{first_name}}", outcome_schema=SCHEMA)
            session = BridgeSession(agent, CallContext(60, {"first_name": "Ada"}),
                                    BridgeConfig(end_call_grace_ms=300), controls)
            clock: Clock

            def caller(tick: int) -> bytes:
                # The callee answers once the agent's first response is complete (its transcript arrived)
                # and has been played, then 0.6 s of silence: a slow machine may pause between sentences.
                if "reply_tick" not in state:
                    played = clock.agent_frames()
                    if len(session.transcript) and played and tick - played[-1][0] > 30:
                        state["reply_tick"] = tick
                    return SILENCE
                index = tick - state["reply_tick"]
                return reply_frames[index] if index < len(reply_frames) else SILENCE

            clock = Clock(session, caller)
            clock.start()
            future = loop.submit(session)
            try:
                hung_up = wait_for(controls.hung_up.is_set, 60)
                session.request_stop("test over")
                result = future.result(10)
            finally:
                clock.stop()
    finally:
        agent_server.stop()

    assert hung_up, result.transcript
    # then the agent greeted, the callee's answer was understood, the outcome recorded and the call ended
    assert result.disposition is None
    assert result.ended_by == "agent"
    assert (result.outcome, result.outcome_error) == ("interested", "")
    speakers = [segment["speaker"] for segment in result.transcript]
    assert speakers[0] == "agent"
    assert "Sunny Solar" in result.transcript[0]["text"]
    assert "caller" in speakers
    assert speakers[-1] == "agent"
    caller_segment = next(s for s in result.transcript if s["speaker"] == "caller")
    assert "quote" in caller_segment["text"].lower()
    # the caller's segment sits where the reply was played into the call (within the VAD's padding)
    reply_start_ms = state["reply_tick"] * 20
    assert abs(caller_segment["start_ms"] - reply_start_ms) <= 400
    # one response after the callee's turn, measured from the end of their speech
    assert len(result.first_response_ms) == 1
    assert 0 < result.first_response_ms[0] < 10_000
    assert result.usage  # the local agent reports usage on response.done
    # and every message of the call went through the protocol-checking relay, tool results included
    assert checked.received.of("type", "conversation.item.create")
    # and the hangup came only after the agent's last words had been played
    assert controls.hangups[0][0] >= clock.agent_frames()[-1][1]

"""Conformance: the official ``openai`` SDK holds whole conversations with the local agent.

The agent runs in-process on a loopback port; every event it sends is validated against the SDK's own
``RealtimeServerEvent`` types (`tests.media.protocol_check`, shared with the scripted test servers), and the
SDK's ``parse_event`` must give the matching class.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from openai import AsyncOpenAI

from local_agent.config import LocalAgentConfig
from local_agent.server import RunningAgent, start_in_thread
from media.audio import g711
from media.speech import tts
from tests.media.protocol_check import openai_server_event

PORTS = range(*(int(p) for p in os.environ.get("LOCAL_AGENT_TEST_PORTS", "18700-18800").split("-")))
LABELS = ["interested", "not_interested", "callback", "opted_out", "unknown"]
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "record_outcome",
        "description": "Record the outcome of the call.",
        "parameters": {
            "type": "object",
            "properties": {
                "outcome": {"type": "string", "enum": LABELS},
                "callback_date": {"type": "string", "format": "date"},
                "notes": {"type": "string"},
            },
            "required": ["outcome"],
        },
    },
    {
        "type": "function",
        "name": "end_call",
        "description": "Hang up.",
        "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}},
    },
    {
        "type": "function",
        "name": "transfer_call",
        "description": "Transfer to a person.",
        "parameters": {"type": "object", "properties": {}},
    },
]
INSTRUCTIONS = (
    "You are Sam from Sunny Solar. Keep it short.\n"
    "Greeting: Hello Ada, this is Sam from Sunny Solar.\n"
    "Question: Would you like a free quote for solar panels?\n"
)
GREETING = "Hello Ada, this is Sam from Sunny Solar. Would you like a free quote for solar panels?"


def _session(fmt: dict[str, Any], turn_detection: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "type": "realtime",
        "instructions": INSTRUCTIONS,
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": fmt,
                "transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"},
                "turn_detection": turn_detection,
            },
            "output": {"format": fmt, "voice": "marin"},
        },
        "tools": TOOLS,
        "tool_choice": "auto",
    }


SERVER_VAD = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "create_response": True,
    "interrupt_response": True,
}
PCMU = {"type": "audio/pcmu"}
PCMA = {"type": "audio/pcma"}
PCM24 = {"type": "audio/pcm", "rate": 24000}


def _start_agent() -> RunningAgent:
    for port in PORTS:
        try:
            return start_in_thread("127.0.0.1", port, LocalAgentConfig(pace=4.0))
        except OSError:
            continue
    raise RuntimeError(f"no free port in {PORTS}")


@pytest.fixture(scope="module")
def agent() -> Iterator[RunningAgent]:
    running = _start_agent()
    yield running
    running.stop()


class Conversation:
    """The SDK connection plus every event received, each validated against the SDK's types."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.events: list[dict[str, Any]] = []
        self.audio = bytearray()

    async def next(self) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv_bytes(), timeout=30)
        data = json.loads(raw)
        parsed = openai_server_event(raw.decode())  # raises if any field is missing, mistyped or unknown
        assert parsed.type == data["type"]  # type: ignore[attr-defined]
        assert type(self.connection.parse_event(raw)) is type(parsed)
        self.events.append(data)
        if data["type"] == "response.output_audio.delta":
            self.audio += base64.b64decode(data["delta"])
        return data

    async def until(self, kind: str) -> dict[str, Any]:
        while True:
            event = await self.next()
            if event["type"] == kind:
                return event

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    async def speak(self, text: str, fmt: dict[str, Any], silence_ms: int = 1000, lead_ms: int = 300) -> None:
        """Send a pause, eSpeak speech, then silence, in 20 ms frames, as a phone bridge streams them."""
        if fmt["type"] in ("audio/pcmu", "audio/pcma"):
            pcm = b"\0\0" * (8 * lead_ms) + tts.synthesize(text, 8000, repeatable=True) + b"\0\0" * (8 * silence_ms)
            audio = g711.pcm16_to_ulaw(pcm) if fmt["type"] == "audio/pcmu" else g711.pcm16_to_alaw(pcm)
            frame = 160
        else:
            speech = tts.synthesize(text, 24000, repeatable=True)
            audio = b"\0\0" * (24 * lead_ms) + speech + b"\0\0" * (24 * silence_ms)
            frame = 960
        for i in range(0, len(audio), frame):
            await self.connection.input_audio_buffer.append(audio=base64.b64encode(audio[i : i + frame]).decode())

    async def answer_calls(self, done: dict[str, Any]) -> list[dict[str, Any]]:
        """Return every function call's output, then ask for one response (the SDK way)."""
        calls = [item for item in done["response"]["output"] if item["type"] == "function_call"]
        for call in calls:
            await self.connection.conversation.item.create(
                item={"type": "function_call_output", "call_id": call["call_id"], "output": json.dumps({"ok": True})}
            )
        await self.connection.response.create()
        return calls


@asynccontextmanager
async def conversation(agent: RunningAgent, session: dict[str, Any]) -> AsyncIterator[Conversation]:
    client = AsyncOpenAI(api_key="no-key-needed", websocket_base_url=agent.url)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        conv = Conversation(connection)
        created = await conv.next()
        assert created["type"] == "session.created"
        await connection.session.update(session=session)
        updated = await conv.until("session.updated")
        assert updated["session"]["audio"]["input"]["format"] == session["audio"]["input"]["format"]
        yield conv


def _arguments(done: dict[str, Any], name: str) -> dict[str, Any]:
    calls = [i for i in done["response"]["output"] if i["type"] == "function_call" and i["name"] == name]
    assert len(calls) == 1, done["response"]["output"]
    return json.loads(calls[0]["arguments"])


async def _greet(conv: Conversation) -> dict[str, Any]:
    await conv.connection.response.create()
    done = await conv.until("response.done")
    assert conv.of("response.output_audio_transcript.done")[-1]["transcript"] == GREETING
    return done


def test_interested_caller_over_pcmu(agent: RunningAgent) -> None:
    async def scenario() -> None:
        async with conversation(agent, _session(PCMU, SERVER_VAD)) as conv:
            # the agent greets and asks, in mu-law audio faster than real time
            greeting = await _greet(conv)
            assert greeting["response"]["status"] == "completed"
            assert len(conv.audio) > 8000 * 3  # over 3 s of 8 kHz mu-law
            assert len(conv.of("response.output_audio.delta")) > 10
            assert "".join(e["delta"] for e in conv.of("response.output_audio_transcript.delta")) == GREETING
            # the caller answers
            await conv.speak("yes I am interested", PCMU)
            started = await conv.until("input_audio_buffer.speech_started")
            stopped = await conv.until("input_audio_buffer.speech_stopped")
            committed = await conv.until("input_audio_buffer.committed")
            assert started["item_id"] == stopped["item_id"] == committed["item_id"]
            assert 0 <= started["audio_start_ms"] < stopped["audio_end_ms"]
            heard = await conv.until("conversation.item.input_audio_transcription.completed")
            assert heard["item_id"] == committed["item_id"]
            assert heard["transcript"].startswith("yes")
            await conv.connection.send({"type": "conversation.item.retrieve", "item_id": committed["item_id"]})
            retrieved = await conv.until("conversation.item.retrieved")
            assert retrieved["item"]["content"][0]["transcript"] == heard["transcript"]
            # the agent closes and records the outcome
            done = await conv.until("response.done")
            assert done["response"]["status"] == "completed"
            assert done["response"]["usage"]["output_tokens"] > 0
            assert _arguments(done, "record_outcome")["outcome"] == "interested"
            args_done = conv.of("response.function_call_arguments.done")[-1]
            assert args_done["name"] == "record_outcome"
            # the tool output and response.create lead to the hang-up
            await conv.answer_calls(done)
            final = await conv.until("response.done")
            assert _arguments(final, "end_call") == {"reason": "interested"}

    asyncio.run(scenario())


@pytest.mark.parametrize("fmt", [PCMU, PCMA], ids=["pcmu", "pcma"])
def test_opt_out_ends_the_call(agent: RunningAgent, fmt: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with conversation(agent, _session(fmt, SERVER_VAD)) as conv:
            await _greet(conv)
            await conv.speak("please stop calling me", fmt)
            heard = await conv.until("conversation.item.input_audio_transcription.completed")
            done = await conv.until("response.done")
            assert _arguments(done, "record_outcome")["outcome"] == "opted_out", heard["transcript"]
            spoken = conv.of("response.output_audio_transcript.done")[-1]["transcript"]
            assert spoken == "Understood. We will not call you again. Goodbye."
            await conv.answer_calls(done)
            final = await conv.until("response.done")
            assert _arguments(final, "end_call") == {"reason": "opted_out"}

    asyncio.run(scenario())


def test_manual_turns_over_24k_pcm(agent: RunningAgent) -> None:
    async def scenario() -> None:
        async with conversation(agent, _session(PCM24, None)) as conv:
            await _greet(conv)
            assert len(conv.audio) > 24000 * 2 * 3  # over 3 s of 24 kHz PCM16
            # too little audio is refused, like the real service
            await conv.connection.input_audio_buffer.append(audio=base64.b64encode(b"\0\0" * 1200).decode())
            await conv.connection.input_audio_buffer.commit()
            error = await conv.until("error")
            assert error["error"]["code"] == "input_audio_buffer_commit_empty"
            await conv.connection.input_audio_buffer.clear()
            await conv.until("input_audio_buffer.cleared")
            # a whole answer, committed by the client, then a response asked for
            await conv.speak("call me back tomorrow", PCM24, silence_ms=300)
            await conv.connection.input_audio_buffer.commit()
            await conv.until("input_audio_buffer.committed")
            await conv.connection.response.create()
            done = await conv.until("response.done")
            args = _arguments(done, "record_outcome")
            assert args["outcome"] == "callback"
            assert "callback_date" in args
            assert not conv.of("input_audio_buffer.speech_started")  # no VAD in manual mode

    asyncio.run(scenario())


def test_typed_user_message_is_answered(agent: RunningAgent) -> None:
    async def scenario() -> None:
        async with conversation(agent, _session(PCMU, SERVER_VAD)) as conv:
            await _greet(conv)
            await conv.connection.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "remove me from your list"}],
                }
            )
            added = await conv.until("conversation.item.added")
            assert added["item"]["role"] == "user"
            await conv.connection.response.create()
            done = await conv.until("response.done")
            assert _arguments(done, "record_outcome")["outcome"] == "opted_out"

    asyncio.run(scenario())


async def _say_typed(conv: Conversation, text: str) -> dict[str, Any]:
    await conv.connection.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )
    await conv.connection.response.create()
    return await conv.until("response.done")


def _calls(done: dict[str, Any]) -> list[str]:
    return [i["name"] for i in done["response"]["output"] if i["type"] == "function_call"]


def test_a_possible_opt_out_is_confirmed_before_it_is_recorded(agent: RunningAgent) -> None:
    async def scenario() -> None:
        async with conversation(agent, _session(PCMU, SERVER_VAD)) as conv:
            await _greet(conv)
            # given words that may be an opt-out, or a misheard goodbye
            done = await _say_typed(conv, "remove me from week i am from your goodbye")
            # then the agent asks, and records nothing yet
            assert _calls(done) == []
            spoken = conv.of("response.output_audio_transcript.done")[-1]["transcript"]
            assert spoken == "Just to confirm: you want us to stop calling you?"
            # and on a yes the opt-out is recorded
            done = await _say_typed(conv, "yes")
            assert _arguments(done, "record_outcome")["outcome"] == "opted_out"

    asyncio.run(scenario())


@pytest.mark.parametrize("said", ["Who is this? Sorry, I have to go. Goodbye.", "Who is calling me?"])
def test_a_spoken_goodbye_or_question_is_not_an_opt_out(agent: RunningAgent, said: str) -> None:
    async def scenario() -> None:
        async with conversation(agent, _session(PCMU, SERVER_VAD)) as conv:
            await _greet(conv)
            await conv.speak(said, PCMU)
            heard = await conv.until("conversation.item.input_audio_transcription.completed")
            await conv.until("response.done")
            with contextlib.suppress(TimeoutError):  # the turn may have been heard as more than one
                while True:
                    await asyncio.wait_for(conv.next(), timeout=2)
            outcomes = [
                json.loads(item["arguments"]).get("outcome")
                for done in conv.of("response.done")
                for item in done["response"]["output"]
                if item["type"] == "function_call" and item["name"] == "record_outcome"
            ]
            assert "opted_out" not in outcomes, heard["transcript"]

    asyncio.run(scenario())


def test_cancel_and_truncate(agent: RunningAgent) -> None:
    async def scenario() -> None:
        async with conversation(agent, _session(PCMU, SERVER_VAD)) as conv:
            # a second response.create while one is active is refused
            await conv.connection.response.create()
            await conv.until("response.created")
            await conv.connection.response.create()
            error = await conv.until("error")
            assert error["error"]["code"] == "conversation_already_has_active_response"
            # cancel mid-stream
            delta = await conv.until("response.output_audio.delta")
            await conv.connection.response.cancel()
            done = await conv.until("response.done")
            assert done["response"]["status"] == "cancelled"
            assert done["response"]["status_details"]["reason"] == "client_cancelled"
            assert done["response"]["output"][0]["status"] == "incomplete"
            # nothing left to cancel
            await conv.connection.response.cancel()
            error = await conv.until("error")
            assert error["error"]["code"] == "response_cancel_not_active"
            # the bridge reports what was played
            await conv.connection.conversation.item.truncate(item_id=delta["item_id"], content_index=0, audio_end_ms=40)
            truncated = await conv.until("conversation.item.truncated")
            assert (truncated["item_id"], truncated["audio_end_ms"]) == (delta["item_id"], 40)
            await conv.connection.send({"type": "conversation.item.retrieve", "item_id": delta["item_id"]})
            retrieved = await conv.until("conversation.item.retrieved")
            assert len(retrieved["item"]["content"][0]["transcript"]) < len(GREETING)
            await conv.connection.conversation.item.truncate(
                item_id=delta["item_id"], content_index=0, audio_end_ms=999999
            )
            error = await conv.until("error")
            assert error["error"]["param"] == "audio_end_ms"

    asyncio.run(scenario())


def test_an_item_can_be_truncated_while_its_audio_is_streaming(agent: RunningAgent) -> None:
    async def scenario() -> None:
        async with conversation(agent, _session(PCMU, SERVER_VAD)) as conv:
            await conv.connection.response.create()
            delta = await conv.until("response.output_audio.delta")
            # given a client that reports 0 ms heard while the audio is still coming (a caller spoke over it)
            await conv.connection.conversation.item.truncate(item_id=delta["item_id"], content_index=0, audio_end_ms=0)
            # then it is accepted, as the real API accepts it for any item it has added
            truncated = await conv.until("conversation.item.truncated")
            assert (truncated["item_id"], truncated["audio_end_ms"]) == (delta["item_id"], 0)
            assert not conv.of("error")
            # and what was heard stays what the client said once the item is done
            await conv.until("response.done")
            kinds = [e["type"] for e in conv.events]
            assert kinds.index("conversation.item.truncated") < kinds.index("response.output_audio.done")
            await conv.connection.send({"type": "conversation.item.retrieve", "item_id": delta["item_id"]})
            retrieved = await conv.until("conversation.item.retrieved")
            assert retrieved["item"]["content"][0]["transcript"] == ""

    asyncio.run(scenario())


def test_caller_speech_interrupts_the_agent(agent: RunningAgent) -> None:
    async def scenario() -> None:
        async with conversation(agent, _session(PCMU, SERVER_VAD)) as conv:
            await conv.connection.response.create()
            await conv.until("response.output_audio.delta")
            # the caller talks over the greeting
            await conv.speak("hello", PCMU, silence_ms=0, lead_ms=0)
            await conv.until("input_audio_buffer.speech_started")
            done = await conv.until("response.done")
            assert done["response"]["status"] == "cancelled"
            assert done["response"]["status_details"]["reason"] == "turn_detected"

    asyncio.run(scenario())


def test_invalid_session_update_is_an_error_and_changes_nothing(agent: RunningAgent) -> None:
    async def scenario() -> None:
        async with conversation(agent, _session(PCMU, SERVER_VAD)) as conv:
            await conv.connection.send(
                {"type": "session.update", "event_id": "evt_1", "session": {"instructions": "x"}}
            )
            error = await conv.until("error")
            assert error["error"]["code"] == "missing_required_parameter"
            assert error["error"]["event_id"] == "evt_1"
            await conv.connection.send({"type": "session.update", "session": {"type": "realtime", "voice": "ash"}})
            error = await conv.until("error")
            assert error["error"]["code"] == "unknown_parameter"
            bad_rate = {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}
            await conv.connection.send({"type": "session.update", "session": bad_rate})
            error = await conv.until("error")
            assert error["error"]["param"] == "session.audio.input.format.rate"
            # the session still works as configured
            await _greet(conv)

    asyncio.run(scenario())


def test_idle_timeout_prompts_a_silent_caller(agent: RunningAgent) -> None:
    async def scenario() -> None:
        async with conversation(agent, _session(PCMU, {**SERVER_VAD, "idle_timeout_ms": 1000})) as conv:
            await _greet(conv)
            greeting_ms = len(conv.audio) // 8
            # the line stays silent for the greeting's playback and 1.5 s more
            silence = base64.b64encode(g711.silence("pcmu")).decode()
            for _ in range((greeting_ms + 1500) // 20):
                await conv.connection.input_audio_buffer.append(audio=silence)
            timeout = await conv.until("input_audio_buffer.timeout_triggered")
            assert timeout["audio_end_ms"] - timeout["audio_start_ms"] >= 1000
            assert timeout["audio_start_ms"] >= greeting_ms
            done = await conv.until("response.done")
            assert done["response"]["status"] == "completed"
            spoken = conv.of("response.output_audio_transcript.done")[-1]["transcript"]
            assert spoken == "Are you still there? Would you like a free quote for solar panels?"

    asyncio.run(scenario())


def test_text_output_and_out_of_band_response(agent: RunningAgent) -> None:
    async def scenario() -> None:
        session = {**_session(PCMU, SERVER_VAD), "output_modalities": ["text"]}
        async with conversation(agent, session) as conv:
            # an out-of-band response streams text and adds nothing to the conversation
            await conv.connection.response.create(response={"conversation": "none"})
            done = await conv.until("response.done")
            assert done["response"]["conversation_id"] is None
            assert conv.of("response.output_text.done")[-1]["text"] == GREETING
            assert not conv.of("response.output_audio.delta")
            assert not conv.of("conversation.item.added")
            # a user item can be added and deleted
            await conv.connection.conversation.item.create(
                item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
            )
            added = await conv.until("conversation.item.added")
            await conv.connection.conversation.item.delete(item_id=added["item"]["id"])
            deleted = await conv.until("conversation.item.deleted")
            assert deleted["item_id"] == added["item"]["id"]

    asyncio.run(scenario())

"""What the local agent says and does: responses, spoken items (eSpeak NG, streamed as the service streams)
and function calls, following the script's `local_agent.script.Dialogue`."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from local_agent import events as ev
from local_agent.connection import ActiveResponse, AssistantAudio, Connection, rate_of
from local_agent.script import Call, Say
from media.adapters import realtime_events as rt
from media.audio import g711
from media.speech import tts

CHUNK_MS = 100  # audio per response.output_audio.delta
_OPENAI_VOICES_FEMALE = {"marin", "coral", "shimmer", "sage", "ballad", "alloy"}


def encode_audio(fmt: dict[str, Any], pcm: bytes) -> bytes:
    """PCM16 encoded in a session output format."""
    if fmt["type"] == "audio/pcmu":
        return g711.pcm16_to_ulaw(pcm)
    if fmt["type"] == "audio/pcma":
        return g711.pcm16_to_alaw(pcm)
    return pcm


class Responses(Connection):
    """``response.create``/``response.cancel`` and the items a response produces."""

    # ---- responses --------------------------------------------------------------------------------

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        if self._response is not None:
            await self.send_error(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self._response.id}. "
                "Wait until the response is finished before creating a new one.",
                event_id=event.get("event_id"),
            )
            return
        params = event.get("response") or {}
        self._start_response(conversation=params.get("conversation", "auto") != "none")

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        if self._response is None or (wanted and wanted != self._response.id):
            await self.send_error(
                "response_cancel_not_active",
                "Cancellation failed: no active response found",
                event_id=event.get("event_id"),
            )
            return
        self._response.cancel_reason = "client_cancelled"

    def _start_response(self, *, conversation: bool) -> None:
        response = ActiveResponse(ev.new_id("resp"), conversation)
        self._response = response
        self._idle_from_ms = None
        response.task = self._spawn(self._run_response(response), self._turn_tasks)

    def _response_object(self, response: ActiveResponse, status: str, usage: dict[str, Any] | None) -> dict[str, Any]:
        details = None
        if status == "cancelled":
            details = {"type": "cancelled", "reason": response.cancel_reason}
        return {
            "object": "realtime.response",
            "id": response.id,
            "status": status,
            "status_details": details,
            "output": response.output,
            "conversation_id": "conv_local" if response.conversation else None,
            "output_modalities": self.session["output_modalities"],
            "max_output_tokens": self.session["max_output_tokens"],
            "audio": {"output": {"format": self._output_format, "voice": self.session["audio"]["output"]["voice"]}},
            "usage": usage,
            "metadata": None,
        }

    async def _run_response(self, response: ActiveResponse) -> None:
        await self.send(rt.response_created(self._response_object(response, "in_progress", None)))
        text_tokens = 0
        audio_tokens = 0
        audio_ms = 0
        try:
            # The plan needs the caller's last words: wait for turns still being recognised.
            await asyncio.gather(*self._pending_transcriptions, return_exceptions=True)
            actions = [] if response.cancel_reason else self.dialogue.next_response()
            for index, action in enumerate(actions):
                if response.cancel_reason:
                    break
                if isinstance(action, Say):
                    words, said_ms = await self._say(response, index, action.text)
                    text_tokens += words
                    audio_ms += said_ms
                    audio_tokens += said_ms // 50  # about 20 audio tokens/s out
                elif isinstance(action, Call):
                    text_tokens += await self._call(response, index, action)
        finally:
            status = "cancelled" if response.cancel_reason else "completed"
            usage = rt.usage(self._input_text_tokens, self._input_audio_tokens, text_tokens, audio_tokens)
            self._response = None
            if audio_ms and self._vad is not None and not self._vad.in_speech:
                self._idle_from_ms = self._input_ms(self._appended_samples) + audio_ms
            await self.send(rt.response_done(self._response_object(response, status, usage)))

    async def _say(self, response: ActiveResponse, index: int, text: str) -> tuple[int, int]:
        item_id = ev.new_id("item")
        audio_out = self.session["output_modalities"] == ["audio"]
        part_type = "audio" if audio_out else "text"
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        previous = self._items[-1] if self._items else None
        if response.conversation:
            self._items.append(item_id)
        where = rt.ItemRef(response.id, item_id, index)
        if audio_out:
            # Known from `output_item.added` on, as the real service knows it: truncatable before its first audio.
            self._heard_so_far(item_id, text, [], 0)
            self._latest_said = item_id
        await self.send(rt.output_item_added(where, item))
        if response.conversation:  # conversation "none": out-of-band, not added
            await self.send(rt.item_added(item, previous))
        empty_part = {"type": part_type, "transcript": ""} if audio_out else {"type": "text", "text": ""}
        await self.send(rt.content_part_added(where, empty_part))
        words = text.split()
        sent_words: list[str] = []
        audio_ms = 0
        if audio_out:
            audio_ms, sent_words = await self._stream_audio(response, where, text)
        else:
            for word in words:
                if response.cancel_reason:
                    break
                delta = word if not sent_words else f" {word}"
                sent_words.append(word)
                await self.send(rt.output_text_delta(where, delta))
        spoken = " ".join(sent_words)
        if audio_out and response.cancel_reason:
            # Cancelled (the caller spoke, or the client cancelled): the caller heard at most what was sent, and
            # when nothing was, the bridge had nothing to truncate, so no truncate will say it.
            self.dialogue.cut_off(text, spoken)
        if audio_out:
            await self.send(rt.output_audio_done(where))
            await self.send(rt.output_audio_transcript_done(where, spoken))
            part = {"type": "audio", "transcript": spoken}
            self._heard_so_far(item_id, text, sent_words, audio_ms)
            # The conversation keeps what the caller heard when the client truncated the item while it streamed.
            content = {"type": "output_audio", "transcript": self._assistant_audio[item_id].transcript}
        else:
            await self.send(rt.output_text_done(where, spoken))
            part = {"type": "text", "text": spoken}
            content = {"type": "output_text", "text": spoken}
        await self.send(rt.content_part_done(where, part))
        done_item = {**item, "status": "incomplete" if response.cancel_reason else "completed", "content": [content]}
        response.output.append(done_item)
        await self.send(rt.output_item_done(where, done_item))
        if response.conversation:
            await self.send(rt.item_done(done_item, previous))
            self._store[item_id] = done_item
        return len(sent_words), audio_ms

    def _heard_so_far(self, item_id: str, said: str, words: list[str], audio_ms: int) -> None:
        """Record how much of an assistant audio item has been sent, unless the client has truncated it.

        Why while streaming: the real API knows an item from ``output_item.added`` on, so a client may truncate it
        at any moment of its audio (a caller who speaks over the greeting); before, such a truncate was refused
        until the item was complete.
        """
        current = self._assistant_audio.get(item_id)
        if current is None or not current.truncated:
            self._assistant_audio[item_id] = AssistantAudio(" ".join(words), audio_ms, said)

    async def _stream_audio(
        self, response: ActiveResponse, where: rt.ItemRef, text: str
    ) -> tuple[int, list[str]]:
        words = text.split()
        fmt = self._output_format
        rate = rate_of(fmt)
        out = self.session["audio"]["output"]
        voice_name = "en-us+f3" if str(out.get("voice")) in _OPENAI_VOICES_FEMALE else "en-us"
        wpm = min(450, max(80, round(self.server.config.words_per_minute * float(out.get("speed", 1.0)))))
        voice = tts.Voice(voice_name, words_per_minute=wpm)
        loop = asyncio.get_running_loop()
        pcm = await loop.run_in_executor(self.server.executor, tts.synthesize, " ".join(words), rate, voice)
        encoded = encode_audio(fmt, pcm)
        bytes_per_ms = (rate // 1000) * (1 if fmt["type"] != "audio/pcm" else 2)
        chunk = CHUNK_MS * bytes_per_ms
        chunks = [encoded[i : i + chunk] for i in range(0, len(encoded), chunk)] or [b""]
        sent_words: list[str] = []
        sent_bytes = 0
        pace = self.server.config.pace
        for n, piece in enumerate(chunks, start=1):
            if response.cancel_reason:
                break
            # Transcript deltas keep pace with the audio: the words due by the end of this chunk.
            due = round(len(words) * n / len(chunks))
            for word in words[len(sent_words) : due]:
                delta = word if not sent_words else f" {word}"
                sent_words.append(word)
                await self.send(rt.output_audio_transcript_delta(where, delta))
            if piece:
                sent_bytes += len(piece)
                self._heard_so_far(where.item_id, text, sent_words, sent_bytes // bytes_per_ms)
                await self.send(rt.output_audio_delta(where, base64.b64encode(piece).decode()))
            if pace > 0:
                await asyncio.sleep(len(piece) / bytes_per_ms / 1000 / pace)
        return sent_bytes // bytes_per_ms, sent_words

    async def _call(self, response: ActiveResponse, index: int, action: Call) -> int:
        item_id = ev.new_id("item")
        call_id = ev.new_id("call")
        self._calls[call_id] = action.name
        arguments = json.dumps(action.arguments)
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": action.name,
            "call_id": call_id,
            "arguments": "",
        }
        previous = self._items[-1] if self._items else None
        if response.conversation:
            self._items.append(item_id)
        where = rt.ItemRef(response.id, item_id, index, call_id)
        await self.send(rt.output_item_added(where, item))
        if response.conversation:  # conversation "none": out-of-band, not added
            await self.send(rt.item_added(item, previous))
        await self.send(rt.function_call_arguments_delta(where, arguments))
        await self.send(rt.function_call_arguments_done(where, action.name, arguments))
        done_item = {**item, "status": "completed", "arguments": arguments}
        response.output.append(done_item)
        await self.send(rt.output_item_done(where, done_item))
        if response.conversation:
            await self.send(rt.item_done(done_item, previous))
            self._store[item_id] = done_item
        return len(arguments) // 4

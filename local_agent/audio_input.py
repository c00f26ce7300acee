"""The input audio of a local agent connection: the buffer, turn detection, commits and recognition.

``input_audio_buffer.append`` feeds the buffer and the energy VAD (``server_vad``); a turn that ends (or a
client ``commit``, or an ``idle_timeout_ms``) becomes a user item, recognised in the thread pool, and (with
``create_response``) answered.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
from typing import Any

from local_agent import events as ev
from local_agent.connection import Connection, rate_of
from media.adapters import realtime_events as rt
from media.audio import g711
from media.audio.vad import VadEventKind

logger = logging.getLogger(__name__)

MIN_COMMIT_MS = 100  # the real service refuses to commit less ("Expected at least 100ms")
MAX_BUFFER_MS = 300_000


def decode_audio(fmt: dict[str, Any], data: bytes) -> bytes:
    """PCM16 from audio in a session input format."""
    if fmt["type"] == "audio/pcmu":
        return g711.ulaw_to_pcm16(data)
    if fmt["type"] == "audio/pcma":
        return g711.alaw_to_pcm16(data)
    return data[: len(data) - len(data) % 2]


class AudioInput(Connection):
    """The ``input_audio_buffer.*`` events and what becomes of the caller's audio."""

    # ---- input audio ------------------------------------------------------------------------------

    async def _on_append(self, event: dict[str, Any]) -> None:
        try:
            raw = base64.b64decode(event.get("audio", ""), validate=True)
        except (binascii.Error, TypeError):
            await self.send_error(
                "invalid_value", "audio must be base64.", param="audio", event_id=event.get("event_id")
            )
            return
        pcm = decode_audio(self._input_format, raw)
        self._buffer += pcm
        self._appended_samples += len(pcm) // 2
        self._cap_buffer()
        if self._vad is None:
            return
        for vad_event in self._vad.feed(pcm):
            if vad_event.kind is VadEventKind.SPEECH_STARTED:
                await self._speech_started(vad_event.ms)
            else:
                await self._speech_stopped(vad_event.ms)
        if not self._vad.in_speech:
            self._trim_buffer()
            await self._check_idle_timeout()

    async def _check_idle_timeout(self) -> None:
        """``idle_timeout_ms``: prompt the caller when they stay silent after the agent's audio has played.

        Time is the clock of appended audio (a phone bridge streams continuously, silence included), and
        playback is assumed to start when the response is done, as the real service assumes.
        """
        td = self._turn_detection or {}
        timeout = td.get("idle_timeout_ms")
        if not timeout or self._idle_from_ms is None or self._response is not None:
            return
        now_ms = self._input_ms(self._appended_samples)
        if now_ms < self._idle_from_ms + timeout:
            return
        item_id = ev.new_id("item")
        await self.send(rt.timeout_triggered(int(self._idle_from_ms), int(now_ms), item_id))
        self._idle_from_ms = None
        pcm = bytes(self._buffer)
        self._buffer.clear()
        self._buffer_start_ms = now_ms
        await self._commit(item_id, pcm, auto_response=True)

    def _trim_buffer(self) -> None:
        """Outside speech only the prefix padding can still become part of a turn."""
        td = self._turn_detection or {}
        keep_ms = int(td.get("prefix_padding_ms", 300)) + 200
        rate = rate_of(self._input_format)
        keep_bytes = keep_ms * rate // 1000 * 2
        excess = len(self._buffer) - keep_bytes
        if excess > 0:
            del self._buffer[:excess]
            self._buffer_start_ms += self._input_ms(excess // 2)

    def _cap_buffer(self) -> None:
        """Bound memory: a client that never commits (or a turn that never ends) keeps the last 5 minutes."""
        limit = MAX_BUFFER_MS * rate_of(self._input_format) // 1000 * 2
        excess = len(self._buffer) - limit
        if excess > 0:
            del self._buffer[:excess]
            self._buffer_start_ms += self._input_ms(excess // 2)

    def _cut_buffer(self, start_ms: float, end_ms: float) -> bytes:
        rate = rate_of(self._input_format)
        start = max(0, int((start_ms - self._buffer_start_ms) * rate / 1000)) * 2
        end = max(0, int((end_ms - self._buffer_start_ms) * rate / 1000)) * 2
        segment = bytes(self._buffer[start:end])
        del self._buffer[:end]
        self._buffer_start_ms = max(self._buffer_start_ms, end_ms)
        return segment

    async def _speech_started(self, start_ms: int) -> None:
        self._idle_from_ms = None
        self._speech_item = ev.new_id("item")
        self._speech_start_ms = start_ms
        await self.send(rt.speech_started(start_ms, self._speech_item))
        td = self._turn_detection or {}
        if self._response is not None and td.get("interrupt_response", True):
            self._response.cancel_reason = "turn_detected"

    async def _speech_stopped(self, end_ms: int) -> None:
        item_id = self._speech_item or ev.new_id("item")
        self._speech_item = None
        await self.send(rt.speech_stopped(end_ms, item_id))
        pcm = self._cut_buffer(self._speech_start_ms, end_ms)
        td = self._turn_detection or {}
        await self._commit(item_id, pcm, auto_response=bool(td.get("create_response", True)))

    async def _on_commit(self, event: dict[str, Any]) -> None:
        rate = rate_of(self._input_format)
        if len(self._buffer) // 2 * 1000 < MIN_COMMIT_MS * rate:
            ms = len(self._buffer) // 2 * 1000 // rate
            await self.send_error(
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS}ms "
                f"of audio, but buffer only has {ms}ms of audio.",
                event_id=event.get("event_id"),
            )
            return
        pcm = bytes(self._buffer)
        self._buffer.clear()
        self._buffer_start_ms = self._input_ms(self._appended_samples)
        item_id = self._speech_item or ev.new_id("item")
        self._speech_item = None
        if self._vad is not None:
            self._vad.reset()
        await self._commit(item_id, pcm, auto_response=False)

    async def _on_clear(self, event: dict[str, Any]) -> None:
        self._buffer.clear()
        self._buffer_start_ms = self._input_ms(self._appended_samples)
        self._speech_item = None
        if self._vad is not None:
            self._vad.reset()
        await self.send(rt.cleared())

    async def _commit(self, item_id: str, pcm: bytes, *, auto_response: bool) -> None:
        previous = self._items[-1] if self._items else None
        self._items.append(item_id)
        await self.send(rt.committed(item_id, previous))
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        await self.send(rt.item_added(item, previous))
        await self.send(rt.item_done(item, previous))
        self._store[item_id] = item
        self._input_audio_tokens += int(self._input_ms(len(pcm) // 2) // 100)  # about 10 audio tokens/s in
        task = self._spawn(self._transcribe(item_id, pcm), self._pending_transcriptions)
        if auto_response:
            self._spawn(self._respond_after(task), self._turn_tasks)

    async def _transcribe(self, item_id: str, pcm: bytes) -> None:
        rate = rate_of(self._input_format)
        transcriber = self._transcriber_for_script()
        loop = asyncio.get_running_loop()
        # Recognition is CPU-bound: it runs in the pool, so the loop keeps serving audio and other calls.
        try:
            # Two readings (the speech, and the whole turn): an opt-out is taken at once only when both hold one.
            read = functools.partial(transcriber.transcribe, pcm, rate, whole_turn=True)
            result = await loop.run_in_executor(self.server.executor, read)
        except (RuntimeError, ValueError, OSError) as exc:  # PocketSphinx reports its failures as RuntimeError
            logger.exception("transcription of %s failed", item_id)
            if self.session["audio"]["input"].get("transcription"):
                await self.send(rt.transcription_failed(item_id, str(exc)))
            return
        self.server.record_asr(result.audio_seconds, result.cpu_seconds)
        # F23: lengths only; what the caller said stays out of the log.
        logger.info("transcribed %.2f s of audio in %.3f s CPU (%d characters)", result.audio_seconds,
                    result.cpu_seconds, len(result.text))
        self.dialogue.user_said(result.text, result.whole_turn_text)
        if item_id in self._store:
            heard = [{"type": "input_audio", "transcript": result.text}]
            self._store[item_id] = {**self._store[item_id], "content": heard}
        if self.session["audio"]["input"].get("transcription"):
            usage = {"type": "duration", "seconds": round(result.audio_seconds, 3)}
            await self.send(rt.transcription_completed(item_id, result.text, usage))

    async def _respond_after(self, transcription: asyncio.Task[None]) -> None:
        await asyncio.gather(transcription, return_exceptions=True)
        while self._response is not None and self._response.task is not None:
            # One response at a time: a turn that ends while the agent speaks is answered next.
            await asyncio.gather(self._response.task, return_exceptions=True)
        self._start_response(conversation=True)

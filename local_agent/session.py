"""One connection to the local agent: the OpenAI Realtime GA protocol subset the media bridge uses.

Per connection (served by :mod:`local_agent.server`), :class:`RealtimeSession` keeps the session config, a
voice activity detector on the appended audio (:mod:`local_agent.audio_input`), the conversation items and a
:class:`~local_agent.script.Dialogue` that decides the responses (:mod:`local_agent.responses`).

Client events handled: ``session.update``, ``input_audio_buffer.append/commit/clear``,
``conversation.item.create`` (``function_call_output``, user ``input_text`` messages, other items stored),
``conversation.item.truncate``, ``conversation.item.retrieve``, ``conversation.item.delete``,
``response.create``, ``response.cancel``.
Anything else gets an ``error`` event, and the connection stays open, as with the real service.

Audio out is synthesised with eSpeak NG, encoded to the session's output format and streamed in 100 ms
``response.output_audio.delta`` chunks faster than real time (``LocalAgentConfig.pace``), like the real service:
the client paces playout and reports what was heard with ``conversation.item.truncate``. Recognition and
synthesis run in a thread pool, never on the event loop.

Turn detection: ``server_vad`` runs the energy VAD of :mod:`media.audio.vad` with the session's
threshold, padding and silence; ``semantic_vad`` is accepted and runs the same way; ``null`` means the
client commits turns and asks for responses. ``idle_timeout_ms`` is honoured on the clock of appended audio.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from websockets.exceptions import ConnectionClosed

from local_agent import events as ev
from local_agent.audio_input import AudioInput
from local_agent.connection import AssistantAudio
from local_agent.responses import Responses
from local_agent.script import ToolSet, parse_script
from media.adapters import realtime_events as rt

logger = logging.getLogger(__name__)


class RealtimeSession(AudioInput, Responses):
    """One client connection speaking the Realtime protocol (see the module docstring).

    Args:
        connection: the WebSocket.
        model: the model named in the URL.
        server: the owning server (thread pool, statistics).
    """

    # ---- the connection -------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until the client closes it."""
        await self.send(rt.session_created(self.session))
        try:
            async for message in self.connection:
                await self._dispatch(message)
        except ConnectionClosed:
            pass
        finally:
            if self._response is not None:
                self._response.cancel_reason = "client_cancelled"
            for task in [*self._turn_tasks, *self._pending_transcriptions]:
                task.cancel()

    async def _dispatch(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            await self.send_error("invalid_json", "The message is not valid JSON.")
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            await self.send_error("invalid_event", "The event has no type.", param="type")
            return
        handler = self._handlers.get(event["type"])
        if handler is None:
            await self.send_error(
                "invalid_event",
                f"Unsupported event type {event['type']!r}.",
                param="type",
                event_id=event.get("event_id"),
            )
            return
        try:
            await handler(self, event)
        except Exception:
            # A bug in one handler must not drop the call: report it like the service's server_error and go on.
            logger.exception("failed to handle %s", event["type"])
            message = f"The local agent failed to handle {event['type']}."
            await self.send(rt.error("server_error", message, event_id=event.get("event_id"), kind="server_error"))

    # ---- session ----------------------------------------------------------------------------------

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        try:
            session = ev.merge_session(self.session, event.get("session"))
        except ev.SessionUpdateError as exc:
            await self.send_error(exc.code, str(exc), param=exc.param, event_id=event.get("event_id"))
            return
        old_input = (self._input_format, self._turn_detection)
        self.session = session
        script = parse_script(session.get("instructions") or "")
        self.dialogue.update(script, ToolSet.from_tools(session.get("tools") or []))
        self._transcriber = None  # the language model includes the script's questions
        if (self._input_format, self._turn_detection) != old_input:
            if self._input_format != old_input[0]:
                self._buffer.clear()
                self._buffer_start_ms = self._input_ms(self._appended_samples)
            self._reset_audio_pipeline()
        await self.send(rt.session_updated(self.session))

    # ---- conversation items -----------------------------------------------------------------------

    async def _on_item_create(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            await self.send_error(
                "missing_required_parameter",
                "Missing required parameter: 'item'.",
                param="item",
                event_id=event.get("event_id"),
            )
            return
        item = {**item, "id": item.get("id") or ev.new_id("item"), "object": "realtime.item", "status": "completed"}
        kind = item["type"]
        if kind == "function_call_output":
            if not isinstance(item.get("call_id"), str) or not isinstance(item.get("output"), str):
                await self.send_error(
                    "invalid_value",
                    "function_call_output needs call_id and output strings.",
                    param="item",
                    event_id=event.get("event_id"),
                )
                return
            self.dialogue.tool_output(self._calls.get(item["call_id"], ""))
        elif kind == "message":
            if item.get("role") not in ("user", "assistant", "system"):
                await self.send_error(
                    "invalid_value", "Unknown message role.", param="item.role", event_id=event.get("event_id")
                )
                return
            if item["role"] == "user":
                text = " ".join(
                    str(part.get("text") or part.get("transcript") or "")
                    for part in item.get("content") or []
                    if isinstance(part, dict)
                )
                self.dialogue.user_said(text)
                self._input_text_tokens += len(text.split())
        elif kind != "function_call":
            await self.send_error(
                "invalid_value", f"Unsupported item type {kind!r}.", param="item.type", event_id=event.get("event_id")
            )
            return
        previous = self._items[-1] if self._items else None
        self._items.append(item["id"])
        await self.send(rt.item_added(item, previous))
        await self.send(rt.item_done(item, previous))
        self._store[item["id"]] = item

    async def _on_item_truncate(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        audio = self._assistant_audio.get(item_id) if isinstance(item_id, str) else None
        if audio is None:
            await self.send_error(
                "invalid_value",
                f"No assistant audio item with id {item_id!r}.",
                param="item_id",
                event_id=event.get("event_id"),
            )
            return
        end_ms = event.get("audio_end_ms")
        if event.get("content_index", 0) != 0 or not isinstance(end_ms, int) or not 0 <= end_ms <= audio.audio_ms:
            await self.send_error(
                "invalid_value",
                f"audio_end_ms must be 0-{audio.audio_ms} for content_index 0.",
                param="audio_end_ms",
                event_id=event.get("event_id"),
            )
            return
        words = audio.transcript.split()
        heard = words[: round(len(words) * end_ms / audio.audio_ms)] if audio.audio_ms else []
        self._assistant_audio[str(item_id)] = AssistantAudio(" ".join(heard), end_ms, audio.said, truncated=True)
        if audio.said and item_id == self._latest_said:  # an older item's truncate says nothing of the question
            self.dialogue.cut_off(audio.said, " ".join(heard))
        if item_id in self._store:
            content = [{"type": "output_audio", "transcript": " ".join(heard)}]
            self._store[item_id] = {**self._store[item_id], "content": content}
        await self.send(rt.item_truncated(str(item_id), end_ms))

    async def _on_item_retrieve(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        item = self._store.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            message = f"No item with id {item_id!r}."
            await self.send_error("invalid_value", message, param="item_id", event_id=event.get("event_id"))
            return
        await self.send(rt.item_retrieved(item))

    async def _on_item_delete(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if item_id not in self._items:
            await self.send_error(
                "invalid_value", f"No item with id {item_id!r}.", param="item_id", event_id=event.get("event_id")
            )
            return
        self._items.remove(item_id)
        self._store.pop(item_id, None)
        await self.send(rt.item_deleted(item_id))

    _handlers: dict[str, Any] = {
        rt.ClientEvent.SESSION_UPDATE: _on_session_update,
        rt.ClientEvent.INPUT_AUDIO_APPEND: AudioInput._on_append,
        rt.ClientEvent.INPUT_AUDIO_COMMIT: AudioInput._on_commit,
        rt.ClientEvent.INPUT_AUDIO_CLEAR: AudioInput._on_clear,
        rt.ClientEvent.ITEM_CREATE: _on_item_create,
        rt.ClientEvent.ITEM_TRUNCATE: _on_item_truncate,
        rt.ClientEvent.ITEM_DELETE: _on_item_delete,
        rt.ClientEvent.ITEM_RETRIEVE: _on_item_retrieve,
        rt.ClientEvent.RESPONSE_CREATE: Responses._on_response_create,
        rt.ClientEvent.RESPONSE_CANCEL: Responses._on_response_cancel,
    }

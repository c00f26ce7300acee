"""The Twilio Media Streams protocol, with the bridge in Twilio's role, towards any agent server speaking it.

The bridge opens the WebSocket (as Twilio does for ``<Connect><Stream>``) and sends ``connected``, then
``start`` (``customParameters`` carry the contact's variables as strings), then one ``media`` message per
20 ms caller frame (base64 mu-law 8 kHz, ``track`` ``inbound``, increasing ``sequenceNumber``, ``chunk`` and
``timestamp``), and ``stop`` on hangup. From the agent it takes ``media`` (queued for paced playout), ``mark``
(echoed by the bridge once the audio queued before it has been played, or dropped by a ``clear``) and
``clear`` (flush playout). All frames are JSON text; a binary frame, bad JSON, an unknown event or a wrong
``streamSid`` is a malformed message (Twilio's errors 31950/31951). A clean close by the agent ends the call
(that is how such agents hang up); an abnormal close is a dropped AI connection.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed

from media.adapters.base import (
    AdapterError,
    AgentAdapter,
    AgentAudio,
    Mark,
    PlayoutCleared,
    ProtocolError,
    require,
)
from media.audio.g711 import pcm16_to_ulaw, ulaw_to_pcm16
from media.bridge.prompts import limit_variables


class TwilioStreamAdapter(AgentAdapter):
    """Twilio Media Streams, bridge as Twilio (``provider`` ``twilio_stream``)."""

    provider = "twilio_stream"
    reports_speech = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.account_sid = "AC" + uuid.uuid5(uuid.NAMESPACE_URL, "campaign-engine").hex
        self.call_sid = (
            self.call.call_sid or "CA" + uuid.uuid5(uuid.NAMESPACE_URL, f"attempt:{self.call.attempt_id}").hex
        )
        self._sequence = 0
        self._chunk = 0
        self._turn_no = 1

    def _next_sequence(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    def start_message(self) -> dict[str, Any]:
        """The ``start`` event (sequence number 1, the first after ``connected``)."""
        return {
            "event": "start",
            "sequenceNumber": self._next_sequence(),
            "streamSid": self.stream_sid,
            "start": {
                "streamSid": self.stream_sid,
                "accountSid": self.account_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                # F13: the same length-limited one-line values the other providers get.
                "customParameters": limit_variables(self.call.variables, self.bridge.prompt_variable_max_chars),
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }

    async def connect(self) -> None:
        """Open the socket and send ``connected`` and ``start`` (the protocol has no session acknowledgement).

        Raises:
            AdapterError: cannot connect (``refused``/``rejected``) or the socket closed at once (``dropped``).
        """
        url = self.agent.resolved_url
        if not url:
            raise AdapterError("config", "a Twilio-protocol agent needs a WebSocket URL on the agent profile")
        key = self.api_key(required=False)
        await self.open_socket(url, {"Authorization": f"Bearer {key}"} if key else None)
        try:
            await self.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            await self.send_json(self.start_message())
        except ConnectionClosed as exc:
            raise AdapterError("dropped", "agent closed the stream before start") from exc

    async def send_audio(self, pcm: bytes) -> None:
        """One ``media`` message per 20 ms frame (mu-law, base64)."""
        ws = self.ws
        if ws is None or self.closing:
            return
        self._chunk += 1
        payload = base64.b64encode(pcm16_to_ulaw(pcm)).decode("ascii")
        # Built by hand: this runs 50 times a second per call and needs no escaping (digits, base64, hex).
        await ws.send(
            f'{{"event":"media","sequenceNumber":"{self._next_sequence()}","streamSid":"{self.stream_sid}",'
            f'"media":{{"track":"inbound","chunk":"{self._chunk}","timestamp":"{(self._chunk - 1) * 20}",'
            f'"payload":"{payload}"}}}}'
        )

    async def handle(self, message: dict[str, Any], received_ns: int) -> None:
        """Handle ``media``, ``mark`` and ``clear`` from the agent."""
        event = message.get("event")
        if event not in ("media", "mark", "clear"):
            raise ProtocolError(f"unknown event {event!r}")
        if message.get("streamSid") != self.stream_sid:
            raise ProtocolError(f"{event}: wrong streamSid {message.get('streamSid')!r}")
        if event == "media":
            media = require(message, "media", dict)
            try:
                ulaw = binascii.a2b_base64(require(media, "payload", str), strict_mode=True)
            except binascii.Error as exc:
                raise ProtocolError("media: payload is not base64") from exc
            self.emit(AgentAudio(ulaw_to_pcm16(ulaw), f"turn-{self._turn_no}", received_ns))
        elif event == "mark":
            mark = require(message, "mark", dict)
            self.emit(Mark(str(require(mark, "name", str))))
        else:
            self.emit(PlayoutCleared())
            self._turn_no += 1

    async def mark_played(self, name: str) -> None:
        """Echo a mark back: the audio before it has been played (or cleared)."""
        await self.send_json(
            {
                "event": "mark",
                "sequenceNumber": self._next_sequence(),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    async def send_dtmf(self, digit: str) -> None:
        """Forward a caller key press (bidirectional streams carry ``dtmf``)."""
        await self.send_json(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "sequenceNumber": self._next_sequence(),
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def stop(self) -> None:
        """Send ``stop`` (the call ended on our side)."""
        if self.ws is None or self.ws.close_code is not None:
            return
        with contextlib.suppress(ConnectionClosed):  # the agent left first: nothing to tell it
            await self.send_json(
                {
                    "event": "stop",
                    "sequenceNumber": self._next_sequence(),
                    "streamSid": self.stream_sid,
                    "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                }
            )

    async def on_closed(self, exc: ConnectionClosed, *, clean: bool) -> bool:
        """A clean close is the agent hanging up; anything else is a dropped connection."""
        if clean:
            return False  # the bridge reports the agent's hangup when run() returns
        return await super().on_closed(exc, clean=clean)

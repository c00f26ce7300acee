"""Media ports: 20 ms PCM16 frames in and out of a call, on the conference bridge's clock thread."""

from __future__ import annotations

from collections.abc import Callable

import pjsua2 as pj

from telephony.ua.frames import pin_thread_state, read_vector, write_vector

# Pooled AudioMediaPorts per process: one per line, plus spares for ports a call gave back this tick.
MAX_MEDIA_PORTS = 8
_FRAME_BYTES_20MS_8K = 320


class CallMediaPort(pj.AudioMediaPort):
    """An AudioMediaPort that copies frames with the fast vector read.

    Both callbacks run on the conference bridge clock thread while it holds a lock: a slow callback delays
    every call in the process, so they only copy bytes in and out. `sink(frame_bytes)` receives each frame
    heard from the far end; `source()` returns the next frame to send (None or b"": silence).
    """

    # Class-level defaults: while Python tears an instance down, the bridge may still call it once.
    sink: Callable[[bytes], None] | None = None
    source: Callable[[], bytes | None] | None = None
    frames_in = 0  # audio frames heard since the port was last handed out (read by the call's media timeout)
    _silence = bytes(_FRAME_BYTES_20MS_8K)

    def __init__(self, sink: Callable[[bytes], None] | None = None,
                 source: Callable[[], bytes | None] | None = None) -> None:
        super().__init__()
        self.sink = sink
        self.source = source
        self._silence = bytes(_FRAME_BYTES_20MS_8K)

    def create(self, name: str, clock_rate: int = 8000) -> None:
        """Create the pjmedia port (PCM16 mono, 20 ms) on the pjsua thread."""
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, clock_rate, 1, 20000, 16)
        self._silence = bytes(clock_rate // 50 * 2)
        self.createPort(name, fmt)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # pjsua2 callback name
        pin_thread_state()  # the clock thread keeps one Python thread state (see telephony/ua/frames.py)
        if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO:
            return
        self.frames_in += 1
        sink = self.sink
        if sink is not None:
            sink(read_vector(frame.buf))

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # pjsua2 callback name
        pin_thread_state()  # the clock thread keeps one Python thread state (see telephony/ua/frames.py)
        source = self.source
        data = source() if source is not None else None
        write_vector(frame.buf, data or self._silence)
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO


class MediaPortPool:
    """Media ports reused by the calls of one process (use it on the pjsua thread only).

    pjmedia 2.15 removes a port from the conference bridge asynchronously, so destroying a port when its call
    ends can crash the clock thread: ports are created on first need, up to ``limit``, and reused.
    """

    def __init__(self, name_prefix: str, clock_rate: int, limit: int) -> None:
        self.name_prefix = name_prefix
        self.clock_rate = clock_rate
        self.limit = limit
        self._idle: list[CallMediaPort] = []
        self._created = 0

    def acquire(self) -> CallMediaPort | None:
        """An idle port, or a new one while fewer than ``limit`` exist; None past the limit."""
        if self._idle:
            return self._idle.pop()
        if self._created >= self.limit:
            return None
        port = CallMediaPort()
        port.create(f"{self.name_prefix}-{self._created}", self.clock_rate)
        self._created += 1
        return port

    def release(self, port: CallMediaPort) -> None:
        """Silence a port and put it back (its call's conference slot is already gone)."""
        port.sink = None
        port.source = None
        self._idle.append(port)

    def clear(self) -> None:
        """Drop the idle ports (at shutdown, before the Endpoint goes)."""
        self._idle.clear()


"""One direction of a call's audio cut into utterances (energy VAD) and recognised (PocketSphinx), on the media loop.

Used where the UA itself must understand what a person says, with no AI agent on the line: the reply of the person
at a warm transfer's target to the briefing, and both people after a hand-over (docs/transfer.md). The conference
bridge's clock thread only appends frames (`push`); the loop drains them every 100 ms, and each finished
utterance is decoded in a worker thread (PocketSphinx holds the GIL in 40 ms pieces: the loop keeps running).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from media.audio.frames import FRAME_MS
from media.audio.vad import EnergyVad, VadConfig, VadEventKind
from media.speech.asr import Transcriber, shared_transcriber

logger = logging.getLogger(__name__)

RATE = 8000
_BYTES_PER_MS = RATE * 2 // 1000
DRAIN_S = 0.1
# A second and a half of frames may wait for the loop (a busy loop must not grow the queue without end).
MAX_QUEUED_FRAMES = 75
# Audio kept before a detected start, so the VAD's prefix padding has audio to move back into.
_KEEP_BEFORE_MS = 600
# Longer utterances are cut: PocketSphinx's cost grows with the length, and a monologue is no reply.
MAX_UTTERANCE_MS = 15_000
# An utterance of a telephone conversation ends after this much silence (the agent's own VAD uses 500-700 ms).
VAD = VadConfig(threshold=0.5, prefix_padding_ms=200, silence_duration_ms=600, min_speech_ms=100)


@dataclass(frozen=True)
class Utterance:
    """One recognised utterance, timed in ms on the clock of `SpeechStream.push`'s ``at_ms`` (the first frame's
    ``at_ms`` plus the audio since)."""

    text: str
    start_ms: int
    end_ms: int


def transcriber_for(corpus: Sequence[str] | None = None) -> Transcriber:
    """The process-wide recogniser for a corpus (None: the campaign answers' model); built once (0.2 s)."""
    if corpus is None:
        return shared_transcriber()
    return _corpus_transcriber(tuple(corpus))


_by_corpus: dict[tuple[str, ...], Transcriber] = {}


def _corpus_transcriber(corpus: tuple[str, ...]) -> Transcriber:
    transcriber = _by_corpus.get(corpus)
    if transcriber is None:
        transcriber = _by_corpus.setdefault(corpus, Transcriber(corpus=corpus))
    return transcriber


class SpeechStream:
    """Utterances of one audio direction (8 kHz PCM16 frames of 20 ms).

    Args:
        on_utterance: called on the loop with each recognised utterance (blank ones are dropped).
        corpus: the recogniser's language model (None: the campaign answers').
    """

    def __init__(self, on_utterance: Callable[[Utterance], None], corpus: Sequence[str] | None = None) -> None:
        self.on_utterance = on_utterance
        self.corpus = corpus
        self._frames: deque[bytes] = deque(maxlen=MAX_QUEUED_FRAMES)
        self._vad = EnergyVad(RATE, VAD)
        self._audio = bytearray()  # from `_audio_ms` on
        self._audio_ms = 0
        self._start_ms: int | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.cpu_seconds = 0.0
        self.closed = False
        self.origin_ms: int | None = None

    # ---- conference clock thread -------------------------------------------------------------------------

    def push(self, pcm: bytes, at_ms: int = 0) -> None:
        """One frame heard at ``at_ms`` on the caller's clock (only the first frame's time is kept: the stream
        counts 20 ms a frame from there). Copy and return: this runs on the conference bridge's clock."""
        if self.closed:
            return
        if self.origin_ms is None:
            self.origin_ms = at_ms
        self._frames.append(pcm)

    # ---- media loop --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Drain frames and recognise utterances until `close` (cancel it to stop at once)."""
        while not self.closed:
            self._drain()
            await asyncio.sleep(DRAIN_S)

    def _drain(self) -> None:
        while True:
            try:
                frame = self._frames.popleft()
            except IndexError:
                return
            self._audio += frame
            for event in self._vad.feed(frame):
                if event.kind == VadEventKind.SPEECH_STARTED:
                    self._start_ms = event.ms
                elif self._start_ms is not None:
                    self._finish(self._start_ms, event.ms - VAD.silence_duration_ms + FRAME_MS * 2)
            now_ms = self._vad.position_ms
            if self._start_ms is not None and now_ms - self._start_ms >= MAX_UTTERANCE_MS:
                self._finish(self._start_ms, now_ms)
                self._vad.reset()
            elif self._start_ms is None and now_ms - self._audio_ms > _KEEP_BEFORE_MS * 2:
                self._trim(now_ms - _KEEP_BEFORE_MS)

    def _trim(self, from_ms: int) -> None:
        cut = max(0, from_ms - self._audio_ms)
        del self._audio[: cut * _BYTES_PER_MS]
        self._audio_ms += cut

    def _finish(self, start_ms: int, end_ms: int) -> None:
        self._start_ms = None
        start_ms = max(start_ms, self._audio_ms)
        end_ms = max(start_ms, end_ms)
        lo = (start_ms - self._audio_ms) * _BYTES_PER_MS
        hi = (end_ms - self._audio_ms) * _BYTES_PER_MS
        pcm = bytes(self._audio[lo:hi])
        self._trim(end_ms)
        if len(pcm) < 100 * _BYTES_PER_MS:
            return
        task = asyncio.get_running_loop().create_task(self._recognise(pcm, start_ms, end_ms))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _recognise(self, pcm: bytes, start_ms: int, end_ms: int) -> None:
        try:
            transcriber = await asyncio.to_thread(transcriber_for, self.corpus)
            heard = await asyncio.to_thread(transcriber.transcribe, pcm, RATE)
        except (ImportError, RuntimeError, OSError, ValueError):
            # No model, a decoder failure: the words are lost, not the call.
            logger.warning("an utterance could not be recognised", exc_info=True)
            return
        self.cpu_seconds += heard.cpu_seconds
        if heard.text:
            origin = self.origin_ms or 0
            self.on_utterance(Utterance(heard.text, origin + start_ms, origin + end_ms))

    async def close(self, timeout_s: float = 2.0) -> None:
        """Stop: the utterance in progress is recognised too, and the recognitions running are awaited (bounded)."""
        self.closed = True
        self._drain()
        if self._start_ms is not None:
            self._finish(self._start_ms, self._vad.position_ms)
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout_s)

    @property
    def heard_ms(self) -> int:
        """Milliseconds of audio analysed so far (the stream's clock)."""
        return self._vad.position_ms

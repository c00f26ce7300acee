"""Transcript segments of both speakers, timed in milliseconds on the call's clock.

The call's clock starts when the bridge session starts and advances one 20 ms frame per conference-bridge
tick, the same clock the stereo recording uses, so a segment's ``start_ms`` is also its position in the WAV.
Agent segments often arrive (as text) before their audio has been played, so their times are resolved when
the transcript is read: from when the bridge actually played that agent turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

CALLER = "caller"
AGENT = "agent"


@dataclass
class Segment:
    """One utterance.

    Attributes:
        speaker: ``"caller"`` or ``"agent"``.
        text: what was said (a transcription, so a best effort).
        start_ms: start on the call's clock.
        end_ms: end on the call's clock (>= start_ms).
        turn: the agent turn the text belongs to (resolved to play times later), or None.
    """

    speaker: str
    text: str
    start_ms: int
    end_ms: int
    turn: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The shape stored in ``CallAttempt.transcript``."""
        return {"speaker": self.speaker, "text": self.text, "start_ms": self.start_ms, "end_ms": self.end_ms}


class Transcript:
    """Segments of a call, both speakers, in call-clock order.

    Used from the bridge's event loop only (not thread-safe).
    """

    def __init__(self) -> None:
        self._segments: list[Segment] = []

    def add_caller(self, text: str, start_ms: int, end_ms: int) -> None:
        """Add what the caller said between two call-clock times (blank text is ignored)."""
        text = text.strip()
        if text:
            self._segments.append(Segment(CALLER, text, max(0, start_ms), max(start_ms, end_ms, 0)))

    def add_agent(self, text: str, turn: str, at_ms: int) -> None:
        """Add what the agent said in ``turn``; its times are resolved from playout when read.

        Args:
            text: the agent's words for the turn.
            turn: the bridge's turn key (the times of its played audio are looked up with it).
            at_ms: call-clock time when the text arrived (used when the turn's audio was never played).
        """
        text = text.strip()
        if text:
            self._segments.append(Segment(AGENT, text, at_ms, at_ms, turn=turn))

    def __len__(self) -> int:
        return len(self._segments)

    def segments(self, play_span: Callable[[str], tuple[int, int] | None]) -> list[Segment]:
        """Segments sorted by start, agent times resolved through ``play_span(turn) -> (start_ms, end_ms)``."""
        resolved: list[Segment] = []
        for seg in self._segments:
            if seg.turn is not None:
                span = play_span(seg.turn)
                if span is not None:
                    seg = Segment(seg.speaker, seg.text, span[0], span[1], seg.turn)
            resolved.append(seg)
        resolved.sort(key=lambda s: (s.start_ms, s.end_ms))
        return resolved

    def as_list(self, play_span: Callable[[str], tuple[int, int] | None]) -> list[dict[str, object]]:
        """The transcript as stored on the attempt: ``[{"speaker", "text", "start_ms", "end_ms"}]``."""
        return [s.as_dict() for s in self.segments(play_span)]

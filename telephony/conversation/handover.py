"""What the caller and the person at the target say after a bridged or warm hand-over, recognised by the UA.

The agent's session, which transcribed the call so far, leaves at the hand-over; from then on the UA hears the two
people apart (the caller on the call's own port, the person at the target on the transfer call's listen port:
`telephony.ua.transfer_leg`), cuts each direction into utterances and recognises them with PocketSphinx
(`telephony.conversation.speech_stream`). The segments are stored with the attempt's transcript, as
``caller`` and ``human_agent``, timed from the answer like the rest of it; the person's audio also goes to the
recording's second channel (the agent's, silent after the hand-over).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from media.bridge.transcript import CALLER
from media.speech.intents import ANSWER_CORPUS
from media.speech.transfer_replies import REPLY_CORPUS, SERVICE_DESK_PHRASES
from telephony.conversation.speech_stream import SpeechStream, Utterance

HUMAN_AGENT = "human_agent"  # the person at the transfer target, in the transcript
# The target's frames wait here for the recording's next tick (both ports run on the same clock thread: one
# frame in, one frame out; a few of slack absorb the order of the two callbacks within a tick).
_RECORDING_SLACK_FRAMES = 5
# The recogniser's model after a hand-over: what callers answer, what a desk says when it picks up, common desk lines.
HANDOVER_CORPUS: tuple[str, ...] = (*ANSWER_CORPUS, *REPLY_CORPUS, *SERVICE_DESK_PHRASES)


class HandoverTranscript:
    """Both people after a hand-over: their utterances, recognised, and the target's frames for the recording.

    Args:
        spawn: starts a task on the media loop and keeps a reference to it (the call's `_spawn`).
    """

    def __init__(self, spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]]) -> None:
        self.segments: list[dict[str, Any]] = []
        self.caller = SpeechStream(lambda u: self._add(CALLER, u), HANDOVER_CORPUS)
        self.human = SpeechStream(lambda u: self._add(HUMAN_AGENT, u), HANDOVER_CORPUS)
        self._for_recording: deque[bytes] = deque(maxlen=_RECORDING_SLACK_FRAMES)
        self._tasks = [spawn(self.caller.run()), spawn(self.human.run())]

    # ---- conference clock thread: copy and return ----------------------------------------------------------

    def caller_frame(self, pcm: bytes, at_ms: int) -> None:
        """A frame from the caller, at ``at_ms`` since the answer."""
        self.caller.push(pcm, at_ms)

    def human_frame(self, pcm: bytes, at_ms: int) -> None:
        """A frame from the person at the target, at ``at_ms`` since the answer."""
        self.human.push(pcm, at_ms)
        self._for_recording.append(pcm)

    def frame_to_record(self) -> bytes | None:
        """The person's next frame for the recording's second channel (None: nothing arrived)."""
        try:
            return self._for_recording.popleft()
        except IndexError:
            return None

    # ---- media loop ----------------------------------------------------------------------------------------

    def _add(self, speaker: str, utterance: Utterance) -> None:
        self.segments.append({"speaker": speaker, "text": utterance.text, "start_ms": utterance.start_ms,
                              "end_ms": utterance.end_ms})

    async def close(self, timeout_s: float = 2.0) -> list[dict[str, Any]]:
        """Recognise what is still pending (bounded) and return the segments in time order."""
        await asyncio.gather(self.caller.close(timeout_s), self.human.close(timeout_s))
        for task in self._tasks:
            task.cancel()
        return sorted(self.segments, key=lambda s: (s["start_ms"], s["end_ms"]))

    @property
    def cpu_seconds(self) -> float:
        """CPU time spent recognising (both directions)."""
        return self.caller.cpu_seconds + self.human.cpu_seconds

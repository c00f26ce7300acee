"""The talker's own voice within an utterance, told from the room around them.

The speech gate passes whatever is loud enough: the person on the line, and also talk in the room,
a street or wind before their first word and after their last. These checks look at the talker
alone: where their voice starts and their last phrase ends (`bounds`), whether their voice goes
on (`goes_on`), and, at the deadline, whether a far end the cadence model calls a machine may be a
person waiting for an answer (`may_be_waiting`). Each runs once per check over at most 250 frames.
"""

from __future__ import annotations

import math

import numpy as np

from media.amd.cadence import FRAME_MS, talker_bounds
from media.amd.config import AmdConfig

ONSET_MS = 200  # a voice reaches its level within this long
_RECENT_FRAMES = 50  # the last second, for the talker's current level


def bounds(config: AmdConfig, speech: list[bool], levels: list[float]) -> tuple[int, int] | None:
    """Where the talker's first word begins and their last phrase ends, ms from the utterance's start.

    Why: the utterance opens on whatever first passes the speech gate, and the room keeps it
    open after a person has stopped. Measured from the talker's own voice (as the long-greeting
    rule measures its length), a late pick-up is still within its one breath, and a person who
    finished their sentence a while ago is waiting, whatever the room does.

    Args:
        config: the detector's settings (`greeting_talker_range_db`, `greeting_phrase_range_db`).
        speech: per-frame speech flags from the utterance's first frame to now.
        levels: per-frame levels (dBFS) over the same frames.

    Returns:
        (start_ms, end_ms) from the utterance's first frame, or None without speech.
    """
    found = talker_bounds(
        speech,
        levels,
        config.greeting_talker_range_db,
        config.word_gap_ms // FRAME_MS,
        ONSET_MS // FRAME_MS,
        config.greeting_phrase_range_db,
    )
    return None if found is None else (found[0] * FRAME_MS, found[1] * FRAME_MS)


def goes_on(config: AmdConfig, levels: list[float], speech: list[bool], pitch: list[float]) -> bool:
    """Whether the last second of speech is as loud as the utterance's and its opening, in the same voice.

    Why: on a noisy line (talk in the room, a street) the background passes the speech gate
    in bursts after the person has stopped, and a 2-3 s sentence followed by it looks like a
    greeting that goes on. A recording keeps its level from sentence to sentence; the sound
    after a person stops is quieter than their voice (`AmdConfig.greeting_level_drop_db`,
    `AmdConfig.greeting_opening_drop_db`).

    Args:
        config: the detector's settings.
        levels: per-frame levels (dBFS) from the utterance's first frame to now.
        speech: per-frame speech flags over the same frames.
        pitch: per-frame pitch (NaN when unvoiced or not speech) over the same frames.
    """
    recent_from = max(0, len(levels) - _RECENT_FRAMES)
    utterance = [lv for lv, sp in zip(levels, speech, strict=True) if sp]
    recent = [lv for lv, sp in zip(levels[recent_from:], speech[recent_from:], strict=True) if sp]
    if not recent:
        return False
    whole, last = np.percentile(utterance, 90), np.percentile(recent, 90)
    if float(whole - last) > config.greeting_level_drop_db:
        return False
    # And as loud as it opened: on a noisy line the person's voice opens the utterance and the
    # room goes on after them, quieter; a greeting keeps its level.
    opening = [lv for lv, sp in zip(levels[:_RECENT_FRAMES], speech[:_RECENT_FRAMES], strict=True) if sp]
    if opening and float(np.percentile(opening, 90) - last) > config.greeting_opening_drop_db:
        return False
    # The same voice: the pitch of the last second is near the pitch of the first. Other
    # voices in the room (babble, a television) sit elsewhere or jump about.
    first = [p for p in pitch[:_RECENT_FRAMES] if not math.isnan(p)]
    lately = [p for p in pitch[recent_from:] if not math.isnan(p)]
    if len(first) < 5 or len(lately) < 5:
        return True
    return abs(float(np.median(first)) - float(np.median(lately))) <= config.greeting_pitch_shift_st


def may_be_waiting(
    config: AmdConfig, span_ms: int, silence_ms: int, paused: bool, talker_silence_ms: int | None
) -> str | None:
    """Why a far end the cadence model calls a machine at the deadline may be a person, else None.

    Why: an unbroken utterance that began under 4 s ago, or one that did and has been quiet for
    300 ms, may be a person who picked up late, in or just past their one sentence
    (`one_breath`); a far end silent for 700 ms has stopped and waits (`waiting`), and so has a
    talker whose own last phrase ended 700 ms ago while the room goes on (`talker_waiting`).
    Each is left UNKNOWN and connected: hanging up on a person is an abandoned call (FCC),
    talking to a machine costs an agent turn.

    Args:
        config: the detector's settings.
        span_ms: time since the talker's first word.
        silence_ms: time since the last speech near the talker's level.
        paused: whether the utterance paused for `breath_pause_ms` or more.
        talker_silence_ms: time since the talker's last phrase ended (`bounds`), if known.

    Returns:
        The name of the guard that holds the machine decision back, or None.
    """
    if span_ms < config.timeout_one_breath_span_ms and (not paused or silence_ms >= config.timeout_sentence_end_ms):
        return "one_breath"
    if silence_ms >= config.timeout_waiting_silence_ms:
        return "waiting"
    if talker_silence_ms is not None and talker_silence_ms >= config.timeout_talker_waiting_ms:
        return "talker_waiting"
    return None

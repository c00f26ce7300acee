"""Answering-machine detection (AMD) on the first seconds of received audio after answer.

Streams 20 ms PCM16 8 kHz frames and decides human / machine / unknown from what real calls show:

- a person answers with a short utterance ("Hello?", "Yeah, this is Sam") and then waits in silence
  for the caller to speak; a question ("Hello?" ending with a rising pitch) then silence is a person
  sooner;
- a person who hears nothing asks again ("Hello? ... Hello? ... Can I help you?"): short bursts,
  each followed by a pause for the answer, often ending rising, often the same words again. At
  the deadline a tree model of this cadence (`media.amd_cadence` measures it, `media.amd_deadline`
  weighs it) tells them from a greeting that is still going;
- a machine (voicemail greeting, carrier announcement, call screener) talks long and continuously,
  with only short pauses between phrases, and often ends in a beep;
- a beep (a stable pure tone, see `media.tones`) means a machine;
- greeting words ("leave a message", "after the tone", "screening service", see `media.keywords`)
  mean a machine, whether they come from a local keyword spotter or from the AI provider's
  transcript.

Errors are not equal: hanging up on a person is worse than talking to a machine, so every rule
that says "machine" needs positive evidence, and a line that stays silent ends as UNKNOWN (the
engine treats it like a person and connects the agent).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields
from enum import StrEnum

import numpy as np

from media.amd_cadence import Cadence, frame_pitch, measure, talker_phrases
from media.amd_deadline import DeadlineModel, shipped_model
from media.audio.tones import FRAME_SAMPLES, Beep, ToneDetector
from media.keywords import KeywordSpotter, match_machine_phrase

FRAME_MS = 20
_WARMUP_FRAMES = 5  # 100 ms to learn the line's background level
_NO_LEVEL = -120.0
_ONSET_MS = 200  # a voice reaches its level within this long
_MIN_BACKGROUND_FRAMES = 10  # 200 ms of earlier sound before it can be called background
_TALKER_DECAY_DB = 0.02  # per frame: the talker's peak level fades by 1 dB/s
_CADENCE_RECHECK_MS = 200


class AmdLabel(StrEnum):
    """What answered the call."""

    HUMAN = "human"  # a person: connect the agent now
    MACHINE = "machine"  # voicemail, carrier announcement or call screener
    UNKNOWN = "unknown"  # no evidence either way by the deadline (silent line, late speech)


@dataclass(frozen=True, slots=True)
class AmdConfig:
    """Per-campaign AMD timings and thresholds.

    Attributes:
        max_decision_ms: the decision is due this long after answer, whatever was heard.
        greeting_max_ms: speech in one utterance (phrases with pauses shorter than
            `after_greeting_silence_ms`) longer than this is a machine's greeting, provided one of
            its phrases lasted `phrase_min_ms`.
        min_level_swing_db: a greeting is one talker, whose level swings between syllables and
            pauses: the frames since the utterance began must spread at least this far between
            their 10th and 90th percentile levels. Several people talking at once in the room
            behind a silent callee fill each other's gaps and swing less (about 10 dB).
        phrase_min_ms: a recorded greeting holds at least one phrase (speech without a pause
            longer than `word_gap_ms`) this long; a person who says "Hello? ... Who is this?"
            speaks in shorter bursts, so a long utterance made only of short phrases waits for
            the deadline rules instead.
        after_greeting_silence_ms: silence that ends an utterance; a short utterance followed by
            this much silence is a person waiting for the caller.
        word_gap_ms: pauses shorter than this are inside a word or between words of one phrase.
        min_word_ms: speech bursts shorter than this (clicks, pops) are ignored.
        speech_margin_db: a frame is speech when this far above the tracked noise floor.
        min_speech_dbfs: a frame quieter than this is never speech.
        talker_range_db: a frame more than this below the talker's recent peak level is background
            (a television, people in the room), not the person on the line, unless it is
            `clear_speech_db` above the noise floor.
        clear_speech_db: a frame this far above the noise floor is the talker's speech however
            far it is below their peak. On a quiet line a greeting's soft syllables fall 15-40 dB
            under its loudest vowels yet far above the line's noise; dropping them broke read
            sentences into short "phrases" with pauses, which look like a person's. Talk in the
            room is never this far above the floor it sets itself.
        beep_min_hz: lowest beep frequency.
        beep_max_hz: highest beep frequency.
        beep_min_ms: how long a tone must last to count as a beep.
        beep_min_purity: share of the band's energy the tone must hold (0-1).
        timeout_human_silence_ms: at the deadline, a short utterance (less speech than
            `timeout_machine_speech_ms`) already followed by at least this much silence counts as
            a person (they stopped and are waiting).
        timeout_machine_speech_ms: at the deadline, an utterance with at least this much speech
            that began `timeout_machine_span_ms` ago or more can be called a machine (a greeting
            that started late) if the cadence model agrees. Whether the far end has stopped is
            the model's to weigh: a greeting between two sentences is silent for a moment too.
        timeout_machine_span_ms: see `timeout_machine_speech_ms`.
        timeout_machine_phrase_ms: if above 0, that deadline rule also needs one phrase this
            long. 0 keeps this condition off: the cadence model below already spares most people
            who are still talking at the deadline, and a phrase condition turns many greetings
            that start late into UNKNOWN (see docs/benchmarks.md).
        timeout_machine_probability: that deadline rule also needs the cadence model
            (`media.amd_deadline`: phrase lengths, pauses, phrase endings, trailing silence) to
            give a machine at least this probability. People who keep asking
            "Hello? ... Hello?" into the deadline pause after each question and end them rising.
        timeout_human_probability: at the deadline, an utterance the cadence model gives at most
            this machine probability is a person (short bursts with pauses, questions).
        greeting_talker_range_db: before the long-greeting rule calls a machine, the utterance is
            measured again from where its talker's voice starts: 200 ms (a voice's onset) before
            the first speech frame within this many dB of the utterance's loudest frame. It must
            still hold `greeting_max_ms` of speech and a `phrase_min_ms` phrase. Sound before the
            person's first word (people talking behind them, a street) is then no longer merged
            into their first phrase. 60 turns this off.
        question_rise_st_per_s: a phrase ending whose pitch rises this steeply (semitones per
            second) is a question. While its longest phrase is shorter than
            `question_phrase_max_ms`, an utterance holding a question is left to the deadline
            instead of being called a greeting early: "Hello? ... Hello, who is this?" can reach
            the greeting length.
        question_phrase_max_ms: see `question_rise_st_per_s`.
        question_silence_ms: a short utterance (less speech than `greeting_max_ms`) whose last
            phrase ended as a question and has been followed by this much silence is a person
            waiting for an answer; other utterances wait `after_greeting_silence_ms`. 0 turns
            this off.
        greet_immediately: the campaign has the agent greet at once instead of staying silent
            while AMD listens (read by the call engine; detection itself is unchanged).
    """

    max_decision_ms: int = 3500
    greeting_max_ms: int = 1600
    phrase_min_ms: int = 1300
    min_level_swing_db: float = 15.0
    after_greeting_silence_ms: int = 800
    word_gap_ms: int = 200
    min_word_ms: int = 100
    speech_margin_db: float = 6.0
    min_speech_dbfs: float = -50.0
    talker_range_db: float = 15.0
    clear_speech_db: float = 30.0
    beep_min_hz: float = 300.0
    beep_max_hz: float = 2500.0
    beep_min_ms: int = 120
    beep_min_purity: float = 0.7
    timeout_human_silence_ms: int = 400
    timeout_machine_speech_ms: int = 1000
    timeout_machine_span_ms: int = 2000
    timeout_machine_phrase_ms: int = 0
    timeout_machine_probability: float = 0.8
    timeout_human_probability: float = 0.5
    greeting_talker_range_db: float = 12.0
    question_rise_st_per_s: float = 8.0
    question_phrase_max_ms: int = 1600
    question_silence_ms: int = 600
    greet_immediately: bool = False

    def __post_init__(self) -> None:
        positive_ms = (
            "max_decision_ms",
            "greeting_max_ms",
            "phrase_min_ms",
            "after_greeting_silence_ms",
            "word_gap_ms",
            "min_word_ms",
            "beep_min_ms",
            "timeout_human_silence_ms",
            "timeout_machine_speech_ms",
            "timeout_machine_span_ms",
            "question_phrase_max_ms",
        )
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "greet_immediately":
                if not isinstance(value, bool):
                    raise ValueError(f"AmdConfig.{f.name} must be a bool, got {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"AmdConfig.{f.name} must be a finite number, got {value!r}")
            if f.name in positive_ms and (not isinstance(value, int) or value <= 0):
                raise ValueError(f"AmdConfig.{f.name} must be a positive whole number of ms, got {value!r}")
        if not isinstance(self.question_silence_ms, int) or self.question_silence_ms < 0:
            raise ValueError(
                f"AmdConfig.question_silence_ms must be a whole number of ms >= 0, got {self.question_silence_ms!r}"
            )
        if not isinstance(self.timeout_machine_phrase_ms, int) or self.timeout_machine_phrase_ms < 0:
            raise ValueError(
                f"AmdConfig.timeout_machine_phrase_ms must be a whole number of ms >= 0, "
                f"got {self.timeout_machine_phrase_ms!r}"
            )
        if not 0.0 < self.question_rise_st_per_s <= 100.0:
            raise ValueError(f"AmdConfig.question_rise_st_per_s must be in (0, 100], got {self.question_rise_st_per_s}")
        if not 0.0 <= self.timeout_human_probability <= self.timeout_machine_probability <= 1.0:
            raise ValueError(
                "AmdConfig.timeout_human_probability and timeout_machine_probability must satisfy "
                "0 <= human <= machine <= 1"
            )
        if self.max_decision_ms > 30_000:
            raise ValueError(f"AmdConfig.max_decision_ms must be at most 30000, got {self.max_decision_ms}")
        if self.greeting_max_ms >= self.max_decision_ms:
            raise ValueError("AmdConfig.greeting_max_ms must be shorter than max_decision_ms")
        if not 0.0 < self.speech_margin_db <= 40.0:
            raise ValueError(f"AmdConfig.speech_margin_db must be in (0, 40], got {self.speech_margin_db}")
        if not 0.0 <= self.min_level_swing_db <= 60.0:
            raise ValueError(f"AmdConfig.min_level_swing_db must be in [0, 60], got {self.min_level_swing_db}")
        if not 3.0 <= self.greeting_talker_range_db <= 60.0:
            raise ValueError(
                f"AmdConfig.greeting_talker_range_db must be in [3, 60], got {self.greeting_talker_range_db}"
            )
        if not 10.0 <= self.clear_speech_db <= 200.0:
            raise ValueError(f"AmdConfig.clear_speech_db must be in [10, 200], got {self.clear_speech_db}")
        if not 3.0 <= self.talker_range_db <= 60.0:
            raise ValueError(f"AmdConfig.talker_range_db must be in [3, 60], got {self.talker_range_db}")
        if not -90.0 <= self.min_speech_dbfs <= 0.0:
            raise ValueError(f"AmdConfig.min_speech_dbfs must be in [-90, 0], got {self.min_speech_dbfs}")
        if not 100.0 <= self.beep_min_hz < self.beep_max_hz <= 3800.0:
            raise ValueError("AmdConfig.beep_min_hz must be >= 100 and below beep_max_hz, itself <= 3800")
        if not 0.0 < self.beep_min_purity <= 1.0:
            raise ValueError(f"AmdConfig.beep_min_purity must be in (0, 1], got {self.beep_min_purity}")


@dataclass(frozen=True, slots=True)
class AmdDecision:
    """The detector's verdict.

    Attributes:
        label: human, machine or unknown.
        reason: the rule that decided (`short_utterance`, `long_greeting`, `beep`, `keyword`,
            `transcript`, `question`, `cadence`, `silence`, `undecided`).
        decided_ms: audio time after answer at which the decision was made.
        first_speech_ms: start of the first speech heard, or None.
        detail: the phrase or beep frequency behind a keyword or beep decision.
    """

    label: AmdLabel
    reason: str
    decided_ms: int
    first_speech_ms: int | None
    detail: str = ""


def frame_dbfs(samples: np.ndarray) -> float:
    """Level of a frame in dB relative to PCM16 full scale (a full-scale square wave is 0 dBFS)."""
    mean_square = float(np.dot(samples, samples)) / max(len(samples), 1)
    return 10.0 * math.log10(mean_square / (32768.0 * 32768.0) + 1e-10)


class _NoiseFloor:
    """Tracks the background level: follows quiet frames down at once, rises slowly.

    Why: a stationary noise (street, fan, a bad line) must not read as endless speech, which would
    make a person in a noisy place look like a long machine greeting. The floor is the minimum level
    over the last half second, allowed to rise at a capped rate so that a long greeting keeps its
    dips below the speech margin.
    """

    _WINDOW_FRAMES = 25  # 500 ms
    _RISE_DB = 0.5  # per frame, 25 dB/s

    def __init__(self, initial_dbfs: float) -> None:
        self.level = initial_dbfs
        self._recent: list[float] = []

    def update(self, dbfs: float) -> float:
        self._recent.append(dbfs)
        if len(self._recent) > self._WINDOW_FRAMES:
            self._recent.pop(0)
        target = min(self._recent)
        self.level = target if target <= self.level else min(target, self.level + self._RISE_DB)
        return self.level


class AnsweringMachineDetector:
    """Streaming AMD for one call: feed every received 20 ms frame until it returns a decision.

    Args:
        config: timings and thresholds; defaults suit most campaigns.
        spotter: optional local keyword spotter (any `media.keywords.KeywordSpotter`).
        deadline_model: the cadence model used at the deadline; the shipped one if None.

    Example:
        detector = AnsweringMachineDetector(AmdConfig())
        for frame in frames:
            decision = detector.feed(frame)
            if decision is not None:
                break
    """

    def __init__(
        self,
        config: AmdConfig | None = None,
        spotter: KeywordSpotter | None = None,
        deadline_model: DeadlineModel | None = None,
    ) -> None:
        self.config = config or AmdConfig()
        self._spotter = spotter
        self._deadline_model = deadline_model
        self._tones = ToneDetector(
            min_hz=self.config.beep_min_hz,
            max_hz=self.config.beep_max_hz,
            min_ms=self.config.beep_min_ms,
            min_purity=self.config.beep_min_purity,
        )
        self._floor: _NoiseFloor | None = None
        self._warmup: list[np.ndarray] = []
        self._talker_dbfs = _NO_LEVEL
        self._pending = np.zeros(0, dtype=np.float64)
        self._now_ms = 0
        self._decision: AmdDecision | None = None
        # Speech bookkeeping: the current word, the current utterance and the first speech heard.
        self._last_speech_ms = -10_000  # end of the last speech frame
        self._word_start_ms = -1
        self._word_speech_ms = 0  # word length, short dips included
        self._word_voiced_ms = 0  # speech frames only
        self._utterance_start_ms = -1  # -1: no utterance in progress
        self._utterance_peak_dbfs = _NO_LEVEL
        self._recent_speech: deque[tuple[int, float]] = deque()
        self._aged_frames = 0
        self._longest_phrase_ms = 0  # longest finished phrase of the utterance
        self._levels: list[float] = []  # level of every analysed frame, from answer on
        self._speech: list[bool] = []  # whether each analysed frame was the talker's speech
        self._pitch: list[float] = []  # pitch of each speech frame (NaN otherwise), for phrase endings
        self._frames: list[np.ndarray | None] = []  # samples of each speech frame, for repetition
        self._previous = np.zeros(FRAME_SAMPLES)  # the frame before, for 40 ms pitch windows
        self._cadence_ms = -10_000  # when `_cadence` was measured
        self._cadence: Cadence | None = None
        self._question_pause_ms = -1  # the pause (by its start) already checked for a question
        self._utterance_speech_ms = 0
        self._first_speech_ms: int | None = None
        self.beeps: list[Beep] = []

    @property
    def decision(self) -> AmdDecision | None:
        """The decision once made, else None."""
        return self._decision

    @property
    def elapsed_ms(self) -> int:
        """Audio time consumed since answer."""
        return self._now_ms

    def feed(self, frame: bytes | np.ndarray) -> AmdDecision | None:
        """Consume received audio (normally one 20 ms frame of PCM16 at 8 kHz).

        Args:
            frame: little-endian PCM16 bytes or an int16/float array of samples. Any length is
                accepted; audio is analysed in 20 ms frames.

        Returns:
            The decision once made (and on every later call), else None.
        """
        if self._decision is not None:
            return self._decision
        if isinstance(frame, bytes | bytearray | memoryview):
            samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
        else:
            samples = np.asarray(frame, dtype=np.float64)
        if len(self._pending):
            samples = np.concatenate((self._pending, samples))
        whole = len(samples) // FRAME_SAMPLES * FRAME_SAMPLES
        self._pending = samples[whole:]
        for start in range(0, whole, FRAME_SAMPLES):
            decision = self._feed_frame(samples[start : start + FRAME_SAMPLES])
            if decision is not None:
                self._decision = decision
                return decision
        return None

    def feed_transcript(self, text: str) -> AmdDecision | None:
        """Consider the AI provider's transcript of the far end heard so far.

        Args:
            text: transcript text (partial or final).

        Returns:
            A machine decision if the text holds a machine phrase, the earlier decision if one was
            already made, else None.
        """
        if self._decision is not None:
            return self._decision
        phrase = match_machine_phrase(text)
        if phrase is None:
            return None
        self._decision = self._decide(AmdLabel.MACHINE, "transcript", phrase)
        return self._decision

    def _decide(self, label: AmdLabel, reason: str, detail: str = "") -> AmdDecision:
        return AmdDecision(label, reason, self._now_ms, self._first_speech_ms, detail)

    def _feed_frame(self, samples: np.ndarray) -> AmdDecision | None:
        if self._floor is None:
            # The line's background level is unknown at answer: take the quietest of the first
            # 100 ms as the starting floor, then analyse those frames. Starting from an assumed
            # quiet line instead would read a loud background as a first word.
            self._warmup.append(samples)
            if len(self._warmup) < _WARMUP_FRAMES:
                return None
            self._floor = _NoiseFloor(min(frame_dbfs(f) for f in self._warmup))
            frames, self._warmup = self._warmup, []
            for frame in frames:
                decision = self._analyse_frame(frame, self._floor)
                if decision is not None:
                    return decision
            return None
        return self._analyse_frame(samples, self._floor)

    def _analyse_frame(self, samples: np.ndarray, noise_floor: _NoiseFloor) -> AmdDecision | None:
        cfg = self.config
        frame_start = self._now_ms
        self._now_ms += FRAME_MS
        dbfs = frame_dbfs(samples)
        floor = noise_floor.update(dbfs)
        self._levels.append(dbfs)

        beep = self._tones.feed(samples, dbfs)
        if beep is not None:
            self.beeps.append(beep)
            return self._decide(AmdLabel.MACHINE, "beep", f"{beep.freq_hz:.0f} Hz")

        if self._spotter is not None:
            phrase = self._spotter.feed(samples)
            if phrase:
                return self._decide(AmdLabel.MACHINE, "keyword", phrase)

        is_speech = dbfs >= cfg.min_speech_dbfs and dbfs >= floor + cfg.speech_margin_db
        if is_speech:
            # Why: background talk is not stationary, so the noise floor does not absorb it. The
            # person on the line is closer to the microphone than anyone behind them: frames far
            # below the talker's recent peak are the room, and a short "hello?" followed by room
            # noise must still read as a short utterance followed by silence. But a frame far above
            # the noise floor is speech all the same: room talk keeps the floor close under itself,
            # and on a quiet line a greeting's soft syllables must not split its sentences.
            self._talker_dbfs = max(dbfs, self._talker_dbfs - _TALKER_DECAY_DB)
            is_speech = dbfs >= self._talker_dbfs - cfg.talker_range_db or dbfs >= floor + cfg.clear_speech_db
        else:
            self._talker_dbfs -= _TALKER_DECAY_DB
        self._speech.append(is_speech)
        self._pitch.append(frame_pitch(np.concatenate((self._previous, samples))) if is_speech else math.nan)
        self._frames.append(samples if is_speech else None)
        self._previous = samples
        if is_speech:
            self._on_speech_frame(frame_start, dbfs)

        decision = self._judge_utterance()
        if decision is not None:
            return decision
        if self._now_ms >= cfg.max_decision_ms:
            return self._at_deadline()
        return None

    def _on_speech_frame(self, frame_start: int, dbfs: float) -> None:
        cfg = self.config
        gap = frame_start - self._last_speech_ms
        # The utterance's peak level, leaving out its last 200 ms (a voice's own onset ramp).
        while self._recent_speech and self._recent_speech[0][0] <= frame_start - _ONSET_MS:
            self._utterance_peak_dbfs = max(self._utterance_peak_dbfs, self._recent_speech.popleft()[1])
            self._aged_frames += 1
        self._recent_speech.append((frame_start, dbfs))
        if (
            self._utterance_start_ms >= 0
            and self._aged_frames >= _MIN_BACKGROUND_FRAMES
            and dbfs > self._utterance_peak_dbfs + cfg.talker_range_db
        ):
            # A voice far louder than anything in the utterance so far: what came before was the
            # room (a television, people talking), and the person on the line starts only now.
            self._utterance_start_ms = -1
            self._first_speech_ms = None
            self._recent_speech.clear()
            self._utterance_peak_dbfs = _NO_LEVEL
            self._aged_frames = 0
            self._longest_phrase_ms = 0
            self._cadence_ms = -10_000  # the cached cadence described the room
            gap = cfg.word_gap_ms + FRAME_MS
        if gap <= cfg.word_gap_ms:
            # Bridge short dips (stops, syllable boundaries): they are part of the word.
            self._word_speech_ms += gap + FRAME_MS
            self._word_voiced_ms += FRAME_MS
        else:
            if self._utterance_start_ms >= 0:
                self._longest_phrase_ms = max(self._longest_phrase_ms, self._word_speech_ms)
            self._word_start_ms = frame_start
            self._word_speech_ms = FRAME_MS
            self._word_voiced_ms = FRAME_MS
        self._last_speech_ms = frame_start + FRAME_MS
        if self._utterance_start_ms >= 0:
            # Dips inside a word count toward the greeting's length; pauses between phrases do not.
            self._utterance_speech_ms += gap + FRAME_MS if 0 < gap <= cfg.word_gap_ms else FRAME_MS
        elif self._word_speech_ms >= cfg.min_word_ms:
            # A burst long enough to be a word opens the utterance (clicks never do).
            self._utterance_start_ms = self._word_start_ms
            self._utterance_speech_ms = self._word_voiced_ms
            if self._first_speech_ms is None:
                self._first_speech_ms = self._word_start_ms

    def _judge_utterance(self) -> AmdDecision | None:
        cfg = self.config
        if self._utterance_start_ms < 0:
            return None
        longest = max(self._longest_phrase_ms, self._word_speech_ms)
        if (
            self._utterance_speech_ms >= cfg.greeting_max_ms
            and longest >= cfg.phrase_min_ms
            and self._one_talker()
            and not self._asks_questions(longest)
            and self._talker_holds_greeting()
        ):
            return self._decide(AmdLabel.MACHINE, "long_greeting")
        silence = self._now_ms - self._last_speech_ms
        if silence >= cfg.after_greeting_silence_ms:
            # A short utterance, then the far end waits: that is a person expecting an answer.
            return self._decide(AmdLabel.HUMAN, "short_utterance")
        if (
            cfg.question_silence_ms
            and silence >= cfg.question_silence_ms
            and self._question_pause_ms != self._last_speech_ms
            and self._utterance_speech_ms < cfg.greeting_max_ms
        ):
            # A question, then silence: the person is already waiting for the caller, and each
            # 100 ms sooner matters. Looked at once per pause, when the silence reaches the mark.
            self._question_pause_ms = self._last_speech_ms
            cadence = self.cadence()
            rise = cadence.last_rise if cadence is not None else None
            if rise is not None and rise >= cfg.question_rise_st_per_s:
                return self._decide(AmdLabel.HUMAN, "question")
        return None

    def _asks_questions(self, longest_ms: int) -> bool:
        """Whether a phrase of the utterance ended as a question and none was too long for a person.

        Why: "Hello? ... Hello, who is this?" can reach the greeting length with one 1.3 s phrase;
        a person who asks is left to the deadline, where the cadence model weighs the whole answer.
        """
        if longest_ms >= self.config.question_phrase_max_ms:
            return False
        # Measuring costs about 0.2 ms, so an utterance held back here is measured again every
        # 200 ms rather than on every 20 ms frame until the deadline.
        if self._now_ms - self._cadence_ms >= _CADENCE_RECHECK_MS:
            self._cadence_ms = self._now_ms
            self._cadence = self.cadence()
        return self._cadence is not None and self._cadence.end_rise >= self.config.question_rise_st_per_s

    def _talker_holds_greeting(self) -> bool:
        """Whether the utterance is still a greeting when measured from its talker's first word.

        Why: the speech gate learns the talker's level as it goes, so before the person's first
        word, sound from the room or a noisy line can pass it and be bridged into their first
        phrase, making "Hello? Who is this?" look like a 1.2 s read sentence. Measured again
        against the level the talker reached, that lead-in drops out (see
        `AmdConfig.greeting_talker_range_db`). Asked only once the cheaper conditions hold (about
        30 µs over a 3.5 s utterance).
        """
        cfg = self.config
        start = self._utterance_start_ms // FRAME_MS
        speech_ms, longest_ms = talker_phrases(
            self._speech[start:],
            self._levels[start:],
            cfg.greeting_talker_range_db,
            cfg.word_gap_ms // FRAME_MS,
            _ONSET_MS // FRAME_MS,
        )
        return speech_ms >= cfg.greeting_max_ms and longest_ms >= cfg.phrase_min_ms

    def _one_talker(self) -> bool:
        levels = self._levels[self._utterance_start_ms // FRAME_MS :]
        if len(levels) < 2:
            return False
        low, high = np.percentile(levels, (10, 90))
        return float(high - low) >= self.config.min_level_swing_db

    def cadence(self, repetition: bool = False) -> Cadence | None:
        """Rhythm of the current utterance so far (see `media.amd_cadence`), None before any word.

        Args:
            repetition: also measure how alike its phrases sound (a few milliseconds; the deadline
                model needs it, the rules before the deadline do not).
        """
        if self._utterance_start_ms < 0:
            return None
        start = self._utterance_start_ms // FRAME_MS
        frames = self._frames[start:] if repetition else None
        return measure(self._speech[start:], self._levels[start:], self._pitch[start:], frames)

    def _at_deadline(self) -> AmdDecision:
        cfg = self.config
        if self._first_speech_ms is None:
            return self._decide(AmdLabel.UNKNOWN, "silence")
        silence = self._now_ms - self._last_speech_ms
        short = self._utterance_speech_ms < cfg.timeout_machine_speech_ms
        if self._utterance_start_ms >= 0 and short and silence >= cfg.timeout_human_silence_ms:
            return self._decide(AmdLabel.HUMAN, "short_utterance")
        cadence = self.cadence(repetition=True)
        if cadence is None:
            return self._decide(AmdLabel.UNKNOWN, "undecided")
        # Why a model here: "still talking at the deadline" is true of a late greeting and of a
        # person asking "Hello? ... Hello?" into silence alike; the phrase lengths, pauses, endings
        # and repetitions tell them apart (see media.amd_deadline).
        machine = (self._deadline_model or shipped_model()).machine_probability(cadence)
        if (
            self._utterance_speech_ms >= cfg.timeout_machine_speech_ms
            and self._now_ms - self._utterance_start_ms >= cfg.timeout_machine_span_ms
            and max(self._longest_phrase_ms, self._word_speech_ms) >= cfg.timeout_machine_phrase_ms
            and machine >= cfg.timeout_machine_probability
            and self._one_talker()
        ):
            return self._decide(AmdLabel.MACHINE, "long_greeting")
        if machine <= cfg.timeout_human_probability:
            return self._decide(AmdLabel.HUMAN, "cadence")
        return self._decide(AmdLabel.UNKNOWN, "undecided")


def detect(samples: np.ndarray, config: AmdConfig | None = None) -> AmdDecision:
    """Run the streaming detector over a whole recording, 20 ms at a time, as a call would.

    Args:
        samples: 8 kHz PCM16 samples (int16 or float at PCM16 scale).
        config: detector configuration.

    Returns:
        The decision; UNKNOWN ("undecided") if the audio ends before any rule fires.
    """
    detector = AnsweringMachineDetector(config)
    for start in range(0, len(samples) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        decision = detector.feed(samples[start : start + FRAME_SAMPLES])
        if decision is not None:
            return decision
    return AmdDecision(AmdLabel.UNKNOWN, "undecided", detector.elapsed_ms, None)

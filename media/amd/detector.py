"""Answering-machine detection (AMD) on the first seconds of received audio after answer.

Streams 20 ms PCM16 8 kHz frames and decides human / machine / unknown from what real calls show:

- a person answers with a short utterance ("Hello?") or one fluent sentence of up to about 3 s
  ("Hello, this is Maria, how can I help you?") and then waits in silence for the caller to
  speak: an utterance no longer than people's followed by 900 ms of the talker's silence is a
  person (`short_utterance`, `sentence_then_pause`), sound far below their voice (talk in the
  room, wind) not counting as talk;
- a person who hears nothing asks again ("Hello? ... Hello? ... Can I help you?"): short bursts,
  each followed by a pause for the answer, often ending rising, often the same words again. At
  the deadline a tree model of this cadence (`media.amd.cadence` measures it, `media.amd.deadline`
  weighs it) tells them from a greeting that is still going;
- a machine (voicemail greeting, carrier announcement, call screener) talks on past where people
  stop, with only short pauses between sentences, and often ends in a beep: 3.3 s of speech in
  one utterance, from one talker at one level and pitch, still going a second after its last
  pause, is a greeting (`long_greeting`); after a wait for an answer (600 ms) a person asks again
  with a short phrase, so there the talk must go on for 1.6 s. At the deadline the cadence model
  decides (`cadence`), unless the talker (`media.amd.talker`) may be a person waiting;
- a beep (a stable pure tone, see `media.audio.tones`) means a machine;
- greeting words ("leave a message", "after the tone", "screening service", see `media.amd.keywords`)
  mean a machine, whether they come from a local keyword spotter or from the AI provider's
  transcript.

Errors are not equal: hanging up on a person is worse than talking to a machine, so every rule
that says "machine" needs positive evidence, and a line that stays silent ends as UNKNOWN (the
engine treats it like a person and connects the agent).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from media.amd import talker
from media.amd.cadence import Cadence, frame_pitch, measure, phrase_count, talker_phrases
from media.amd.config import AmdConfig, AmdDecision, AmdLabel
from media.amd.deadline import DeadlineModel, shipped_model
from media.amd.keywords import KeywordSpotter, match_machine_phrase
from media.amd.levels import NoiseFloor, follow_talker, frame_dbfs, passes_speech_gate
from media.audio.tones import FRAME_SAMPLES, Beep, ToneDetector

FRAME_MS = 20
_WARMUP_FRAMES = 5  # 100 ms to learn the line's background level
_NO_LEVEL = -120.0
_ONSET_MS = 200  # a voice reaches its level within this long
_MIN_BACKGROUND_FRAMES = 10  # 200 ms of earlier sound before it can be called background
_CADENCE_RECHECK_MS = 200


class AnsweringMachineDetector:
    """Streaming AMD for one call: feed every received 20 ms frame until it returns a decision.

    Args:
        config: timings and thresholds; defaults suit most campaigns.
        spotter: optional local keyword spotter (any `media.amd.keywords.KeywordSpotter`).
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
        self._floor: NoiseFloor | None = None
        self._warmup: list[np.ndarray] = []
        self._talker_dbfs = _NO_LEVEL
        self._pending = np.zeros(0, dtype=np.float64)
        self._now_ms = 0
        self._decision: AmdDecision | None = None
        # Speech bookkeeping: the current word, the current utterance and the first speech heard.
        self._last_speech_ms = -10_000  # end of the last speech frame
        self._resumed_ms = -10_000  # when the talk last resumed after a pause (`resume_pause_ms`)
        self._breathed_ms = -10_000  # when the talk last resumed after a breath (`breath_pause_ms`)
        self._turned_ms = -10_000  # when the talk last resumed after a wait for an answer (`turn_pause_ms`)
        self._last_talker_ms = -10_000  # end of the last speech frame near the talker's level
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

    @property
    def talker_dbfs(self) -> float | None:
        """The far-end talker's recent peak level (dBFS, fading 1 dB/s), None before any speech."""
        return None if self._talker_dbfs <= _NO_LEVEL else self._talker_dbfs

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
            self._floor = NoiseFloor(min(frame_dbfs(f) for f in self._warmup))
            frames, self._warmup = self._warmup, []
            for frame in frames:
                decision = self._analyse_frame(frame, self._floor)
                if decision is not None:
                    return decision
            return None
        return self._analyse_frame(samples, self._floor)

    def _analyse_frame(self, samples: np.ndarray, noise_floor: NoiseFloor) -> AmdDecision | None:
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

        is_speech = passes_speech_gate(dbfs, floor, cfg.min_speech_dbfs, cfg.speech_margin_db)
        self._talker_dbfs = follow_talker(self._talker_dbfs, dbfs, is_speech)
        if is_speech:
            # Why: background talk is not stationary, so the noise floor does not absorb it. The
            # person on the line is closer to the microphone than anyone behind them: frames far
            # below the talker's recent peak are the room, and a short "hello?" followed by room
            # noise must still read as a short utterance followed by silence. But a frame far above
            # the noise floor is speech all the same: room talk keeps the floor close under itself,
            # and on a quiet line a greeting's soft syllables must not split its sentences.
            is_speech = dbfs >= self._talker_dbfs - cfg.talker_range_db or dbfs >= floor + cfg.clear_speech_db
        self._speech.append(is_speech)
        self._pitch.append(frame_pitch(np.concatenate((self._previous, samples))) if is_speech else math.nan)
        self._frames.append(samples if is_speech else None)
        self._previous = samples
        if is_speech:
            self._on_speech_frame(frame_start, dbfs)
            if dbfs >= self._talker_dbfs - cfg.talker_silence_range_db or dbfs >= floor + cfg.clear_speech_db:
                self._last_talker_ms = self._now_ms

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
        if self._utterance_start_ms >= 0 and gap >= cfg.resume_pause_ms:
            self._resumed_ms = frame_start
        if self._utterance_start_ms >= 0 and gap >= cfg.breath_pause_ms:
            self._breathed_ms = frame_start
        if self._utterance_start_ms >= 0 and gap >= cfg.turn_pause_ms:
            self._turned_ms = frame_start
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
        greeting_ms = self._greeting_speech_ms()
        if (
            self._utterance_speech_ms >= greeting_ms
            and longest >= cfg.phrase_min_ms
            and self._one_talker()
            and self._now_ms - self._resumed_ms >= cfg.resumed_speech_ms
            and not self._asks_again()
            # Going on means talking now: within a word gap of the talker's last speech.
            and self._now_ms - self._last_talker_ms <= cfg.word_gap_ms
            and not self._asks_questions(longest)
            and self._talker_holds_greeting(greeting_ms)
            and self._talker_still_talking()
        ):
            return self._decide(AmdLabel.MACHINE, "long_greeting")
        # Why the talker's own speech: on a noisy line, talk in the room or gusts keep passing the
        # speech gate after the person has stopped, far below their voice; they are not the
        # person going on (`AmdConfig.talker_silence_range_db`).
        silence = self._now_ms - self._last_talker_ms
        if silence >= cfg.after_greeting_silence_ms:
            # An utterance no longer than people's, then the far end waits: that is a person
            # expecting an answer, whether they said "Hello?" or a whole sentence.
            sentence = self._utterance_speech_ms >= cfg.timeout_machine_speech_ms
            if cfg.read_sentences_min and sentence and self._read_sentences():
                return self._decide(AmdLabel.MACHINE, "read_sentences")
            return self._decide(AmdLabel.HUMAN, "sentence_then_pause" if sentence else "short_utterance")
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

    def _asks_again(self) -> bool:
        """Whether the talk resumed after a wait for an answer and has not yet gone on like a sentence.

        Why: a person who answers with a sentence and hears nothing waits (600 ms or more) and
        asks again ("Hello? Who is this?"), a short phrase; a greeting reads on with short pauses
        between its sentences, and after a longer one its next sentence runs on
        (`AmdConfig.turn_pause_ms`, `AmdConfig.turned_speech_ms`).
        """
        cfg = self.config
        return self._turned_ms > self._utterance_start_ms and self._now_ms - self._turned_ms < cfg.turned_speech_ms

    def _paused_in_utterance(self) -> bool:
        """Whether the talk paused for `breath_pause_ms` or more since the utterance began."""
        return self._utterance_start_ms >= 0 and self._breathed_ms > self._utterance_start_ms

    def _greeting_speech_ms(self) -> int:
        """The speech the long-greeting rule needs: more when the utterance is still one breath.

        Why: a person's answer is one breath of up to about 3.5 s; a greeting reads sentences with
        pauses between them. Without such a pause the talk must go on past where people stop
        (`AmdConfig.one_breath_max_ms`) before it is called a greeting.
        """
        cfg = self.config
        if self._paused_in_utterance():
            return cfg.greeting_max_ms
        return max(cfg.greeting_max_ms, cfg.one_breath_max_ms)

    def _talker_holds_greeting(self, greeting_ms: int) -> bool:
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
            cfg.greeting_phrase_range_db,
        )
        return speech_ms >= greeting_ms and longest_ms >= cfg.phrase_min_ms

    def _read_sentences(self) -> bool:
        """Whether the utterance that just ended was several whole sentences read one after another.

        Why: a short greeting ("Yo, it's Jay. You know the drill. Talk after the beep.") can end
        before the greeting length and fall silent like a person. People answer with one
        sentence, or a sentence and a short question; a recording reads several, each of them
        long, with short pauses between them (`AmdConfig.read_sentences_min`).
        """
        cfg = self.config
        cadence = self.cadence()
        if cadence is None or cadence.speech_ms < cfg.read_sentences_speech_ms:
            return False
        start = self._utterance_start_ms // FRAME_MS
        long_phrases = phrase_count(self._speech[start:], cfg.read_sentence_ms // FRAME_MS)
        return long_phrases >= cfg.read_sentences_min

    def _talker_still_talking(self) -> bool:
        """Whether the talker goes on at their level and pitch (`media.amd.talker.goes_on`)."""
        start = self._utterance_start_ms // FRAME_MS
        return talker.goes_on(self.config, self._levels[start:], self._speech[start:], self._pitch[start:])

    def _one_talker(self) -> bool:
        levels = self._levels[self._utterance_start_ms // FRAME_MS :]
        if len(levels) < 2:
            return False
        low, high = np.percentile(levels, (10, 90))
        return float(high - low) >= self.config.min_level_swing_db

    def cadence(self, repetition: bool = False) -> Cadence | None:
        """Rhythm of the current utterance so far (see `media.amd.cadence`), None before any word.

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
        silence = self._now_ms - self._last_talker_ms
        short = self._utterance_speech_ms < cfg.timeout_machine_speech_ms
        if self._utterance_start_ms >= 0 and short and silence >= cfg.timeout_human_silence_ms:
            return self._decide(AmdLabel.HUMAN, "short_utterance")
        cadence = self.cadence(repetition=True)
        if cadence is None:
            return self._decide(AmdLabel.UNKNOWN, "undecided")
        # Why a model here: "still talking at the deadline" is true of a late greeting and of a
        # person asking "Hello? ... Hello?" into silence alike; the phrase lengths, pauses, endings
        # and repetitions tell them apart (see media.amd.deadline).
        machine = (self._deadline_model or shipped_model()).machine_probability(cadence)
        # The span is measured from the talker's first word: sound from the room before it (which
        # opened the utterance) does not make a late pick-up look like a long greeting.
        start = self._utterance_start_ms // FRAME_MS
        bounds = talker.bounds(self.config, self._speech[start:], self._levels[start:])
        span = self._now_ms - (self._utterance_start_ms + bounds[0] if bounds else self._utterance_start_ms)
        if (
            self._utterance_speech_ms >= cfg.timeout_machine_speech_ms
            and span >= cfg.timeout_machine_span_ms
            and max(self._longest_phrase_ms, self._word_speech_ms) >= cfg.timeout_machine_phrase_ms
            and machine >= cfg.timeout_machine_probability
            and self._one_talker()
        ):
            talker_silence = self._now_ms - (self._utterance_start_ms + bounds[1]) if bounds else None
            held = talker.may_be_waiting(cfg, span, silence, self._paused_in_utterance(), talker_silence)
            if held is None:
                return self._decide(AmdLabel.MACHINE, "cadence")
            # The model says machine, but a person may be on the line: connect, and say why.
            return self._decide(AmdLabel.UNKNOWN, "undecided", f"P(machine) {machine:.2f}, held back: {held}")
        # The model was fitted on utterances of 2 s and more: a shorter one still under way at a
        # campaign's early deadline is undecided, not a person.
        long_enough = self._now_ms - self._utterance_start_ms >= cfg.timeout_machine_span_ms
        if machine <= cfg.timeout_human_probability and long_enough:
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

"""AMD settings and results: what answered (`AmdLabel`), the per-campaign timings and thresholds
(`AmdConfig`) and the verdict with the rule behind it (`AmdDecision`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import StrEnum


class AmdLabel(StrEnum):
    """What answered the call."""

    HUMAN = "human"  # a person: connect the agent now
    MACHINE = "machine"  # voicemail, carrier announcement or call screener
    UNKNOWN = "unknown"  # no evidence either way by the deadline (silent line, late speech)


@dataclass(frozen=True, slots=True)
class AmdConfig:
    """Per-campaign AMD timings and thresholds.

    Attributes:
        max_decision_ms: the decision is due this long after answer, whatever was heard. 5 s by
            default: people who answer with a whole sentence of up to 3 s, starting up to a second
            after answer, have stopped and been heard waiting by then; a greeting still going by
            then has talked longer than people do. A campaign may set 1-10 s; below
            `greeting_max_ms` the long-greeting rule never fires and the deadline decides.
        greeting_max_ms: speech in one utterance (phrases with pauses shorter than
            `after_greeting_silence_ms`) longer than this is a machine's greeting, provided one of
            its phrases lasted `phrase_min_ms`. People answer with at most about 3 s in one go
            ("Hello, this is Maria, how can I help you?"); Twilio's default speech threshold is
            2.4 s. It must be speech that goes on past where people stop.
        one_breath_max_ms: an utterance with no pause of `breath_pause_ms` or more inside it is
            one breath, and one breath is a greeting only past this much speech (`greeting_max_ms`
            needs a pause, a second sentence, before it). People answer with one fluent sentence
            of up to about 3.5 s ("Hello, this is Maria Lopez speaking, how can I help you?"),
            fast or slow; a recording reads sentences with pauses between them. Below
            `greeting_max_ms` it changes nothing.
        breath_pause_ms: see `one_breath_max_ms`. People's one-sentence answers that reach 3 s of
            speech pause under 450 ms inside them (commas); greetings read sentence by sentence
            pause 300-800 ms between sentences.
        timeout_one_breath_span_ms: at the deadline, the cadence model may call an utterance
            with no pause of `breath_pause_ms` inside it a machine only if it began at least this
            long ago: a person who picked up late can be in the middle of, or just past, their
            one sentence of up to 3.5 s when the deadline comes. Hanging up on them is worse than
            talking to a machine, so such an utterance is left UNKNOWN (connected). So is one
            begun that recently whose talker has been quiet for `timeout_sentence_end_ms`, pause
            or not: on a real line soft sounds drop under the speech gate, so one spoken sentence
            can show a pause of 450 ms, and this one may just have ended.
        timeout_sentence_end_ms: see `timeout_one_breath_span_ms`.
        timeout_waiting_silence_ms: nor may it call a machine a far end that has been silent
            this long at the deadline: it has stopped and is waiting, as people do. Greetings
            pause between sentences for less (0.15-0.6 s).
        min_level_swing_db: a greeting is one talker, whose level swings between syllables and
            pauses: the frames since the utterance began must spread at least this far between
            their 10th and 90th percentile levels. Several people talking at once in the room
            behind a silent callee fill each other's gaps and swing less (about 10 dB).
        phrase_min_ms: a recorded greeting holds at least one phrase (speech without a pause
            longer than `word_gap_ms`) this long; a person who says "Hello? ... Who is this?"
            speaks in shorter bursts, so a long utterance made only of short phrases waits for
            the deadline rules instead.
        after_greeting_silence_ms: silence that ends an utterance; an utterance no longer than
            people's ("Hello?" or a whole sentence) followed by this much silence is a person
            waiting for the caller (Asterisk's `afterGreetingSilence` is 800 ms). 900 ms spares
            more greetings that pause between sentences and still connects a person within
            a second of the end of their greeting (FCC: two seconds).
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
            (`media.amd.deadline`: phrase lengths, pauses, phrase endings, trailing silence) to
            give a machine at least this probability. People who keep asking
            "Hello? ... Hello?" into the deadline pause after each question and end them rising.
            0.9 (it was 0.8): when the model is less sure, the far end is left UNKNOWN and
            connected, because hanging up on a person is the worse error.
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
            this off, the default: greetings that pause after a sentence ending high were called
            people by it, and the 900 ms pause alone connects people within a second.
        greeting_phrase_range_db: a phrase whose loudest frame is more than this below the
            utterance's loudest phrase is not counted toward a greeting (talk in the room after
            the person has stopped); a recording keeps its level from sentence to sentence.
        greeting_level_drop_db: the long-greeting rule also needs the last second of speech to
            be within this of the utterance's level (90th percentiles): the talker goes on,
            rather than quieter sound from the room.
        greeting_opening_drop_db: and within this of its first second's level (90th percentiles):
            a person's voice opens the utterance and the room that goes on after them on a noisy
            line (babble, a street) is quieter, while a greeting keeps the level it opened with.
        greeting_pitch_shift_st: and the median pitch of the last second within this many
            semitones of the first second's: the same voice goes on, not other voices.
        resume_pause_ms: a pause at least this long inside an utterance, after which ...
        resumed_speech_ms: ... the talk must have gone on this long before the long-greeting
            rule may fire: a person adds a short "Hello?" after a pause; a greeting reads its
            next sentence.
        turn_pause_ms: a pause at least this long inside an utterance is a wait for an answer;
            after it, the talk must go on for `turned_speech_ms` before the long-greeting rule may
            fire. A person who answered with a sentence and heard nothing waits and asks again
            with a short phrase ("Hello? Who is this?"); a greeting's pauses between sentences
            are mostly shorter, and after a longer one its next sentence runs on.
        turned_speech_ms: see `turn_pause_ms`.
        timeout_talker_waiting_ms: at the deadline, the cadence model may not call a machine a
            far end whose talker's last phrase (phrases `greeting_phrase_range_db` under the
            loudest are the room) ended at least this long ago: the person has stopped and waits
            while the room goes on. Such a far end is left UNKNOWN (`AmdDecision.detail` names
            the guard: `one_breath`, `waiting` or `talker_waiting`).
        talker_silence_range_db: for the silence that ends an utterance, only speech within this
            of the talker's recent peak counts: talk in the room or gusts on a noisy line, far
            below the person's voice, do not keep their utterance going.
        read_sentences_min: an utterance that ends (the pause above) after at least this many
            phrases of `read_sentence_ms` or more, holding `read_sentences_speech_ms` of speech,
            was a short greeting read sentence by sentence, not a person's answer (one sentence,
            perhaps a short question after it). 0 turns this off.
        read_sentence_ms: see `read_sentences_min`.
        read_sentences_speech_ms: see `read_sentences_min`.
        late_beep_window_ms: after an UNKNOWN decision the call is connected and this long is
            still listened to for a machine's beep (`media.amd.late_beep`): a greeting that ran
            past the deadline and ends with a beep becomes a MACHINE decision (`late_beep`), and
            the campaign's machine policy applies. 0 turns this off.
        late_beep_listening_ms: a far end quiet this long after the UNKNOWN decision is a person
            listening to the agent, and the watch ends for good (greetings pause 0.15-0.9 s
            between sentences): a tone in a person's room must never hang up on them.
        late_beep_quiet_ms: the beep must be followed at once by this much quiet, as a machine
            is while it records.
        greet_immediately: the campaign has the agent greet at once instead of staying silent
            while AMD listens (read by the call engine; detection itself is unchanged).
    """

    max_decision_ms: int = 5000
    greeting_max_ms: int = 3300
    one_breath_max_ms: int = 4400
    breath_pause_ms: int = 450
    timeout_one_breath_span_ms: int = 4000
    timeout_waiting_silence_ms: int = 700
    timeout_sentence_end_ms: int = 300
    phrase_min_ms: int = 1300
    min_level_swing_db: float = 15.0
    after_greeting_silence_ms: int = 900
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
    timeout_machine_probability: float = 0.9
    timeout_human_probability: float = 0.5
    greeting_talker_range_db: float = 12.0
    greeting_phrase_range_db: float = 10.0
    greeting_level_drop_db: float = 6.0
    greeting_opening_drop_db: float = 6.0
    greeting_pitch_shift_st: float = 3.5
    resume_pause_ms: int = 450
    resumed_speech_ms: int = 1000
    turn_pause_ms: int = 600
    turned_speech_ms: int = 1600
    timeout_talker_waiting_ms: int = 700
    talker_silence_range_db: float = 12.0
    read_sentences_min: int = 3
    read_sentence_ms: int = 700
    read_sentences_speech_ms: int = 2500
    question_rise_st_per_s: float = 8.0
    question_phrase_max_ms: int = 1600
    question_silence_ms: int = 0
    late_beep_window_ms: int = 15000
    late_beep_listening_ms: int = 1500
    late_beep_quiet_ms: int = 300
    greet_immediately: bool = False

    def __post_init__(self) -> None:
        positive_ms = (
            "max_decision_ms",
            "greeting_max_ms",
            "one_breath_max_ms",
            "breath_pause_ms",
            "timeout_one_breath_span_ms",
            "timeout_waiting_silence_ms",
            "timeout_sentence_end_ms",
            "phrase_min_ms",
            "after_greeting_silence_ms",
            "word_gap_ms",
            "min_word_ms",
            "beep_min_ms",
            "timeout_human_silence_ms",
            "timeout_machine_speech_ms",
            "timeout_machine_span_ms",
            "question_phrase_max_ms",
            "resume_pause_ms",
            "resumed_speech_ms",
            "turn_pause_ms",
            "turned_speech_ms",
            "timeout_talker_waiting_ms",
            "read_sentence_ms",
            "read_sentences_speech_ms",
            "late_beep_listening_ms",
            "late_beep_quiet_ms",
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
        if not isinstance(self.late_beep_window_ms, int) or self.late_beep_window_ms < 0:
            raise ValueError(
                f"AmdConfig.late_beep_window_ms must be a whole number of ms >= 0, got {self.late_beep_window_ms!r}"
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
        if not 0.0 < self.speech_margin_db <= 40.0:
            raise ValueError(f"AmdConfig.speech_margin_db must be in (0, 40], got {self.speech_margin_db}")
        if not 0.0 <= self.min_level_swing_db <= 60.0:
            raise ValueError(f"AmdConfig.min_level_swing_db must be in [0, 60], got {self.min_level_swing_db}")
        if not 3.0 <= self.greeting_talker_range_db <= 60.0:
            raise ValueError(
                f"AmdConfig.greeting_talker_range_db must be in [3, 60], got {self.greeting_talker_range_db}"
            )
        if not 3.0 <= self.greeting_phrase_range_db <= 60.0:
            raise ValueError(
                f"AmdConfig.greeting_phrase_range_db must be in [3, 60], got {self.greeting_phrase_range_db}"
            )
        if not 0.0 < self.greeting_opening_drop_db <= 100.0:
            raise ValueError(
                f"AmdConfig.greeting_opening_drop_db must be in (0, 100], got {self.greeting_opening_drop_db}"
            )
        if not 0.0 < self.greeting_level_drop_db <= 60.0:
            raise ValueError(f"AmdConfig.greeting_level_drop_db must be in (0, 60], got {self.greeting_level_drop_db}")
        if not isinstance(self.read_sentences_min, int) or self.read_sentences_min < 0:
            raise ValueError(
                f"AmdConfig.read_sentences_min must be a whole number >= 0, got {self.read_sentences_min!r}"
            )
        if not 3.0 <= self.talker_silence_range_db <= 60.0:
            raise ValueError(
                f"AmdConfig.talker_silence_range_db must be in [3, 60], got {self.talker_silence_range_db}"
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
        reason: the rule that decided (`short_utterance`, `sentence_then_pause`, `long_greeting`,
            `read_sentences`, `beep`, `keyword`, `transcript`, `question`, `cadence`, `silence`,
            `undecided`; `late_beep` from `media.amd.late_beep` after an UNKNOWN one).
        decided_ms: audio time after answer at which the decision was made.
        first_speech_ms: start of the first speech heard, or None.
        detail: the phrase or beep frequency behind a keyword or beep decision; for an UNKNOWN
            at the deadline that the cadence model would have called a machine, its probability
            and the guard that held it back.
    """

    label: AmdLabel
    reason: str
    decided_ms: int
    first_speech_ms: int | None
    detail: str = ""

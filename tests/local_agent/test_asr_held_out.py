"""The local agent's recognition and intents on held-out answers: phrasings that are not in its answer corpus
(`media.speech.intents.ANSWER_CORPUS`, from which its language model is built), spoken by voices it was never
tuned on: Flite's four voices (a synthesiser the product does not use) and eSpeak NG voices, rates and pitches
other than the product's `en-us` at 165 words per minute. Each answer goes through G.711 mu-law at 8 kHz, as
from a phone.

Scored as rates with thresholds, printed in full: a phrasing set written before the recogniser was tuned on it
would be a better held-out set still, and this one was written first (docs/testing.md, T5, says what was
changed after it).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from media.audio import g711
from media.audio.resample import resample_pcm16
from media.speech.asr import Transcriber
from media.speech.intents import ANSWER_CORPUS, Intent, classify_readings, normalize_text

# What each held-out answer must come out as (an opt-out may be the one the agent asks about first).
ACCEPTED: dict[str, set[Intent]] = {
    "opt_out": {Intent.OPT_OUT, Intent.MAYBE_OPT_OUT},
    "not_interested": {Intent.NOT_INTERESTED, Intent.NO},
    "interested": {Intent.INTERESTED, Intent.YES},
    "call_back": {Intent.CALL_BACK},
}
HELD_OUT: dict[str, tuple[str, ...]] = {
    "opt_out": (
        "please don't ring this number any more",
        "stop phoning me",
        "i never want to hear from you again, take my number off",
        "don't call here again",
        "lose my number",
        "quit calling me",
        "i want to be removed from your calling list",
        "never call this number again",
        "take this number off your list",
        "i don't want any more calls from you",
    ),
    "not_interested": (
        "no i'm good thanks",
        "not for me thanks",
        "i'm not looking for solar",
        "we don't need that",
        "we're all set thank you",
    ),
    "interested": (
        "yeah that sounds interesting",
        "sure i'd love to hear more",
        "okay go on then",
        "i might be interested",
        "yes please send me the details",
    ),
    "call_back": (
        "could you try again tomorrow",
        "ring me back next week",
        "i'm driving can you call later",
        "can you phone me on friday instead",
    ),
}
# (synthesiser, voice, words per minute, pitch); the product's own voice (eSpeak en-us, 165 wpm, 50) is not here
VOICES: tuple[tuple[str, str, int, int], ...] = (
    ("flite", "kal", 0, 0),
    ("flite", "slt", 0, 0),
    ("flite", "awb", 0, 0),
    ("flite", "rms", 0, 0),
    ("espeak-ng", "en-gb-x-rp", 130, 40),
    ("espeak-ng", "en-us+f3", 210, 60),
    ("espeak-ng", "en-gb-scotland", 150, 50),
)
# Thresholds under the measured rates (docs/testing.md keeps the figures): intents right, and opt-outs caught.
MIN_INTENT_RATE = 0.57  # measured 58.9 % of 168
MIN_OPT_OUT_RATE = 0.55  # measured 40 of 70
# Answers that asked for no call back but were scheduled one (15 before a weekday had to be asked for, then 5;
# 4 since a turn is read from its speech).
MAX_FALSE_CALL_BACKS = 4


# A second set, written after the recogniser's last tuning on the set above and scored once (docs/testing.md):
# other phrasings, other voices. Its thresholds sit just under what that one scoring measured.
FRESH: dict[str, tuple[str, ...]] = {
    "opt_out": (
        "please stop ringing me", "get me off your list right now", "i do not want you to call me ever again",
        "remove this number please", "quit ringing this phone", "put my number on the do not call list",
        "i want to opt out of these calls", "no more calls please",
    ),
    "not_interested": (
        "no thanks i'm not interested at all", "we already have one thank you", "not today thanks",
        "i'll pass thank you", "no we don't want it",
    ),
    "interested": (
        "yes that would be great", "sure tell me about it", "yeah i am interested in that",
        "okay that sounds good to me",
    ),
    "call_back": (
        "can you call me back this evening", "i'm at work call me tomorrow", "try me again next week please",
        "ring me again on monday morning",
    ),
}
FRESH_VOICES: tuple[tuple[str, str, int, int], ...] = (
    ("flite", "kal16", 0, 0),
    ("espeak-ng", "en-us+m3", 180, 45),
    ("espeak-ng", "en-029", 160, 55),
    ("espeak-ng", "en-gb-x-gbcwmd", 140, 50),
    ("espeak-ng", "en-us+f4", 190, 65),
)
# Measured 40.0 % and 12 of 40 when first scored; 46.7 % and 15 of 40 since a turn is read from its speech and an
# opt-out needs both readings (that change was measured on this set too, so it is no longer blind).
FRESH_MIN_INTENT_RATE = 0.45
FRESH_MIN_OPT_OUT_RATE = 0.35
# Measured 1: the Caribbean voice's "no thanks i'm not interested at all", read from its speech as "no i off your
# do not call list" and from the whole turn as "your off your delete good off your list for" (opt-out words in
# both). A false opt-out is never harmless; this holds it from growing.
FRESH_MAX_FALSE_OPT_OUTS = 1


@dataclass(frozen=True)
class Heard:
    """One held-out answer as the recogniser heard it."""

    voice: str
    expected: str
    phrase: str
    text: str
    whole: str
    intent: Intent

    @property
    def ok(self) -> bool:
        """The intent is one the answer may have."""
        return self.intent in ACCEPTED[self.expected]


@pytest.fixture(scope="module")
def transcriber() -> Iterator[Transcriber]:
    t = Transcriber(["Would you like a free solar quote?"])
    yield t
    t.close()


def _speak(text: str, voice: tuple[str, str, int, int], workdir: Path) -> bytes:
    """`text` in `voice` as a phone delivers it: 8 kHz, through mu-law, with pauses around it."""
    program, name, wpm, pitch = voice
    binary = shutil.which(program)
    assert binary is not None, f"{program} is missing (tests/peers.py)"
    if program == "flite":
        out = workdir / "speech.wav"
        subprocess.run(  # noqa: S603 - Debian's flite with our text
            [binary, "-voice", name, "-t", text, "-o", str(out)],
            check=True,
            capture_output=True,
        )
        data = out.read_bytes()
    else:
        data = subprocess.run(  # noqa: S603 - Debian's espeak-ng with our text
            [binary, "-v", name, "-s", str(wpm), "-p", str(pitch), "--stdout", text],
            check=True,
            capture_output=True,
        ).stdout
    with wave.open(io.BytesIO(data)) as wav:
        pcm = resample_pcm16(wav.readframes(wav.getnframes()), wav.getframerate(), 8000)
    pcm = b"\0\0" * 2400 + pcm + b"\0\0" * 4000
    return g711.ulaw_to_pcm16(g711.pcm16_to_ulaw(pcm))


def _hear(transcriber: Transcriber, voice: tuple[str, str, int, int], expected: str, phrase: str,
          workdir: Path) -> Heard:
    """One answer as the local agent takes it: both readings of the turn, then the intent they agree on."""
    result = transcriber.transcribe(_speak(phrase, voice, workdir), 8000, whole_turn=True)
    whole = result.whole_turn_text or ""
    intent = classify_readings(result.text, whole).intent
    return Heard(f"{voice[0]}:{voice[1]}", expected, phrase, result.text, whole, intent)


def _show(heard: list[Heard]) -> None:
    for h in heard:
        print(f"{'  ' if h.ok else 'XX'} {h.voice:22} {h.expected:15} {h.phrase!r} -> {h.text!r} "
              f"(whole turn {h.whole!r}) {h.intent}")


def test_held_out_phrasings_are_not_in_the_answer_corpus() -> None:
    corpus = {normalize_text(phrase) for phrase in ANSWER_CORPUS}
    for phrases in HELD_OUT.values():
        for phrase in phrases:
            assert normalize_text(phrase) not in corpus, phrase


@pytest.fixture(scope="module")
def results(transcriber: Transcriber, tmp_path_factory: pytest.TempPathFactory) -> list[Heard]:
    """Every held-out answer in every voice, as the local agent's recogniser and intent matcher took it."""
    workdir = tmp_path_factory.mktemp("held-out")
    heard = [_hear(transcriber, voice, expected, phrase, workdir)
             for voice in VOICES for expected, phrases in HELD_OUT.items() for phrase in phrases]
    _show(heard)
    return heard


def test_held_out_phrasings_and_voices_are_understood_at_the_documented_rate(results: list[Heard]) -> None:
    # given answers the corpus does not hold, in voices other than the product's, heard through a phone line
    rate = sum(h.ok for h in results) / len(results)
    opt_outs = [h for h in results if h.expected == "opt_out"]
    opt_out_rate = sum(h.ok for h in opt_outs) / len(opt_outs)
    per_voice = {v: sum(h.ok for h in results if h.voice == v) for v in dict.fromkeys(h.voice for h in results)}
    print(
        f"held-out intents: {rate:.1%} of {len(results)}; opt-outs caught {opt_out_rate:.1%} of {len(opt_outs)}; "
        f"right per voice {per_voice} of {len(results) // len(VOICES)}"
    )
    # then the recogniser gets them right at least as often as documented
    assert rate >= MIN_INTENT_RATE, rate
    assert opt_out_rate >= MIN_OPT_OUT_RATE, opt_out_rate


def test_held_out_answers_that_are_no_opt_out_are_never_recorded_as_one(results: list[Heard]) -> None:
    # a false opt-out silently removes a customer from every campaign: none of the other held-out answers, in
    # any voice, may be recorded at once (the agent may still ask about one)
    wrong = [(h.voice, h.phrase, h.text) for h in results if h.expected != "opt_out" and h.intent is Intent.OPT_OUT]
    assert wrong == [], wrong


def test_few_held_out_answers_schedule_a_call_back_nobody_asked_for(results: list[Heard]) -> None:
    # a false call-back calls a person again on a day they never named (and one who opted out, or declined)
    wrong = [(h.voice, h.phrase, h.text) for h in results if h.expected != "call_back" and h.intent is Intent.CALL_BACK]
    print(f"false call-backs: {len(wrong)} of {sum(h.expected != 'call_back' for h in results)}")
    assert len(wrong) <= MAX_FALSE_CALL_BACKS, wrong


def test_a_fresh_set_scored_once_is_understood_at_its_measured_rate(
        transcriber: Transcriber, tmp_path_factory: pytest.TempPathFactory) -> None:
    corpus = {normalize_text(phrase) for phrase in ANSWER_CORPUS}
    assert not [p for phrases in FRESH.values() for p in phrases if normalize_text(p) in corpus]
    workdir = tmp_path_factory.mktemp("fresh")
    heard = [_hear(transcriber, voice, expected, phrase, workdir)
             for voice in FRESH_VOICES for expected, phrases in FRESH.items() for phrase in phrases]
    _show(heard)
    rate = sum(h.ok for h in heard) / len(heard)
    opt_outs = [h for h in heard if h.expected == "opt_out"]
    opt_out_rate = sum(h.ok for h in opt_outs) / len(opt_outs)
    false_opt_outs = [
        (h.voice, h.phrase, h.text) for h in heard if h.expected != "opt_out" and h.intent is Intent.OPT_OUT
    ]
    print(f"fresh intents: {rate:.1%} of {len(heard)}; opt-outs caught {opt_out_rate:.1%}; false {false_opt_outs}")
    assert rate >= FRESH_MIN_INTENT_RATE, rate
    assert opt_out_rate >= FRESH_MIN_OPT_OUT_RATE, opt_out_rate
    assert len(false_opt_outs) <= FRESH_MAX_FALSE_OPT_OUTS, false_opt_outs

"""Measure a local machine-phrase check for the far ends the detector leaves undecided.

Usage:
    python bench/amd_keywords.py DIR [DIR ...] [--seconds S]

Streams every DIR/*.wav through the detector (as `bench/amd.py` does); for each file decided UNKNOWN,
reads its first S seconds (5 by default: what the detector heard by its deadline) with the local agent's
recogniser (`media.speech.asr.Transcriber`, PocketSphinx at 8 kHz) over a language model of machine phrases
and short answers, and looks for a machine phrase in the words. Prints one line per file and, last, per truth
(human or machine) how many the check would call machines, split by whether the cadence model had already
called the file a machine and a guard held it back, then the recogniser's CPU per audio second.

A check that calls any of the people a machine cannot decide a call on its own: the people among these files
are the ones the detector already found hardest (late pick-ups still in their sentence at the deadline).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.amd import undecided_recordings
from media.amd import AmdConfig
from media.speech.asr import Transcriber

# Strong voicemail, carrier and screener phrases only: "you've reached ..." is also how people answer a
# business line ("Hello, you've reached Kate, oh wait, hi, who is this?"), so it is not here.
MACHINE_WORDS: tuple[str, ...] = (
    "leave a message", "leave your message", "leave me a message", "leave us a message", "leave your name and number",
    "after the tone", "after the beep", "at the tone", "at the beep", "not available", "unavailable",
    "can't come to the phone", "can not come to the phone", "can't take your call", "can not take your call",
    "unable to take your call", "get back to you",
    "call you back", "voicemail", "voice mail", "mailbox", "record your message", "say your name",
    "state your name", "reason for your call", "why you're calling", "screening service",
    "the person you are calling", "sorry i missed your call", "we're not home right now", "not here right now",
)
# Short answers, written for this check (not the generator's phrases), so people's words have somewhere to go.
ANSWERS: tuple[str, ...] = (
    "hello", "hello who is this", "hi this is", "yes hello", "who's calling", "who is calling please",
    "how can i help you", "can i help you", "speaking", "hello hello", "yeah", "what is this about",
    "good morning", "good afternoon", "this is the office", "how may i help you", "hi who is this",
    "hello is anybody there", "yes who's this",
)


def machine_phrase(words: str) -> str | None:
    """The first of `MACHINE_WORDS` among `words` (whole words), or None."""
    padded = f" {words} "
    return next((phrase for phrase in MACHINE_WORDS if f" {phrase} " in padded), None)


def main(argv: list[str] | None = None) -> int:
    """Run the check over the undecided files of the given directories and print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    config = AmdConfig()
    transcriber = Transcriber(corpus=[*MACHINE_WORDS, *ANSWERS], max_decoders=1)
    counts: Counter[tuple[str, str, str]] = Counter()
    cpu = audio = 0.0
    try:
        for file in undecided_recordings(args.dirs, config):
            pcm = file.samples[: int(args.seconds * 8000)].astype("<i2").tobytes()
            heard = transcriber.transcribe(pcm, 8000)
            cpu, audio = cpu + heard.cpu_seconds, audio + heard.audio_seconds
            phrase = machine_phrase(heard.text)
            held = "held back" if "held back" in file.decision.detail else "not called"
            counts[(file.truth, held, "machine phrase" if phrase else "none")] += 1
            print(f"{file.path.parent.name}/{file.path.name} {held} phrase={phrase!r} words={heard.text!r}")
    finally:
        transcriber.close()
    for (truth, held, found), n in sorted(counts.items()):
        print(f"{truth} ({held} by the cadence model): {found} {n}")
    for truth in ("human", "machine"):
        called = sum(n for (t, _, f), n in counts.items() if t == truth and f == "machine phrase")
        undecided = sum(n for (t, _, _), n in counts.items() if t == truth)
        print(f"{truth}: {called} of {undecided} undecided called machines")
    print(f"recogniser_cpu_s_per_audio_s={cpu / audio if audio else 0.0:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

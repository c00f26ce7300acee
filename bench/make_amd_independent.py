"""Generate an AMD benchmark set from voices and phrases the detector was never tuned on.

Usage:
    python bench/make_amd_independent.py OUT_DIR [--count N] [--seed S]

`bench/make_amd_set.py` draws its people and machines from eSpeak NG voices split into train,
heldout and test pools; the detector's settings and its deadline model were chosen on the first
two, and its "blind" test pool is still the same engine, variants and phrase styles. This set is
made apart from all of them:

- **voices:** Flite (a different synthesiser, with its own recorded-speaker voices kal, awb, rms,
  slt) when it is installed, and eSpeak NG variants no pool of the generator uses, at speeds
  outside the generator's (fast talkers at 235-290 words per minute) as well as inside;
- **phrases:** people answer with one breath of 1.5-3.5 s ("Hello, this is Maria Lopez speaking,
  how can I help you?", business answers, a name and a question) that appears in no pool; machines
  read greetings of their own (personal, business, carrier) with or without a beep.

Writes OUT_DIR/{human,machine}-indep-<scenario>-<n>.wav (8 kHz mono PCM16; the channel, noise and
G.711 coding of `make_amd_set.degrade`) and OUT_DIR/truth.json (where each person's first
utterance ends), deterministic for a given count, seed and set of installed synthesisers.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The generator sits beside this script, not in a package.
from make_amd_set import (
    RATE,
    TRUTH_FILE,
    VOICES,
    beep,
    degrade,
    resample,
    silence,
    speech_level,
    write_wav,
)

# One breath, 1.5-3.5 s: none of these is in any pool of `make_amd_set`.
ONE_BREATH = [
    "Hello, this is Maria Lopez speaking, how can I help you?",
    "Good afternoon, Riverside Veterinary Clinic, this is Janet.",
    "Hi, this is Kevin O'Brien, who am I speaking with?",
    "Hello, Martinez Auto Repair, Luis speaking, what can I do for you?",
    "Yes, hello, this is Deborah, may I ask who's calling?",
    "Hi there, you've got Sam at the front desk, how can I help?",
    "Hello, this is Professor Whitfield's office, Carol speaking.",
    "Hey, it's Jordan, sorry, I didn't catch the number, who is this?",
    "Good morning, Oakwood Realty, Patricia speaking, how may I direct your call?",
    "Hello, Ahmed here, what can I do for you today?",
    "Hi, this is Rebecca from accounting, how can I help you?",
    "Hello, Brian Kowalski speaking, who's this?",
    "Northside Pharmacy, this is Derek, how can I help you?",
    "Hello? Yes, this is Margaret, who is calling, please?",
]

GREETINGS = [
    "Hi, you've reached Elena. I'm away from my phone at the moment. "
    "Please leave your name and number and I'll call you back as soon as I can.",
    "Thank you for calling Harbor Insurance. Our office is currently closed. "
    "Our hours are Monday to Friday, nine to five. Please leave a message.",
    "Hey, this is Marcus. Can't talk right now. Leave a message, or better yet, send me a text.",
    "You've reached the Nakamura residence. We're unable to come to the phone. "
    "Please leave a message after the tone and we'll return your call.",
    "The number you have dialed is not available. Please try your call again later. This is a recording.",
    "Hello, you have reached Doctor Alvarez. If this is an emergency, please hang up and dial "
    "nine one one. Otherwise, leave a message.",
    "Hi, it's Priya. I'm either on the other line or away from my desk. Leave me a message and I'll get back to you.",
    "Welcome to the voice mailbox of Gregory Stone. I'm not available. Please record your message at the tone.",
]

SCENARIOS = {
    "human": ["one_breath", "one_breath", "one_breath_noisy", "late_one_breath"],
    "machine": ["greeting", "greeting_beep", "greeting_noisy"],
}

FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
# eSpeak NG variant files that no pool of the generator uses, nor a close cousin of one (checked
# against make_amd_set.VOICES by `unused_variants`).
ESPEAK_VARIANTS = (
    "Alicia",
    "Andrea",
    "benjamin",
    "boris",
    "caleb",
    "Denis",
    "Diogo",
    "ed",
    "grandma",
    "grandpa",
    "Henrique",
    "Hugo",
    "iven",
    "Jacky",
    "john",
    "Marco",
    "Mario",
    "norbert",
    "paul",
    "quincy",
    "rob",
    "shelby",
    "Storm",
    "victor",
    "zac",
    "anika",
)
ESPEAK_LANGUAGES = ("en-us", "en-gb", "en-gb-x-rp", "en-029")


@dataclass(frozen=True)
class IndependentVoice:
    """A voice of this set: the engine, its voice name and a speaking-rate setting."""

    engine: str  # "flite" or "espeak"
    name: str
    rate: float  # flite: duration stretch (above 1 is slower); espeak: words per minute


def available_engines() -> tuple[str, ...]:
    """The synthesisers installed here ("flite" only when its command is on the PATH)."""
    return tuple(e for e in ("flite", "espeak") if shutil.which("flite" if e == "flite" else "espeak-ng"))


def unused_variants() -> tuple[str, ...]:
    """The eSpeak NG variants of this set, none of them in the generator's pools."""
    used = {v for _, variants in VOICES.values() for v in variants}
    return tuple(v for v in ESPEAK_VARIANTS if v not in used)


def pick_voice(rng: np.random.Generator, engines: tuple[str, ...]) -> IndependentVoice:
    """A random voice: Flite half the time when installed, else an unused eSpeak NG variant."""
    if "flite" in engines and (rng.random() < 0.5 or "espeak" not in engines):
        return IndependentVoice("flite", str(rng.choice(FLITE_VOICES)), float(rng.uniform(0.75, 1.15)))
    language = str(rng.choice(ESPEAK_LANGUAGES))
    variant = str(rng.choice(unused_variants()))
    # A third are fast talkers, faster than any person of the generator (110-230 wpm).
    wpm = float(rng.uniform(235, 290) if rng.random() < 1 / 3 else rng.uniform(140, 220))
    return IndependentVoice("espeak", f"{language}+{variant}", wpm)


def synthesise(text: str, voice: IndependentVoice) -> np.ndarray:
    """Speak `text` and return float samples at 8 kHz (PCM16 scale), silence trimmed."""
    if voice.engine == "flite":
        # Flite writes only to a file.
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "say.wav"
            stretch = f"duration_stretch={voice.rate:.2f}"
            subprocess.run(
                ["flite", "-voice", voice.name, "--setf", stretch, "-t", text, "-o", str(wav)],
                check=True,
                capture_output=True,
            )
            out = wav.read_bytes()
    else:
        cmd = ["espeak-ng", "-v", voice.name, "-s", str(int(voice.rate)), "--stdout", text]
        out = subprocess.run(cmd, check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(out)) as w:
        rate = w.getframerate()
        raw = w.readframes(w.getnframes())
    speech = resample(np.frombuffer(raw, dtype="<i2").astype(np.float64), rate, RATE)
    level = np.abs(speech)
    active = np.flatnonzero(level > 0.02 * (level.max() + 1e-9))
    return speech if len(active) == 0 else speech[max(active[0] - 40, 0) : active[-1] + 40]


def one_breath(text: str, voice: IndependentVoice, low_s: float = 1.5, high_s: float = 3.5) -> np.ndarray:
    """`text` spoken in one breath of `low_s`-`high_s` seconds, re-read faster or slower to fit."""
    clip = synthesise(text, voice)
    for _ in range(4):
        seconds = len(clip) / RATE
        if low_s <= seconds <= high_s:
            break
        target = high_s * 0.95 if seconds > high_s else low_s * 1.1
        if voice.engine == "flite":
            voice = IndependentVoice("flite", voice.name, voice.rate * target / seconds)
        else:
            voice = IndependentVoice("espeak", voice.name, min(450.0, voice.rate * seconds / target))
        clip = synthesise(text, voice)
    return clip[: int(high_s * RATE)]


def compose(
    rng: np.random.Generator, label: str, scenario: str, engines: tuple[str, ...], level_dbfs: float,
    max_s: float = 8.0,
) -> tuple[np.ndarray, int | None]:
    """The clean audio of one answered call and, for a person, where their greeting ends (ms)."""
    voice = pick_voice(rng, engines)
    parts: list[np.ndarray] = []
    end_ms: int | None = None
    if label == "human":
        # A person answers at once or after picking up, in one breath, then waits for the caller.
        parts.append(silence(rng.uniform(0.9, 1.6) if scenario == "late_one_breath" else rng.uniform(0.0, 0.8)))
        parts.append(speech_level(rng, one_breath(str(rng.choice(ONE_BREATH)), voice), level_dbfs))
        end_ms = sum(len(p) for p in parts) * 1000 // RATE
    else:
        parts.append(silence(rng.uniform(0.1, 1.0)))
        text = str(rng.choice(GREETINGS))
        for sentence in [s.strip() for s in text.split(".") if s.strip()]:
            parts.append(speech_level(rng, synthesise(sentence + ".", voice), level_dbfs))
            parts.append(silence(rng.uniform(0.15, 0.6)))
        if scenario == "greeting_beep":
            parts.append(beep(rng, rng.uniform(400, 2000), rng.uniform(0.2, 1.0)))
    clip = np.concatenate(parts)
    length = max(int(rng.uniform(5.5, 7.0) * RATE), len(clip))
    # A longer `max_s` keeps what follows a late beep (the line's quiet while a machine records).
    length = max(length, min(len(clip) + RATE, int(max_s * RATE))) if max_s > 8.0 else length
    return np.concatenate((clip, np.zeros(length - len(clip))))[: int(max_s * RATE)], end_ms


def make_set(out_dir: Path, count: int, seed: int, max_s: float = 8.0) -> list[Path]:
    """Write `count` files (half people, half machines) and truth.json into `out_dir`.

    Raises:
        RuntimeError: if neither eSpeak NG nor Flite is installed.
    """
    engines = available_engines()
    if not engines:
        raise RuntimeError("need espeak-ng or flite on the PATH")
    out_dir.mkdir(parents=True, exist_ok=True)
    truth: dict[str, dict[str, int | None]] = {}
    paths = []
    for i in range(count):
        rng = np.random.default_rng([seed, 7_000_001, i])
        label = "human" if i % 2 == 0 else "machine"
        scenario = str(rng.choice(SCENARIOS[label]))
        level_dbfs = rng.uniform(-34, -14)
        clean, end_ms = compose(rng, label, scenario, engines, level_dbfs, max_s)
        # Babble for the noisy lines is talk from the generator's test pool: background only.
        samples = degrade(rng, clean, level_dbfs, "test", noisy=scenario.endswith("_noisy"))
        path = out_dir / f"{label}-indep-{scenario}-{i:04d}.wav"
        write_wav(path, samples)
        paths.append(path)
        if end_ms is not None:
            truth[path.name] = {"first_utterance_end_ms": end_ms, "first_phrase_end_ms": end_ms}
    (out_dir / TRUTH_FILE).write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=8.0, help="longest file (a second more after the end)")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    paths = make_set(args.out_dir, args.count, args.seed, args.max_seconds)
    print(f"wrote {len(paths)} files to {args.out_dir} with {', '.join(available_engines())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

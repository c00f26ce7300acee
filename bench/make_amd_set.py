"""Generate a labelled answering-machine-detection test set with eSpeak NG.

Usage:
    python bench/make_amd_set.py OUT_DIR [--split train|heldout|test] [--count N] [--seed S]

Writes OUT_DIR/{human,machine}-<split>-<scenario>-<n>.wav (8 kHz mono PCM16), deterministic for a
given split, count and seed. The splits (train, heldout, test) share no voice variant and no
phrase, and use other noise seeds: defaults are tuned on train, checked on heldout, and test is
scored once at the end, so its figures say how the detector copes with audio it was not tuned on.

Scenarios follow how calls are answered:
  human:   hello_wait (short utterance, then silence, maybe a second "hello?"), at_once (talks from
           the first frame), silence_then_speech (picks up, waits, then speaks), two_phrases
           ("Hello? ... Yes?"), keeps_asking (three or four short questions with short pauses),
           sentence_wait (one fluent sentence of 1.5-3 s: a name, a business answer, a greeting
           and a question, then a wait), sentence_then_short (such a sentence, a 0.5-1.5 s pause,
           then "Hello?"), hello_twice_long_gap ("hello", 2-3 s, "hello"), noisy_line (a short
           answer or a sentence on a noisy line). People talk at 110-230 words per minute.
  machine: long_greeting (personal voicemail, sentences with 0.15-0.6 s pauses, no beep),
           long_pauses (the same with 0.45-0.9 s pauses), greeting_beep (a long greeting, then a
           beep), short_greeting_beep, beep_only, music_beep (hold music, then a beep), carrier
           (network announcement), screener (call screening service).
Every file goes through the same channel: background noise (white, pink, brown, mains hum, street
swells, car, wind gusts, or babble of other voices) at a random SNR, a talker level from -36 to
-12 dBFS, sometimes clipping, a telephone band-pass with random edges and G.711 mu-law coding. A
noisy line (every noisy_line person and 16 % of machines) has 5-15 dB SNR (babble 6-12 dB) and is
clipped a third of the time.

OUT_DIR/truth.json gives, for each human file, where the person's first utterance ends (their
first words and any following within 0.8 s, Asterisk's after-greeting silence) and where their
first phrase ends, in ms after answer.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 8000
TRUTH_FILE = "truth.json"

# Disjoint pools per split: voices (language x variant) and phrases never cross over.
VOICES = {
    "train": (["en-us", "en-gb"], ["m1", "m2", "m3", "f1", "f2", "klatt", "klatt2", "Alex", "belinda", "steph"]),
    "heldout": (
        ["en-gb-scotland", "en-029", "en-gb-x-rp", "en-us-nyc", "en-gb-x-gbclan"],
        ["m4", "m6", "m7", "f3", "f4", "f5", "klatt4", "Annie", "david", "linda", "robert", "travis"],
    ),
    # Evaluated once, after the detector's defaults were fixed on train and heldout.
    "test": (
        ["en-gb-x-gbcwmd", "en-us", "en-gb-scotland"],
        ["m5", "m8", "klatt3", "klatt5", "Andy", "Gene", "Lee", "Michael", "adam", "aunty", "edward", "max"],
    ),
}

HUMAN_PHRASES = {
    "train": [
        "Hello?",
        "Hello.",
        "Hi.",
        "Yeah?",
        "Yes, hello?",
        "Hello, who is this?",
        "Yeah, this is Sam.",
        "Speaking.",
        "Good morning.",
        "Hey, what's up?",
        "Hello, Maria speaking.",
        "Who's calling?",
        "Yes?",
        "Hi, this is Dan.",
    ],
    "heldout": [
        "Hello!",
        "Hey.",
        "Yep?",
        "Hello, yes?",
        "This is Karen.",
        "Good afternoon.",
        "Hi there.",
        "Who is it?",
        "Yes, speaking.",
        "Hello, can I help you?",
        "Hey, it's Mike.",
        "Morning!",
        "Uh, hello?",
        "Peter here.",
    ],
    "test": [
        "Hullo?",
        "Hi, who's this?",
        "Yes, hi.",
        "Hello, Jenny speaking.",
        "Mm-hm?",
        "Hiya.",
        "Yeah, hello?",
        "Evening.",
        "This is Tom.",
        "Hello there.",
        "What is it?",
        "Sorry, who?",
    ],
}

HUMAN_SECOND = {
    "train": [
        "Yes?",
        "Hello?",
        "Anyone there?",
        "Hi?",
        "Who's calling, please?",
        "Can you hear me?",
        "Hi? Hi?",
        "Yes? Yes?",
        "Hello? Anyone?",
    ],
    "heldout": ["Are you there?", "Who is this?", "Yeah?", "Is someone there?", "Hey? Hey?", "Hello, hello?"],
    "test": ["Hello? Hello?", "Can I help you?", "Yes, hello?", "Who's there?", "Anybody?"],
}

LONG_GREETINGS = {
    "train": [
        "Hi, you've reached John Smith. I can't come to the phone right now. Please leave a message after the tone.",
        "Hello, this is Sarah. Sorry I missed your call. Leave your name and number and I'll get back to you.",
        "Hey, it's Mike. I'm not around right now, so leave a message and I'll call you back.",
        "Thank you for calling. Nobody is available to take your call. Please leave a message.",
        "Hi, this is the Johnson family. We can't answer the phone right now, leave us a message.",
        "You have reached the voicemail of Doctor Patel. Please leave a detailed message after the beep.",
        "Hello. This is Anna. I'm probably driving. Text me or leave a message.",
        "Hi, you've reached Tom and Lisa. We're not home right now. Leave a message at the tone.",
    ],
    "heldout": [
        "Hey there, this is Chris. I'm away from my desk at the moment, please leave a short message.",
        "Hello, you have reached Robert Jones at Acme Incorporated. I'm out of the office until Monday.",
        "Hi! It's Emma. Can't talk right now, but leave your number and I will ring you back.",
        "Good day, you've reached the Wilson residence. We're unable to answer, so please leave a message.",
        "This is David. I'm in a meeting. Please leave your name, number, and the reason for your call.",
        "Hi, Jess here. I'm not available. You know what to do after the beep.",
        "Thanks for calling Bright Dental. Our office is now closed. Please call again during business hours.",
        "Hello, Kevin speaking, well, not really, this is my voicemail. Leave a message.",
    ],
    "test": [
        "Hi, you've got Maria. I'm not at my phone, so leave a message and I'll return your call.",
        "Hello, this is Ben Carter. I'm unable to take your call right now. Please leave your details.",
        "Yo, it's Jay. You know the drill. Talk after the beep.",
        "You've reached the front desk of Harbor Hotel. Our staff are assisting other guests right now.",
        "Hey, this is Lucy. I'm on holiday until the twentieth. Leave a message or email me.",
        "Hi there, you have reached Sam and Alex. We'll call you back as soon as we can.",
    ],
}

SHORT_GREETINGS = {
    "train": ["Leave a message.", "It's Sam, leave a message.", "Hi, leave a message.", "Sam. Message please."],
    "heldout": ["Please leave a message.", "Talk to me.", "Emma here, go ahead.", "Leave it at the beep."],
    "test": ["Message, please.", "Jay. Leave one.", "Go ahead.", "You know what to do."],
}

CARRIER = {
    "train": [
        "The person you are calling is not available. Please leave your message after the tone.",
        "The wireless customer you are calling is not available. At the tone, please record your message.",
        "Your call has been forwarded to an automatic voice message system. The number is not available.",
    ],
    "heldout": [
        "The subscriber you have dialed is not available right now. Please try again later.",
        "Please leave a message for five five five, one two three four, after the tone.",
        "The mailbox of the person you are calling is full and cannot accept messages at this time.",
    ],
    "test": [
        "The party you are trying to reach is unavailable. Please record your message at the tone.",
        "Welcome to the voice messaging system. The person at extension two one four is not available.",
    ],
}

SCREENER = {
    "train": [
        "Hi, the person you're calling is using a screening service and will get a copy of this call. "
        "Go ahead and say your name and why you're calling.",
        "Please state your name and the reason for your call, and I will see if this person is available.",
    ],
    "heldout": [
        "Hello, the person you are calling is using a call screening service. Please say your name "
        "and why you are calling.",
        "This call is being screened. Before I connect you, please tell me who you are and what this is about.",
    ],
    "test": [
        "Hi, I'm a virtual assistant screening calls for this number. What's your name and why are you calling?",
        "Thanks for calling. This person uses call screening. Please state your name and purpose after the tone.",
    ],
}

# One fluent sentence of about 1.5-3 s, then a wait: a name introduction, a business-style answer,
# a greeting and a question. Many people answer this way, and it is as long as a short greeting.
HUMAN_SENTENCES = {
    "train": [
        "Hello, this is Maria, how can I help you?",
        "Hi, this is Tom speaking.",
        "Hello? Who is this, please?",
        "Good morning, Smith and Partners, Anna speaking.",
        "Yeah, hi, this is Greg, who's calling?",
        "Hello, you're speaking with Laura Chen.",
        "Hi there, this is Ray, what can I do for you?",
        "Thank you for calling Bella's Bakery, how may I help?",
        "Hello, this is the front office, Nina here.",
        "Hey, it's Carlos, what's going on?",
        "Good evening, Morris residence, who's speaking?",
        "Hi, yes, this is Helen, can I help you?",
    ],
    "heldout": [
        "Hello, Daniel speaking, how can I help?",
        "Hi, this is Olivia, who am I talking to?",
        "Hello? Hello, is anybody there?",
        "Parker Plumbing, this is Joe, how can I help you today?",
        "Yes, hello, this is Frank Miller.",
        "Good afternoon, City Dental, Sophie speaking.",
        "Hey there, this is Nate, what's up?",
        "Hello, this is Ruth, who's this?",
        "Hi, you've got Victor, go ahead.",
        "Hello, accounts department, Priya speaking.",
        "Yeah, this is Steve, who is calling please?",
        "Morning, this is Grace, can I help you with something?",
    ],
    "test": [
        "Hello, this is Irene, how may I help you?",
        "Hi, Marcus here, who's calling?",
        "Hello? Who's on the line?",
        "Green Valley Farm, this is Walter speaking.",
        "Hi, it's Bella, what can I do for you?",
        "Good morning, Hughes and Sons, how can I help?",
        "Yes, this is Doctor Lin's office, Amy speaking.",
        "Hello, you've reached Kate, oh wait, hi, who is this?",
        "Hey, this is Oscar, what's this about?",
        "Hello there, Tina speaking, can I help?",
    ],
}

# Background talk (a television, a busy office) for babble noise; the words do not matter.
BABBLE_TEXT = [
    "and the weather for tomorrow looks cloudy with a chance of rain in the afternoon",
    "we will be right back after these messages from our sponsors",
    "so I told him that the meeting was moved to Thursday at three",
    "the score is now two to one with ten minutes left to play",
    "can you pass me the salt and the pepper please",
    "traffic on the bridge is backed up for about two miles this morning",
]

SCENARIOS = {
    "human": [
        ("hello_wait", 0.14),
        ("at_once", 0.08),
        ("silence_then_speech", 0.07),
        ("two_phrases", 0.08),
        ("keeps_asking", 0.07),
        ("sentence_wait", 0.22),
        ("sentence_then_short", 0.12),
        ("hello_twice_long_gap", 0.06),
        ("noisy_line", 0.16),
    ],
    "machine": [
        ("long_greeting", 0.30),
        ("long_pauses", 0.10),
        ("short_greeting_beep", 0.12),
        ("beep_only", 0.06),
        ("music_beep", 0.06),
        ("carrier", 0.14),
        ("screener", 0.14),
        ("greeting_beep", 0.08),
    ],
}

SPLIT_SEED_OFFSET = {"train": 0, "heldout": 1_000_003, "test": 2_000_029}


@dataclass(frozen=True)
class Voice:
    """One eSpeak NG voice with its speaking rate, pitch and word gap."""

    name: str
    speed_wpm: int
    pitch: int
    word_gap: int


def synthesise(text: str, voice: Voice) -> np.ndarray:
    """Speak `text` with eSpeak NG and return float samples at 8 kHz (PCM16 scale)."""
    cmd = [
        "espeak-ng",
        "-v",
        voice.name,
        "-s",
        str(voice.speed_wpm),
        "-p",
        str(voice.pitch),
        "-g",
        str(voice.word_gap),
        "--stdout",
        text,
    ]
    out = subprocess.run(cmd, check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(out)) as w:
        rate = w.getframerate()
        raw = w.readframes(w.getnframes())
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    speech = resample(samples, rate, RATE)
    # eSpeak pads its output with silence; trim it so the timeline below is ours.
    level = np.abs(speech)
    active = np.flatnonzero(level > 0.02 * (level.max() + 1e-9))
    if len(active) == 0:
        return speech
    return speech[max(active[0] - 40, 0) : active[-1] + 40]


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling in the frequency domain (the clips are short)."""
    n_out = round(len(samples) * rate_out / rate_in)
    spectrum = np.fft.rfft(samples)
    keep = n_out // 2 + 1
    cut = spectrum[:keep].copy()
    if len(cut) < keep:
        cut = np.concatenate((cut, np.zeros(keep - len(cut), dtype=complex)))
    # Taper the top 10% of the new band so the cut-off does not ring.
    taper_len = max(keep // 10, 1)
    cut[-taper_len:] *= np.linspace(1.0, 0.0, taper_len)
    return np.fft.irfft(cut, n_out) * (n_out / len(samples))


def beep(rng: np.random.Generator, freq_hz: float, duration_s: float) -> np.ndarray:
    """A sine beep with short raised-cosine ramps, sometimes with a faint second harmonic."""
    t = np.arange(int(duration_s * RATE)) / RATE
    tone = np.sin(2 * np.pi * freq_hz * t)
    if rng.random() < 0.3:
        tone += 10 ** (-rng.uniform(20, 30) / 20) * np.sin(4 * np.pi * freq_hz * t)
    ramp = min(int(0.005 * RATE), len(t) // 2)
    envelope = np.ones_like(t)
    envelope[:ramp] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp))
    envelope[-ramp:] = envelope[:ramp][::-1]
    return tone * envelope * 32767 * 10 ** (rng.uniform(-22, -8) / 20)


def noise(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """Unit-RMS background noise of one colour (shaped in the frequency domain)."""
    white = rng.standard_normal(n)
    if kind == "white":
        shaped = white
    else:
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(n, 1 / RATE)
        freqs[0] = freqs[1]
        exponent = {"pink": 0.5, "brown": 1.0, "hum": 0.5, "street": 0.7, "car": 1.2, "wind": 1.5}[kind]
        shaped = np.fft.irfft(spectrum / freqs**exponent, n)
        if kind == "car":
            # Engine harmonics over road rumble.
            t = np.arange(n) / RATE
            engine = rng.uniform(25, 45)
            hum = sum(np.sin(2 * np.pi * engine * h * t + rng.uniform(0, 6.3)) / h for h in range(2, 9))
            shaped = shaped / np.std(shaped) + 0.7 * hum / np.std(hum)
        if kind == "wind":
            # Gusts: low-frequency buffeting whose level swings by 20 dB within a second or two.
            gust = np.interp(np.arange(n), np.linspace(0, n, 8), rng.uniform(-20, 0, 8))
            shaped = shaped / np.std(shaped) * 10 ** (gust / 20)
        if kind == "hum":
            t = np.arange(n) / RATE
            mains = rng.choice([50.0, 60.0])
            hum = sum(np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 6.3)) / h for h in (1, 3, 5, 7))
            shaped = shaped / np.std(shaped) + 2.0 * hum / np.std(hum)
        if kind == "street":
            # Slow swells like passing traffic.
            t = np.arange(n) / RATE
            swell = 1.0 + 0.6 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 6.3))
            shaped = shaped * swell
    return shaped / (np.std(shaped) + 1e-12)


def telephone_channel(rng: np.random.Generator, signal: np.ndarray) -> np.ndarray:
    """Band-pass to a telephone band with random edges, then G.711 mu-law encode and decode."""
    n = len(signal)
    spectrum = np.fft.rfft(signal)
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    lo = rng.uniform(200, 350)
    hi = rng.uniform(3100, 3500)
    gain = np.clip((freqs - lo * 0.6) / (lo * 0.4), 0, 1) * np.clip((hi * 1.08 - freqs) / (hi * 0.08), 0, 1)
    filtered = np.fft.irfft(spectrum * gain, n)
    return mulaw_roundtrip(np.clip(filtered, -32768, 32767))


def mulaw_roundtrip(samples: np.ndarray) -> np.ndarray:
    """Quantise through 8-bit G.711 mu-law, as a trunk carries it."""
    mu = 255.0
    x = samples / 32768.0
    encoded = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    quantised = np.round(encoded * 127) / 127
    return np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu * 32768.0


def pick_voice(rng: np.random.Generator, split: str, speeds: tuple[int, int] = (130, 200)) -> Voice:
    """A random voice of the split, with random rate (words per minute, within `speeds`), pitch and word gap."""
    languages, variants = VOICES[split]
    name = f"{rng.choice(languages)}+{rng.choice(variants)}"
    return Voice(name, int(rng.integers(speeds[0], speeds[1] + 1)), int(rng.integers(25, 76)), int(rng.integers(0, 3)))


def silence(seconds: float) -> np.ndarray:
    """Digital silence (noise is added to the whole clip later)."""
    return np.zeros(int(seconds * RATE))


def speech_level(rng: np.random.Generator, speech: np.ndarray, level_dbfs: float) -> np.ndarray:
    """Scale speech to the talker's level (RMS of the clip), give or take 2 dB."""
    rms = np.sqrt(np.mean(speech**2)) + 1e-9
    return speech / rms * 32768 * 10 ** ((level_dbfs + rng.uniform(-2, 2)) / 20)


MAX_SENTENCE_S = 3.0  # people's one-sentence answers are up to 3 s long
# Speech parts closer than this are one utterance, the person's greeting: Asterisk's AMD takes 800 ms
# of silence after the greeting (`afterGreetingSilence`) as its end.
FIRST_UTTERANCE_GAP_S = 0.8


@dataclass
class Timeline:
    """The clean audio of one answered call, built part by part, with where the speech is."""

    parts: list[np.ndarray]
    speech: list[tuple[int, int]]  # (first, end) sample of each spoken part

    def add(self, samples: np.ndarray, spoken: bool = False) -> None:
        """Append a part; `spoken` parts are the far end's words (music and beeps are not)."""
        start = sum(len(p) for p in self.parts)
        self.parts.append(samples)
        if spoken:
            self.speech.append((start, start + len(samples)))

    def first_phrase_end_ms(self) -> int | None:
        """End of the first spoken part (one sentence or a short answer)."""
        return self.speech[0][1] * 1000 // RATE if self.speech else None

    def first_utterance_end_ms(self) -> int | None:
        """End of the first utterance: the first spoken part and any following it by under 0.8 s."""
        if not self.speech:
            return None
        end = self.speech[0][1]
        for start, stop in self.speech[1:]:
            if start - end >= FIRST_UTTERANCE_GAP_S * RATE:
                break
            end = stop
        return end * 1000 // RATE


def music(rng: np.random.Generator, seconds: float, level_dbfs: float) -> np.ndarray:
    """Hold-music-like audio: chords of three harmonic-rich notes changing every 0.2-0.5 s."""
    out: list[np.ndarray] = []
    total = int(seconds * RATE)
    made = 0
    while made < total:
        n = int(rng.uniform(0.2, 0.5) * RATE)
        t = np.arange(n) / RATE
        root = 110.0 * 2 ** (int(rng.integers(0, 24)) / 12)
        note = np.zeros(n)
        for interval in (0, 4, 7):
            f = root * 2 ** (interval / 12)
            note += sum(np.sin(2 * np.pi * f * h * t) / h**1.5 for h in (1, 2, 3, 4))
        note *= np.exp(-t * rng.uniform(1.0, 5.0))
        out.append(note)
        made += n
    clip = np.concatenate(out)[:total]
    rms = np.sqrt(np.mean(clip**2)) + 1e-9
    return clip / rms * 32768 * 10 ** ((level_dbfs - 4) / 20)


def compose(
    rng: np.random.Generator, label: str, scenario: str, split: str, level_dbfs: float, max_s: float = 8.0
) -> tuple[np.ndarray, dict[str, int | None]]:
    """Build the clean timeline of one answered call (before noise and channel), at most `max_s` long.

    Returns:
        The samples and, for a person, where their first utterance and first phrase end (ms after
        answer).
    """
    # People talk fast or slowly; recorded greetings keep to the usual range.
    voice = pick_voice(rng, split, (110, 230) if label == "human" else (130, 200))
    line = Timeline([], [])

    def say(pool: dict[str, list[str]]) -> None:
        line.add(speech_level(rng, synthesise(str(rng.choice(pool[split])), voice), level_dbfs), spoken=True)

    def sentence() -> None:
        """One fluent sentence of at most 3 s: a faster reading if the voice is too slow for it."""
        text = str(rng.choice(HUMAN_SENTENCES[split]))
        spoken = voice
        clip = synthesise(text, spoken)
        for _ in range(3):
            if len(clip) <= MAX_SENTENCE_S * RATE:
                break
            faster = int(spoken.speed_wpm * len(clip) / (MAX_SENTENCE_S * RATE * 0.95)) + 1
            spoken = Voice(spoken.name, min(faster, 400), spoken.pitch, spoken.word_gap)
            clip = synthesise(text, spoken)
        line.add(speech_level(rng, clip[: int(MAX_SENTENCE_S * RATE)], level_dbfs), spoken=True)

    def wait(low: float, high: float) -> None:
        line.add(silence(rng.uniform(low, high)))

    if label == "human":
        if scenario == "hello_wait":
            wait(0.15, 1.0)
            say(HUMAN_PHRASES)
            if rng.random() < 0.5:
                wait(1.5, 2.5)
                say(HUMAN_SECOND)
        elif scenario == "at_once":
            wait(0.0, 0.12)
            say(HUMAN_PHRASES)
        elif scenario == "silence_then_speech":
            wait(1.0, 2.0)
            say(HUMAN_PHRASES)
        elif scenario == "two_phrases":
            wait(0.15, 0.8)
            say(HUMAN_SECOND)
            wait(0.25, 0.5)
            say(HUMAN_SECOND)
        elif scenario == "keeps_asking":  # nobody answers, so the person asks again and again into the deadline
            wait(0.15, 0.8)
            say(HUMAN_SECOND)
            for _ in range(int(rng.integers(2, 4))):
                wait(0.3, 0.8)
                say(HUMAN_SECOND)
        elif scenario == "sentence_wait":
            wait(0.0, 0.9)
            sentence()
        elif scenario == "sentence_then_short":  # a sentence, a pause for the answer, then "Hello?"
            wait(0.0, 0.8)
            sentence()
            wait(0.5, 1.5)
            say(HUMAN_SECOND)
        elif scenario == "hello_twice_long_gap":
            wait(0.1, 0.8)
            say(HUMAN_PHRASES)
            wait(2.0, 3.0)
            say(HUMAN_PHRASES)
        else:  # noisy_line: any of the answers above; the channel makes the line noisy (see `degrade`)
            wait(0.0, 0.9)
            if rng.random() < 0.5:
                sentence()
            else:
                say(HUMAN_PHRASES)
    else:
        if scenario in ("long_greeting", "long_pauses", "greeting_beep"):
            wait(0.1, 1.2)
            text = str(rng.choice(LONG_GREETINGS[split]))
            # Sentences recorded with pauses between them, as people do; some speak slowly between them.
            gaps = (0.45, 0.9) if scenario == "long_pauses" else (0.15, 0.6)
            for sentence_text in [s.strip() for s in text.replace("!", ".").split(".") if s.strip()]:
                line.add(speech_level(rng, synthesise(sentence_text + ".", voice), level_dbfs), spoken=True)
                wait(*gaps)
            if scenario == "greeting_beep":
                line.add(beep(rng, rng.uniform(400, 2000), rng.uniform(0.15, 1.0)))
        elif scenario == "short_greeting_beep":
            wait(0.2, 0.8)
            say(SHORT_GREETINGS)
            wait(0.2, 0.6)
            line.add(beep(rng, rng.uniform(400, 2000), rng.uniform(0.15, 1.0)))
        elif scenario == "beep_only":
            wait(0.3, 1.5)
            line.add(beep(rng, rng.uniform(400, 2000), rng.uniform(0.15, 1.0)))
        elif scenario == "music_beep":
            wait(0.1, 0.6)
            line.add(music(rng, rng.uniform(0.8, 2.5), level_dbfs))
            wait(0.1, 0.4)
            line.add(beep(rng, rng.uniform(400, 2000), rng.uniform(0.15, 1.0)))
        elif scenario == "carrier":
            wait(0.1, 1.0)
            say(CARRIER)
        else:  # screener
            wait(0.1, 1.0)
            say(SCREENER)
    clip = np.concatenate(line.parts)
    length = max(int(rng.uniform(5.0, 7.0) * RATE), len(clip))
    # A longer `max_s` keeps what follows a late beep (the line's quiet while a machine records).
    length = max(length, min(len(clip) + RATE, int(max_s * RATE))) if max_s > 8.0 else length
    padded = np.concatenate((clip, np.zeros(length - len(clip))))[: int(max_s * RATE)]
    if label != "human":
        return padded, {}
    return padded, {
        "first_utterance_end_ms": line.first_utterance_end_ms(),
        "first_phrase_end_ms": line.first_phrase_end_ms(),
    }


def babble(rng: np.random.Generator, n: int, split: str) -> np.ndarray:
    """Unit-RMS background talk: three to five voices of the split, looped and overlapped."""
    total = np.zeros(n)
    for _ in range(int(rng.integers(3, 6))):
        talk = synthesise(str(rng.choice(BABBLE_TEXT)), pick_voice(rng, split))
        talk = talk / (np.std(talk) + 1e-9) * 10 ** (rng.uniform(-6, 0) / 20)
        looped = np.tile(talk, n // len(talk) + 2)
        start = int(rng.integers(0, len(talk)))
        total += looped[start : start + n]
    return total / (np.std(total) + 1e-12)


def degrade(
    rng: np.random.Generator, clean: np.ndarray, level_dbfs: float, split: str, noisy: bool = False
) -> np.ndarray:
    """Add background noise at a random SNR and pass the call through the telephone channel.

    A `noisy` line (a street, a car, wind on the microphone, loud talk in the room) has 5-15 dB SNR
    and is often clipped by a phone that sets its gain too high.
    """
    loud = ["street", "car", "wind", "babble"]
    kind = str(rng.choice(loud if noisy else ["white", "pink", "brown", "hum", *loud]))
    if kind == "babble":
        # Talk in the room: from loud (12 dB under the talker, 6 on a noisy line) to faint.
        snr = rng.uniform(6, 12) if noisy else rng.uniform(12, 30)
        background = babble(rng, len(clean), split) * 32768 * 10 ** ((level_dbfs - snr) / 20)
    else:
        # SNR from a noisy street (12 dB; 5 on a noisy line) to a quiet line (45 dB).
        noise_dbfs = level_dbfs - (rng.uniform(5, 15) if noisy else rng.uniform(12, 45))
        background = noise(rng, len(clean), kind) * 32768 * 10 ** (noise_dbfs / 20)
    mixed = clean + background
    if rng.random() < (0.35 if noisy else 0.05):
        # Clipping: the talker's peaks driven 6-15 dB past full scale.
        peak = np.max(np.abs(clean)) + 1e-9
        mixed = np.clip(mixed * 32767 / peak * 10 ** (rng.uniform(6, 15) / 20), -32767, 32767)
    return telephone_channel(rng, mixed)


def write_wav(path: Path, samples: np.ndarray) -> None:
    """Write 8 kHz mono PCM16."""
    pcm = np.clip(np.round(samples), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def pick_scenario(rng: np.random.Generator, label: str) -> str:
    """A scenario for the label, by the weights in SCENARIOS."""
    names, weights = zip(*SCENARIOS[label], strict=True)
    return str(rng.choice(names, p=np.array(weights) / sum(weights)))


def make_set(out_dir: Path, split: str, count: int, seed: int, max_s: float = 8.0) -> list[Path]:
    """Generate `count` files (half human, half machine) into `out_dir`.

    Args:
        out_dir: created if missing.
        split: "train" or "heldout" (disjoint voices and phrases).
        count: number of files.
        seed: base seed; each file draws from its own generator so files are reproducible alone.
        max_s: longest file (8 s: AMD's deadline and a little after; more for what follows a late beep).

    Returns:
        The written paths.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    truth: dict[str, dict[str, int | None]] = {}  # only people have entries
    for i in range(count):
        rng = np.random.default_rng([seed + SPLIT_SEED_OFFSET[split], i])
        label = "human" if i % 2 == 0 else "machine"
        scenario = pick_scenario(rng, label)
        # From a quiet line (-36 dBFS) to a loud one.
        level_dbfs = rng.uniform(-36, -12)
        clean, ends = compose(rng, label, scenario, split, level_dbfs, max_s)
        noisy = scenario == "noisy_line" or (label == "machine" and rng.random() < 0.16)
        samples = degrade(rng, clean, level_dbfs, split, noisy)
        path = out_dir / f"{label}-{split}-{scenario}-{i:04d}.wav"
        write_wav(path, samples)
        paths.append(path)
        if ends:
            truth[path.name] = ends
    # Where each person's first utterance ends, for the time to the human decision (`bench/amd.py`).
    (out_dir / TRUTH_FILE).write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--split", choices=sorted(VOICES), default="train")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-seconds", type=float, default=8.0, help="longest file (a second more after the end)")
    args = parser.parse_args(argv)
    paths = make_set(args.out_dir, args.split, args.count, args.seed, args.max_seconds)
    print(f"wrote {len(paths)} files to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

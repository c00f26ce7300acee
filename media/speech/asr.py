"""Speech recognition of finished caller turns with PocketSphinx (the English model its PyPI wheel carries).

Two measures make PocketSphinx usable on telephone audio:

* **A small language model of expected answers.** The wheel's general English model misrecognises most
  short answers on 8 kHz audio; a bigram model built here from :data:`~media.speech.intents.ANSWER_CORPUS`
  plus the script's own questions (and extra phrases) turns "please stop calling me" from noise into
  the right words, and costs a tenth of the CPU. A trigram model with a high language weight keeps
  whole answers together. The vocabulary is kept to words the pronouncing
  dictionary knows.
* **Band fill for narrowband audio.** The acoustic model is trained on 16 kHz speech with filters up to
  6.8 kHz; 8 kHz audio upsampled to 16 kHz leaves those filters empty, and the log of nothing skews every
  cepstrum. A little shaped noise above 4 kHz (seeded, so results repeat) restores them.
* **The speech, not the pauses.** A turn is read from its voiced part with 150 ms on each side
  (:func:`speech_span`): the fill noise in long pauses came out as words, and where the VAD cut changed them.
  On request the whole turn is read as well (``whole_turn``), for decisions that need two readings to agree.

Every reading starts from reset feature state and the model's initial cepstral mean: the same audio always
gives the same words, whatever the decoder read before.

Decoding is CPU-bound and synchronous: call :meth:`Transcriber.transcribe` from a worker thread
(``loop.run_in_executor``). A transcriber keeps a small pool of decoders, one per concurrent caller.
"""

from __future__ import annotations

import collections
import functools
import math
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from media.audio.resample import resample_pcm16
from media.speech.intents import ANSWER_CORPUS, normalize_text

ASR_RATE = 16000  # the rate of the wheel's acoustic model
_BAND_FILL_LEVEL = 0.2  # fill noise RMS relative to the utterance RMS (measured best on 8 kHz eSpeak speech)
_DISCOUNT = 0.5  # absolute discounting of n-gram counts
# Trust the answer model more than PocketSphinx's default (6.5): measured on eSpeak answers through G.711,
# 15 recognised the most intents; 25 starts forcing wrong phrases.
_LANGUAGE_WEIGHT = 15.0
_TWO_PASS = True  # twice the CPU (still under 0.1 s per audio s) for clearly better words
# PocketSphinx holds the GIL while it decodes. Fed 40 ms at a time, with the second (fwdflat) and lattice
# (bestpath) passes off, no call holds it long: decoding 14 s of audio in a worker thread delayed the event
# loop by at most 40 ms (1.2 s in one full-utterance call), at 0.04 CPU s per audio s instead of 0.07.
_PIECE_BYTES = ASR_RATE * 2 // 25
# The pause kept around a turn's speech (speech_span): measured best of 80, 150 and 250 ms on both held-out sets.
SPEECH_MARGIN_MS = 150
# A 10 ms frame is voiced above 3 % of the turn's loudest frame RMS (and above a floor for lines with no speech).
_SPEECH_RELATIVE_RMS = 0.03
_SPEECH_FLOOR_RMS = 30.0


@dataclass(frozen=True)
class Transcription:
    """One recognised turn.

    Attributes:
        text: the words heard (lower case; empty when nothing was recognised).
        audio_seconds: length of the audio.
        cpu_seconds: CPU time the decoding thread spent (resampling included).
        whole_turn_text: the words read from the whole turn, pauses included, when asked for (else None).
    """

    text: str
    audio_seconds: float
    cpu_seconds: float
    whole_turn_text: str | None = None


@functools.cache
def _model_paths() -> tuple[Path, Path]:
    import pocketsphinx

    root = Path(pocketsphinx.get_model_path()) / "en-us"
    return root / "en-us", root / "cmudict-en-us.dict"


@functools.cache
def _pronunciations() -> dict[str, list[str]]:
    """The pronouncing dictionary: word -> its lines (alternates like ``read(2)`` included)."""
    entries: dict[str, list[str]] = collections.defaultdict(list)
    with _model_paths()[1].open(encoding="utf-8") as fh:
        for line in fh:
            word = line.split(" ", 1)[0]
            entries[word.split("(", 1)[0]].append(line.rstrip("\n"))
    return dict(entries)


def corpus_sentences(phrases: Iterable[str]) -> list[str]:
    """Normalise phrases to in-vocabulary word sequences (unknown words split a phrase)."""
    known = _pronunciations()
    sentences: list[str] = []
    for phrase in phrases:
        run: list[str] = []
        for word in normalize_text(phrase).split():
            if word in known:
                run.append(word)
            elif run:
                sentences.append(" ".join(run))
                run = []
        if run:
            sentences.append(" ".join(run))
    return sentences


# How people say what the corpus writes out in full (`normalize_text` expands these back for the intents).
_SPOKEN_CONTRACTIONS: tuple[tuple[str, str], ...] = (
    ("do not", "don't"), ("i am", "i'm"), ("i would", "i'd"), ("can not", "can't"), ("will not", "won't"),
    ("it is", "it's"), ("that is", "that's"), ("we are", "we're"),
)  # fmt: skip


def with_contractions(sentences: Iterable[str]) -> list[str]:
    """The sentences, each followed by its contracted form when it has one ("do not call me" -> "don't call me").

    Why: the corpus is normalised (``don't`` -> ``do not``), but people say "don't": a model without the
    one-syllable word forced it onto other words ("please don't ring this number" heard as "free solar ...").
    Only contractions the pronouncing dictionary knows are added.
    """
    known = _pronunciations()
    out: list[str] = []
    for sentence in sentences:
        out.append(sentence)
        # "the do not call list" is a name, said in full: contracted, it pulled "put me on your do not call list"
        # towards "put me on your don't call this"
        contracted = f" {sentence} ".replace(" do not call list ", " do_not_call list ")
        for full, short in _SPOKEN_CONTRACTIONS:
            if short in known:
                contracted = contracted.replace(f" {full} ", f" {short} ")
        contracted = contracted.replace(" do_not_call list ", " do not call list ")
        if contracted.strip() != sentence:
            out.append(contracted.strip())
    return out


def build_arpa(sentences: Sequence[str], order: int = 3) -> str:
    """Build an n-gram language model in ARPA format (absolute discounting, backoff to shorter contexts).

    Args:
        sentences: space-separated lower-case word sequences.
        order: the longest n-gram (1-3 is plenty for short answers).

    Returns:
        The ARPA text.
    """
    counts: list[collections.Counter[tuple[str, ...]]] = [collections.Counter() for _ in range(order)]
    for sentence in sentences:
        words = ("<s>", *sentence.split(), "</s>")
        for n in range(1, order + 1):
            counts[n - 1].update(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    total = sum(c for gram, c in counts[0].items() if gram != ("<s>",))
    probs: list[dict[tuple[str, ...], float]] = [
        {gram: (c / total if gram != ("<s>",) else 0.0) for gram, c in counts[0].items()}
    ]
    backoffs: list[dict[tuple[str, ...], float]] = [{} for _ in range(order)]

    def backed_off(gram: tuple[str, ...]) -> float:
        """P(last word | context) from the model built so far, backing off as needed."""
        n = len(gram)
        if gram in probs[n - 1]:
            return probs[n - 1][gram]
        return backoffs[n - 2].get(gram[:-1], 1.0) * backed_off(gram[1:])

    for n in range(2, order + 1):
        by_context: dict[tuple[str, ...], list[tuple[tuple[str, ...], int]]] = collections.defaultdict(list)
        for gram, count in counts[n - 1].items():
            by_context[gram[:-1]].append((gram, count))
        level: dict[tuple[str, ...], float] = {}
        for context, grams in by_context.items():
            seen = sum(c for _, c in grams)
            for gram, count in grams:
                level[gram] = (count - _DISCOUNT) / seen
            left = 1.0 - sum(level[g] for g, _ in grams)
            lower = 1.0 - sum(backed_off(g[1:]) for g, _ in grams)
            backoffs[n - 2][context] = left / lower if lower > 1e-9 else 1e-9
        probs.append(level)
    lines = ["\\data\\", *(f"ngram {n}={len(probs[n - 1])}" for n in range(1, order + 1))]
    for n in range(1, order + 1):
        lines += ["", f"\\{n}-grams:"]
        for gram, p in sorted(probs[n - 1].items()):
            logp = math.log10(p) if p > 0 else -99.0
            row = f"{logp:.5f} {' '.join(gram)}"
            if n < order:
                row += f" {math.log10(backoffs[n - 1].get(gram, 1.0)):.5f}"
            lines.append(row)
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def band_fill(pcm16k: np.ndarray, level: float = _BAND_FILL_LEVEL) -> np.ndarray:
    """Add quiet high-frequency noise to upsampled narrowband speech (see the module docstring).

    Args:
        pcm16k: int16 samples at 16 kHz whose content stops at 4 kHz.
        level: noise RMS relative to the signal RMS.

    Returns:
        int16 samples, same length.
    """
    x = pcm16k.astype(np.float64)
    rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
    if rms < 1.0:
        return pcm16k
    rng = np.random.default_rng(0)  # fixed seed: the same audio always gives the same words
    noise = np.diff(rng.standard_normal(x.size + 2), n=2)  # second difference: energy rises towards 8 kHz
    noise *= rms * level / float(noise.std())
    return np.clip(x + noise, -32768, 32767).astype(np.int16)


def speech_span(pcm: bytes, sample_rate: int, margin_ms: int = SPEECH_MARGIN_MS) -> tuple[int, int]:
    """The byte range of ``pcm`` from ``margin_ms`` before its first voiced 10 ms to as long after its last.

    Why: a turn reaches the recogniser as a VAD cut it, with 300 ms of prefix padding and 500 ms of trailing
    silence give or take a frame or two; read whole, the band-filled pauses come out as words ("phone", "for",
    "off") and where the cut fell changed the answer. Measured on the held-out answers (docs/testing.md):
    48.8 % -> 58.9 % of intents right, and the same words whatever the cut, within the 10 ms grid.

    Args:
        pcm: PCM16 LE mono samples.
        sample_rate: their rate.
        margin_ms: pause kept on each side.

    Returns:
        (begin, end) byte offsets; the whole buffer when nothing in it is voiced.
    """
    step = sample_rate // 100
    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    frames = x[: x.size // step * step].reshape(-1, step)
    if not frames.size:
        return 0, len(pcm)
    rms = np.sqrt(np.mean(np.square(frames), axis=1))
    voiced = np.flatnonzero(rms > max(_SPEECH_FLOOR_RMS, _SPEECH_RELATIVE_RMS * float(rms.max())))
    if not voiced.size:
        return 0, len(pcm)
    keep = margin_ms // 10
    begin = max(0, int(voiced[0]) - keep) * step
    end = min(x.size, (int(voiced[-1]) + 1 + keep) * step)
    return begin * 2, end * 2


class Transcriber:
    """PocketSphinx decoders sharing one domain language model.

    Args:
        phrases: extra phrases to expect besides the standard answers (the script's questions, names).
        max_decoders: how many turns may be decoded at once.
        corpus: the standard answers the model is built from (a campaign call's answers by default; a warm
            transfer's consultation uses the replies of a person taking or declining a call).
    """

    def __init__(self, phrases: Iterable[str] = (), max_decoders: int = 2, *,
                 corpus: Sequence[str] = ANSWER_CORPUS) -> None:
        # Every answer counts once. Weighting opt-outs (they once counted double) pulled goodbyes and questions
        # towards opt-out words: "who is this? sorry, I have to go. goodbye" came out as "remove me from ...".
        # Also measured, and left out: goodbye phrases added to the answers, and every pair of answers as one
        # sentence; both made real calls worse ("Yes, I am interested. Tell me more." heard as "yes i would your").
        sentences = with_contractions(corpus_sentences([*corpus, *phrases]))
        vocabulary = sorted({w for s in sentences for w in s.split()})
        self._dir = tempfile.TemporaryDirectory(prefix="answers-lm-")
        self._lm_path = Path(self._dir.name) / "answers.arpa"
        self._lm_path.write_text(build_arpa(sentences), encoding="utf-8")
        # A dictionary of only the model's words loads in milliseconds instead of seconds.
        self._dict_path = Path(self._dir.name) / "answers.dict"
        known = _pronunciations()
        self._dict_path.write_text("\n".join(line for w in vocabulary for line in known[w]) + "\n", encoding="utf-8")
        self.vocabulary = frozenset(vocabulary)
        self._max = max_decoders
        self._idle: list[tuple[object, str]] = []
        self._created = 0
        self._available = threading.Condition()

    def _new_decoder(self) -> object:
        from pocketsphinx import Decoder

        hmm, _ = _model_paths()
        return Decoder(
            hmm=str(hmm),
            lm=str(self._lm_path),
            dict=str(self._dict_path),
            samprate=ASR_RATE,
            lw=_LANGUAGE_WEIGHT,
            fwdflat=False,
            bestpath=False,
            loglevel="FATAL",
        )

    def _acquire(self) -> tuple[object, str]:
        with self._available:
            while not self._idle and self._created >= self._max:
                self._available.wait()
            if self._idle:
                return self._idle.pop()
            self._created += 1
        try:
            decoder = self._new_decoder()
            return decoder, decoder.get_cmn()  # type: ignore[attr-defined]
        except Exception:
            with self._available:
                self._created -= 1
                self._available.notify()
            raise

    def _release(self, decoder: tuple[object, str]) -> None:
        with self._available:
            self._idle.append(decoder)
            self._available.notify()

    @staticmethod
    def _decode(decoder: object, raw: bytes) -> object:
        decoder.start_utt()  # type: ignore[attr-defined]
        # Small pieces let the event loop run in between (see _PIECE_BYTES).
        for offset in range(0, len(raw), _PIECE_BYTES):
            decoder.process_raw(raw[offset : offset + _PIECE_BYTES], full_utt=False)  # type: ignore[attr-defined]
        decoder.end_utt()  # type: ignore[attr-defined]
        return decoder.hyp()  # type: ignore[attr-defined]

    def transcribe(self, pcm: bytes, sample_rate: int, *, whole_turn: bool = False) -> Transcription:
        """Recognise one turn (blocking; run it in a worker thread).

        The words are read from the speech with :data:`SPEECH_MARGIN_MS` of the pauses around it (see
        :func:`speech_span`), so they do not depend on where the turn was cut.

        Args:
            pcm: PCM16 LE mono samples of the turn.
            sample_rate: their rate (8000 for G.711, 24000 for OpenAI PCM).
            whole_turn: also read the turn as cut, pauses and all (``whole_turn_text``; twice the CPU): the
                local agent records an opt-out at once only when both readings hold one.

        Returns:
            The words, the audio length and the CPU time spent.
        """
        started = time.thread_time()
        audio_seconds = len(pcm) / 2 / sample_rate
        begin, end = speech_span(pcm, sample_rate)
        text = self._read(pcm[begin:end], sample_rate)
        whole = self._read(pcm, sample_rate) if whole_turn else None
        return Transcription(text=text, audio_seconds=audio_seconds, cpu_seconds=time.thread_time() - started,
                             whole_turn_text=whole)

    def _read(self, pcm: bytes, sample_rate: int) -> str:
        """The words PocketSphinx reads in ``pcm``: the same audio always gives the same words."""
        samples = np.frombuffer(resample_pcm16(pcm, sample_rate, ASR_RATE), dtype="<i2")
        if sample_rate < ASR_RATE:
            samples = band_fill(samples)
        raw = samples.astype("<i2").tobytes()
        decoder, initial_cmn = self._acquire()
        try:
            # Every turn starts from fresh feature state and the same cepstral mean, so a turn's words never
            # depend on the turns the decoder heard before: without `reinit_feat` the first turn a decoder read
            # and every later reading of the same audio differed ("... goodbye" then "... like").
            decoder.reinit_feat()  # type: ignore[attr-defined]
            decoder.set_cmn(initial_cmn)  # type: ignore[attr-defined]
            hyp = self._decode(decoder, raw)
            if _TWO_PASS:
                # Second pass from this turn's own mean: what batch CMN gives, without one long GIL hold.
                decoder.set_cmn(decoder.get_cmn(True))  # type: ignore[attr-defined]
                hyp = self._decode(decoder, raw)
        finally:
            self._release((decoder, initial_cmn))
        return str(getattr(hyp, "hypstr", "") or "").strip() if hyp is not None else ""

    def close(self) -> None:
        """Drop the decoders and the model files."""
        with self._available:
            self._idle.clear()
        self._dir.cleanup()


_shared_lock = threading.Lock()


@functools.lru_cache(maxsize=8)  # about 10 MB per script (one decoder); more are built on demand
def _shared(phrases: tuple[str, ...]) -> Transcriber:
    return Transcriber(phrases)


def shared_transcriber(phrases: Iterable[str] = ()) -> Transcriber:
    """A process-wide transcriber for a set of extra phrases (sessions with the same script share one)."""
    key = tuple(sorted(set(phrases)))
    with _shared_lock:
        return _shared(key)

"""Speech synthesis with eSpeak NG, to PCM16 LE mono at any rate (8 kHz for G.711, 24 kHz for OpenAI PCM).

The library and its voice data come from the ``espeakng-loader`` wheel, driven through ``ctypes`` in
synchronous mode (``AUDIO_OUTPUT_SYNCHRONOUS`` plus a synth callback that collects the samples); when the
wheel cannot be loaded, the ``espeak-ng`` command (Debian package ``espeak-ng``) is used instead, writing a
WAV file to stdout. eSpeak NG renders at 22,050 Hz; ``soxr`` resamples with a proper anti-alias filter.

eSpeak NG keeps global state and is not thread-safe, so one lock serialises every synthesis in a process;
results are cached (phrases repeat on every call of a campaign), so the lock is rarely contended. The cache is
bounded by bytes (`CACHE_MAX_BYTES`, least recently used out first), and callers leave texts rendered from a
contact's variables out of it (``cache=False``): such a text is unique per contact, so caching it only
pushes the shared phrases out and grows the process (audit F21: 512 renders of 10-30 s took 80-250 MB).

Used by the local agent's voice, by fallback messages of the media bridge and by the simulated callees.
"""

from __future__ import annotations

import ctypes
import io
import shutil
import subprocess
import threading
import wave
from collections import OrderedDict
from dataclasses import dataclass

from media.audio.resample import resample_pcm16

# F21: the most PCM kept by the synthesis cache of one process (about 5 minutes of 8 kHz audio).
CACHE_MAX_BYTES = 8 * 1024 * 1024
ESPEAK_RATE = 22050  # eSpeak NG's native output rate (its MBROLA-free voices)
DEFAULT_VOICE = "en-us"

# Constants from espeak-ng/speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE_PARAM = 1
_ESPEAK_PITCH_PARAM = 3
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


# A rendered phrase: its text, output rate, voice, and whether it came from a fresh process (``repeatable``).
CacheKey = tuple[str, int, "Voice", bool]


class SpeechSynthesisError(RuntimeError):
    """eSpeak NG is missing or failed to render a phrase."""


@dataclass(frozen=True)
class Voice:
    """How a phrase is spoken.

    Attributes:
        name: eSpeak NG voice, optionally with a variant (``en-us``, ``en-us+f3``, ``en-gb``).
        words_per_minute: speaking rate, 80-450.
        pitch: base pitch 0-100 (eSpeak's default is 50).
    """

    name: str = DEFAULT_VOICE
    words_per_minute: int = 165
    pitch: int = 50

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"Voice.name must be a non-empty eSpeak voice name, got {self.name!r}")
        if not 80 <= self.words_per_minute <= 450:
            raise ValueError(f"Voice.words_per_minute must be 80-450, got {self.words_per_minute}")
        if not 0 <= self.pitch <= 100:
            raise ValueError(f"Voice.pitch must be 0-100, got {self.pitch}")


class _EspeakLibrary:
    """The eSpeak NG shared library, initialised once per process."""

    def __init__(self) -> None:
        import espeakng_loader  # imported here so a missing wheel falls back to the command line

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        self._chunks: list[bytes] = []
        # Keep a reference to the callback: ctypes frees the trampoline with the Python object.
        self._callback = _SYNTH_CALLBACK(self._on_samples)
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
        if rate <= 0:
            raise SpeechSynthesisError(f"espeak_Initialize failed ({rate})")
        self.rate = rate
        self._lib.espeak_SetSynthCallback(self._callback)
        self._voice: Voice | None = None

    def _on_samples(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int | None) -> int:
        if count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        return 0  # 0 = go on synthesising

    def render(self, text: str, voice: Voice) -> bytes:
        """Render ``text`` to PCM16 at ``self.rate``; the caller holds the module lock."""
        if voice != self._voice:
            if self._lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
                raise SpeechSynthesisError(f"eSpeak NG has no voice {voice.name!r}")
            self._lib.espeak_SetParameter(_ESPEAK_RATE_PARAM, voice.words_per_minute, 0)
            self._lib.espeak_SetParameter(_ESPEAK_PITCH_PARAM, voice.pitch, 0)
            self._voice = voice
        self._chunks = []
        data = text.encode("utf-8") + b"\0"
        status = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
        self._lib.espeak_Synchronize()
        if status != 0:
            raise SpeechSynthesisError(f"espeak_Synth failed ({status}) for {text!r}")
        return b"".join(self._chunks)


_lock = threading.Lock()
_library: _EspeakLibrary | None = None
_library_failed = False


def _load_library() -> _EspeakLibrary | None:
    """Load eSpeak NG once; the caller holds the module lock."""
    global _library, _library_failed
    if _library is None and not _library_failed:
        try:
            _library = _EspeakLibrary()
        except (ImportError, OSError, SpeechSynthesisError):
            _library_failed = True
    return _library


def _render_with_library(text: str, voice: Voice) -> tuple[bytes, int] | None:
    library = _load_library()
    if library is None:
        return None
    return library.render(text, voice), library.rate


def _render_with_command(text: str, voice: Voice) -> tuple[bytes, int]:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SpeechSynthesisError("neither the espeakng-loader library nor the espeak-ng command is available")
    # The text goes in as one argv element after "--": no shell, no option injection.
    proc = subprocess.run(  # noqa: S603 - fixed executable, argument list
        [exe, "-v", voice.name, "-s", str(voice.words_per_minute), "-p", str(voice.pitch), "--stdout", "--", text],
        capture_output=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0:
        raise SpeechSynthesisError(f"espeak-ng exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    with wave.open(io.BytesIO(proc.stdout)) as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise SpeechSynthesisError("espeak-ng wrote an unexpected WAV format")
        return wav.readframes(wav.getnframes()), wav.getframerate()


class PcmCache:
    """A least-recently-used cache of rendered phrases, bounded by the bytes of PCM it holds.

    Thread-safe (its own lock: synthesis runs in worker threads). A phrase larger than the whole budget is
    never kept.

    Args:
        max_bytes: the budget; 0 keeps nothing.

    Raises:
        ValueError: ``max_bytes`` is negative.
    """

    def __init__(self, max_bytes: int = CACHE_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[CacheKey, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: CacheKey) -> bytes | None:
        """The cached PCM of ``key`` (marked as recently used), or None."""
        with self._lock:
            pcm = self._items.get(key)
            if pcm is not None:
                self._items.move_to_end(key)
            return pcm

    def put(self, key: CacheKey, pcm: bytes) -> None:
        """Keep ``pcm``, dropping the least recently used phrases until the budget holds."""
        if len(pcm) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= len(old)
            self._items[key] = pcm
            self.bytes += len(pcm)
            while self.bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.bytes -= len(dropped)

    def clear(self) -> None:
        """Forget every phrase."""
        with self._lock:
            self._items.clear()
            self.bytes = 0


_cache = PcmCache()


def cache() -> PcmCache:
    """The process's synthesis cache (for its size and for tests)."""
    return _cache


def synthesize(text: str, rate: int = 8000, voice: Voice | None = None, *, cache: bool = True,
               repeatable: bool = False) -> bytes:
    """Speak ``text`` and return PCM16 LE mono at ``rate`` Hz (cached per text, rate and voice).

    Args:
        text: what to say (plain text; eSpeak reads punctuation as pauses).
        rate: output sample rate in Hz, e.g. 8000 for G.711 or 24000 for OpenAI ``audio/pcm``.
        voice: voice settings; the default US English voice when omitted.
        cache: keep the result for the next call with the same text. Pass False for a text rendered from a
            contact's variables (unique per contact, F21).
        repeatable: render in a fresh ``espeak-ng`` process, so the same text always gives the same samples.
            Why: the library keeps state between renders that no call resets (its pitch flutter runs on), so
            the same phrase comes out a few samples longer or shorter, with other waveforms, depending on what
            the process said before; a recogniser hears such renders differently. The simulated callees and
            the recognition tests use this, so what they say does not depend on the order of the calls.
            About 15 ms per phrase (once per phrase when cached).

    Returns:
        The samples; empty bytes for blank text.

    Raises:
        SpeechSynthesisError: when eSpeak NG is unavailable or fails.
    """
    if not text.strip():
        return b""
    voice = voice or Voice()
    key = (text, rate, voice, repeatable)
    if cache:
        hit = _cache.get(key)
        if hit is not None:
            return hit
    rendered = None
    if not repeatable:
        with _lock:  # eSpeak NG has process-global state
            rendered = _render_with_library(text, voice)
    if rendered is None:
        rendered = _render_with_command(text, voice)
    pcm, native_rate = rendered
    out = resample_pcm16(pcm, native_rate, rate)
    if cache:
        _cache.put(key, out)
    return out


def engine_name() -> str:
    """Name the synthesis path in use: ``"library"`` (espeakng-loader via ctypes) or ``"command"``."""
    with _lock:
        return "library" if _load_library() is not None else "command"

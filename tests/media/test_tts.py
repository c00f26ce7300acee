"""eSpeak NG synthesis: real audio at the asked rate, cached, through the library and the command."""

from __future__ import annotations

import numpy as np
import pytest

from media.audio.resample import resample_pcm16
from media.audio.vad import frame_dbfs
from media.speech import tts


def test_synthesis_gives_speech_at_the_asked_rate() -> None:
    # given a short phrase
    text = "Hello, this is a test call."
    # when it is rendered at the G.711 and the OpenAI PCM rates
    at_8k = np.frombuffer(tts.synthesize(text, 8000), dtype="<i2")
    at_24k = np.frombuffer(tts.synthesize(text, 24000), dtype="<i2")
    # then both last the same time (about 1-3 s) and carry speech-level energy
    assert 1.0 < len(at_8k) / 8000 < 3.0
    assert abs(len(at_24k) / 24000 - len(at_8k) / 8000) < 0.01
    assert frame_dbfs(at_8k) > -35


def test_library_path_is_used_when_the_wheel_is_installed() -> None:
    assert tts.engine_name() == "library"


def test_phrases_are_cached() -> None:
    first = tts.synthesize("Thank you for your time.", 8000)
    assert tts.synthesize("Thank you for your time.", 8000) is first


def test_voice_settings_change_the_audio() -> None:
    slow = tts.synthesize("one two three four", 8000, tts.Voice(words_per_minute=120))
    fast = tts.synthesize("one two three four", 8000, tts.Voice(words_per_minute=240))
    assert len(fast) < 0.75 * len(slow)


def test_blank_text_is_silent() -> None:
    assert tts.synthesize("   ", 8000) == b""


def test_bad_voice_settings_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="words_per_minute"):
        tts.Voice(words_per_minute=10)
    with pytest.raises(ValueError, match="name"):
        tts.Voice(name="en us")


def test_command_fallback_renders_the_same_length() -> None:
    # given the same phrase from the command and from the library
    pcm, rate = tts._render_with_command("yes I am interested", tts.Voice())
    lib = tts.synthesize("yes I am interested", tts.ESPEAK_RATE)
    # then both are speech of about the same length (the command pads more silence at the end)
    assert rate == tts.ESPEAK_RATE
    assert abs(_voiced_seconds(pcm) - _voiced_seconds(lib)) < 0.2
    assert frame_dbfs(np.frombuffer(pcm, dtype="<i2")) > -35


def _voiced_seconds(pcm: bytes) -> float:
    loud = np.flatnonzero(np.abs(np.frombuffer(pcm, dtype="<i2")) > 300)
    return (loud[-1] - loud[0]) / tts.ESPEAK_RATE


def test_resampling_keeps_duration() -> None:
    pcm = (np.sin(np.arange(24000) / 10) * 8000).astype("<i2").tobytes()
    out = resample_pcm16(pcm, 24000, 8000)
    assert len(out) // 2 == 8000


def test_the_cache_is_bounded_by_bytes_least_recently_used_out_first() -> None:
    # given a cache of 1,000 bytes holding two phrases of 400
    cache = tts.PcmCache(1000)
    voice = tts.Voice()
    cache.put(("a", 8000, voice, False), b"a" * 400)
    cache.put(("b", 8000, voice, False), b"b" * 400)
    assert cache.get(("a", 8000, voice, False)) is not None  # "a" is now the most recently used

    # when a third phrase would pass the budget
    cache.put(("c", 8000, voice, False), b"c" * 400)

    # then the least recently used one went, and the bytes held stay within the budget
    assert cache.get(("b", 8000, voice, False)) is None
    assert cache.get(("a", 8000, voice, False)) == b"a" * 400
    assert (len(cache), cache.bytes) == (2, 800)
    # and a phrase larger than the whole budget is never kept
    cache.put(("huge", 8000, voice, False), b"h" * 1001)
    assert cache.get(("huge", 8000, voice, False)) is None
    assert cache.bytes == 800
    with pytest.raises(ValueError, match="max_bytes"):
        tts.PcmCache(-1)


def test_a_text_rendered_for_one_contact_is_not_cached() -> None:
    tts.cache().clear()
    # when a per-contact text is synthesised without the cache, and a shared phrase with it
    tts.synthesize("Goodbye Ada Lovelace, we will call you back.", 8000, cache=False)
    tts.synthesize("Goodbye.", 8000)

    # then only the shared phrase is kept
    assert len(tts.cache()) == 1
    assert tts.cache().bytes == len(tts.synthesize("Goodbye.", 8000))


def test_many_unique_renders_never_grow_the_cache_past_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a small budget (about 6 s of 8 kHz audio)
    monkeypatch.setattr(tts, "_cache", tts.PcmCache(96_000))
    # when 40 different phrases are cached (what per-contact voicemail texts did before, F21)
    for i in range(40):
        tts.synthesize(f"Hello caller number {i}, this is a reminder of your appointment.", 8000)
    # then the cache holds no more than its budget
    assert 0 < tts.cache().bytes <= 96_000
    assert len(tts.cache()) < 40


def test_a_repeatable_render_gives_the_same_samples_whatever_was_said_before() -> None:
    phrase = "Fine, but I am not interested. Goodbye."
    # given one repeatable render, then other phrases spoken by the library in between
    first = tts.synthesize(phrase, 8000, cache=False, repeatable=True)
    for other in ("Sorry, who is this?", "Call me back tomorrow.", phrase):
        tts.synthesize(other, 8000, cache=False)
    # when the phrase is rendered repeatably again
    again = tts.synthesize(phrase, 8000, cache=False, repeatable=True)
    # then the samples are the same, byte for byte, and they are speech (about 2 s)
    assert again == first
    assert 1.5 < len(first) / 2 / 8000 < 4


def test_the_library_render_depends_on_what_the_process_said_before() -> None:
    # Why `repeatable` exists: if eSpeak NG's library ever renders the same text identically whatever came before,
    # the simulator can go back to the cheaper in-process render. This test then fails and says so.
    phrase = "Call me back tomorrow."
    renders = set()
    for other in ("Hello?", "Sorry, who is this? How did you get my number?", "Yes."):
        tts.synthesize(other, 8000, cache=False)
        renders.add(tts.synthesize(phrase, 8000, cache=False))
    assert len(renders) > 1

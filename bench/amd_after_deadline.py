"""Count the beeps that come after the detector's deadline, in the files it leaves undecided.

Usage:
    python bench/amd_after_deadline.py DIR [DIR ...]

Streams every DIR/*.wav through the detector (as `bench/amd.py` does); for each file decided UNKNOWN, runs the
detector's own beep finder (`media.audio.tones.ToneDetector` with the `AmdConfig` beep settings) over the audio
after the deadline, to the end of the file, and prints per truth how many beep there. A beep heard after an
unknown decision is the evidence a call already handed to the agent would need to switch to the machine policy;
a beep from a person's line would make such a switch hang up on them.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.amd import undecided_recordings
from media.amd import AmdConfig, frame_dbfs
from media.audio.tones import FRAME_SAMPLES, ToneDetector


def beep_after(samples: np.ndarray, config: AmdConfig) -> int | None:
    """Milliseconds from the deadline to the first beep after it, or None."""
    tones = ToneDetector(min_hz=config.beep_min_hz, max_hz=config.beep_max_hz, min_ms=config.beep_min_ms,
                         min_purity=config.beep_min_purity)
    start = config.max_decision_ms * 8  # 8 samples per ms
    audio = samples.astype(np.float64)
    for offset in range(start, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame = audio[offset : offset + FRAME_SAMPLES]
        if tones.feed(frame, frame_dbfs(frame)) is not None:
            return (offset - start) // 8
    return None


def main(argv: list[str] | None = None) -> int:
    """Print one line per undecided file and, last, the counts per truth."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    config = AmdConfig()
    counts: Counter[tuple[str, bool]] = Counter()
    after_deadline_s: list[float] = []
    for file in undecided_recordings(args.dirs, config):
        after_deadline_s.append(len(file.samples) / 8000 - config.max_decision_ms / 1000)
        beep_ms = beep_after(file.samples, config)
        counts[(file.truth, beep_ms is not None)] += 1
        print(f"{file.path.parent.name}/{file.path.name} beep_after_deadline_ms={beep_ms}")
    for truth in ("human", "machine"):
        print(f"{truth}: {counts[(truth, True)]} of {counts[(truth, True)] + counts[(truth, False)]} undecided beep "
              "after the deadline")
    if after_deadline_s:
        print(f"audio after the deadline: {min(after_deadline_s):.1f}-{max(after_deadline_s):.1f} s per file")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

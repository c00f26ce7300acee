"""Count the undecided files the late-beep watch turns into machines, per truth.

Usage:
    python bench/amd_after_deadline.py DIR [DIR ...]

Streams every DIR/*.wav through the detector (as `bench/amd.py` does); for each file decided UNKNOWN, runs
`media.amd.late_beep.LateBeepWatch` (what the engine runs on a connected undecided call) over the audio after the
decision, to the end of the file, and prints per truth how many it calls machines and why the watch ended
(`beep`, `listening`: the far end went quiet to listen, `window`, or the end of the file). A person called a
machine here would be hung up on.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.amd import undecided_recordings
from media.amd import AmdConfig, AmdLabel, LateBeepWatch
from media.audio.tones import FRAME_SAMPLES


@dataclass
class WatchCost:
    """CPU seconds spent in `LateBeepWatch.feed` and the audio seconds it listened to."""

    cpu_s: float = 0.0
    audio_s: float = 0.0


def watch_after(
    samples: np.ndarray, config: AmdConfig, decided_ms: int, talker_dbfs: float | None, cost: WatchCost
) -> tuple[int | None, str]:
    """Run `LateBeepWatch` after the decision: (ms from the decision to its MACHINE decision or None, why it ended)."""
    watch = LateBeepWatch(config, decided_ms, talker_dbfs=talker_dbfs)
    start = decided_ms * 8  # 8 samples per ms
    for offset in range(start, len(samples) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        began = time.process_time()
        decision = watch.feed(samples[offset : offset + FRAME_SAMPLES])
        if watch.ended is None or decision is not None:
            cost.cpu_s += time.process_time() - began
            cost.audio_s += FRAME_SAMPLES / 8000
        if decision is not None:
            return decision.decided_ms - decided_ms, "beep"
        if watch.ended is not None:
            break
    return None, watch.ended or "end_of_audio"


def main(argv: list[str] | None = None) -> int:
    """Print one line per undecided file and, last, the counts per truth."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--decided", choices=("unknown", "human"), default="unknown",
                        help="watch after this decision (the engine watches after unknown only; human measures what "
                        "watching after a person decision would add)")
    args = parser.parse_args(argv)
    decided = AmdLabel(args.decided)
    config = AmdConfig()
    counts: Counter[tuple[str, bool]] = Counter()
    ends: Counter[tuple[str, str]] = Counter()
    cost = WatchCost()
    after_deadline_s: list[float] = []
    for file in undecided_recordings(args.dirs, config, decided):
        after_deadline_s.append(len(file.samples) / 8000 - file.decision.decided_ms / 1000)
        beep_ms, ended = watch_after(file.samples, config, file.decision.decided_ms, file.talker_dbfs, cost)
        counts[(file.truth, beep_ms is not None)] += 1
        ends[(file.truth, ended)] += 1
        print(f"{file.path.parent.name}/{file.path.name} late_beep_decided_after_ms={beep_ms} watch={ended}")
    for truth in ("human", "machine"):
        watched = " ".join(f"{why}={ends[(truth, why)]}" for why in ("beep", "listening", "window", "end_of_audio"))
        print(f"{truth}: {counts[(truth, True)]} of {counts[(truth, True)] + counts[(truth, False)]} decided "
              f"{decided.value} called machines by a late beep ({watched})")
    if after_deadline_s:
        print(f"audio after the decision: {min(after_deadline_s):.1f}-{max(after_deadline_s):.1f} s per file")
        print(f"watched {cost.audio_s:.0f} s of audio ({cost.audio_s / len(after_deadline_s):.1f} s per file) "
              f"at {1000 * cost.cpu_s / max(cost.audio_s, 1e-9):.2f} CPU ms per audio second")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

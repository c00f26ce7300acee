"""Benchmark answering-machine detection on a directory of labelled recordings.

Usage:
    python bench/amd.py DIR [--max-decision-ms MS]
    python bench/amd.py --fit-deadline DIR [DIR ...]

Reads every DIR/*.wav (8 kHz mono PCM16) whose name starts with `human-` or `machine-`, feeds it
to the detector exactly as a call does (20 ms frames, streaming, stopping at the decision), prints
one line per file and, last:

    files=N accuracy=A human_as_machine=H machine_as_human=M median_decision_ms=D

accuracy counts an UNKNOWN decision as wrong. human_as_machine is the share of human files decided
machine (hanging up on a person); machine_as_human the share of machine files decided human.
Before it: how long after their first word humans were connected, the UNKNOWN count and the CPU
the detector used per second of audio it analysed.

--fit-deadline fits the cadence model used at the decision deadline
(`media.amd_cadence.DEADLINE_MODEL`) on the recordings that reach the deadline with an utterance
under way, and prints it. Fit it on train and heldout directories only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from media.amd import AmdConfig, AmdDecision, AmdLabel, AnsweringMachineDetector
from media.amd_cadence import DeadlineModel
from media.tones import FRAME_SAMPLES


def read_wav(path: Path) -> np.ndarray:
    """Read 8 kHz mono PCM16 samples, refusing anything else."""
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (8000, 1, 2):
            raise ValueError(f"{path.name}: expected 8 kHz mono PCM16")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def run_file(samples: np.ndarray, config: AmdConfig) -> AmdDecision:
    """Stream one recording through a fresh detector as PCM16 byte frames, like the call path."""
    detector = AnsweringMachineDetector(config)
    pcm = samples.astype("<i2").tobytes()
    step = FRAME_SAMPLES * 2
    for start in range(0, len(pcm) - step + 1, step):
        decision = detector.feed(pcm[start : start + step])
        if decision is not None:
            return decision
    # The recording ended before the deadline: what the detector would say at the end of audio.
    return AmdDecision(AmdLabel.UNKNOWN, "end_of_audio", detector.elapsed_ms, None)


def deadline_rows(directories: list[Path], config: AmdConfig) -> tuple[np.ndarray, np.ndarray]:
    """Model features and labels (1 = machine) of the files that reach the deadline mid-utterance."""
    features: list[list[float]] = []
    labels: list[float] = []
    for directory in directories:
        for path in sorted(directory.glob("*.wav")):
            truth = path.name.split("-")[0]
            if truth not in ("human", "machine"):
                continue
            detector = AnsweringMachineDetector(config)
            pcm = read_wav(path).astype("<i2").tobytes()
            step = FRAME_SAMPLES * 2
            decision = None
            for start in range(0, len(pcm) - step + 1, step):
                decision = detector.feed(pcm[start : start + step])
                if decision is not None:
                    break
            cadence = detector.cadence()
            if decision is None or decision.decided_ms < config.max_decision_ms or cadence is None:
                continue
            features.append(DeadlineModel.features(cadence))
            labels.append(1.0 if truth == "machine" else 0.0)
    return np.array(features), np.array(labels)


def fit_deadline_model(features: np.ndarray, labels: np.ndarray, l2: float = 1.0) -> DeadlineModel:
    """L2-regularised logistic regression (Newton's method) on standardised features.

    Why regularised and standardised: a few hundred rows and four features; the penalty keeps the
    weights from chasing the odd file, and standardising makes it treat every feature alike.
    """
    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-9
    design = np.column_stack(((features - mean) / scale, np.ones(len(features))))
    penalty = l2 * np.diag(np.r_[np.ones(features.shape[1]), 0.0])
    weights = np.zeros(design.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-design @ weights))
        gradient = design.T @ (p - labels) + penalty @ weights
        hessian = (design * (p * (1 - p))[:, None]).T @ design + penalty
        weights -= np.linalg.solve(hessian, gradient)
    raw = weights[:-1] / scale
    bias = float(weights[-1] - np.sum(raw * mean))
    two, three, tail, rise = (round(float(w), 3) for w in raw)
    return DeadlineModel(bias=round(bias, 3), two_pauses=two, three_pauses=three, tail_s=tail, end_rise=rise)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, nargs="+")
    parser.add_argument("--max-decision-ms", type=int, default=AmdConfig().max_decision_ms)
    parser.add_argument("--fit-deadline", action="store_true", help="fit and print the deadline cadence model")
    args = parser.parse_args(argv)
    config = AmdConfig(max_decision_ms=args.max_decision_ms)
    if args.fit_deadline:
        features, labels = deadline_rows(args.directory, config)
        if len(labels) == 0 or labels.min() == labels.max():
            print("need human and machine files that reach the deadline", file=sys.stderr)
            return 2
        print(f"rows={len(labels)} machines={int(labels.sum())}")
        print(fit_deadline_model(features, labels))
        return 0
    if len(args.directory) != 1:
        parser.error("score one directory at a time")
    args.directory = args.directory[0]

    paths = sorted(p for p in args.directory.glob("*.wav") if p.name.split("-")[0] in ("human", "machine"))
    if not paths:
        print(f"no human-*.wav or machine-*.wav in {args.directory}", file=sys.stderr)
        return 2
    counts = {"human": 0, "machine": 0}
    correct = unknown = human_as_machine = machine_as_human = 0
    decision_ms: list[int] = []
    human_after_first_word: list[int] = []
    cpu_s = 0.0
    audio_ms = 0
    for path in paths:
        truth = path.name.split("-")[0]
        samples = read_wav(path)
        started = time.process_time()
        decision = run_file(samples, config)
        cpu_s += time.process_time() - started
        audio_ms += decision.decided_ms
        counts[truth] += 1
        decision_ms.append(decision.decided_ms)
        if decision.label == truth:
            correct += 1
        elif decision.label == AmdLabel.UNKNOWN:
            unknown += 1
        elif truth == "human":
            human_as_machine += 1
        else:
            machine_as_human += 1
        if truth == "human" and decision.label == AmdLabel.HUMAN and decision.first_speech_ms is not None:
            human_after_first_word.append(decision.decided_ms - decision.first_speech_ms)
        mark = "ok" if decision.label == truth else "WRONG"
        detail = f" ({decision.detail})" if decision.detail else ""
        print(
            f"{path.name} truth={truth} decision={decision.label} reason={decision.reason}{detail} "
            f"decided_ms={decision.decided_ms} first_speech_ms={decision.first_speech_ms} {mark}"
        )

    n = len(paths)
    if human_after_first_word:
        print(
            f"human_decided_after_first_word_ms median={statistics.median(human_after_first_word):.0f} "
            f"max={max(human_after_first_word)}"
        )
    print(f"unknown={unknown} cpu_ms_per_audio_second={1000 * cpu_s / max(audio_ms / 1000, 1e-9):.2f}")
    print(
        f"files={n} accuracy={correct / n:.3f} "
        f"human_as_machine={human_as_machine / max(counts['human'], 1):.3f} "
        f"machine_as_human={machine_as_human / max(counts['machine'], 1):.3f} "
        f"median_decision_ms={statistics.median(decision_ms):.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

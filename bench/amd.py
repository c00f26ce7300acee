"""Benchmark answering-machine detection on a directory of labelled recordings.

Usage:
    python bench/amd.py DIR [--max-decision-ms MS] [--baseline-ref GITREF]
    python bench/amd.py --fit-deadline DIR [DIR ...]

Reads every DIR/*.wav (8 kHz mono PCM16) whose name starts with `human-` or `machine-`, feeds it
to the detector exactly as a call does (20 ms frames, streaming, stopping at the decision), prints
one line per file and, last:

    files=N accuracy=A human_as_machine=H machine_as_human=M median_decision_ms=D p95_decision_ms=P

accuracy counts an UNKNOWN decision as wrong. human_as_machine is the share of human files decided
machine (hanging up on a person); machine_as_human the share of machine files decided human.
Before it: how long after their first word humans were connected, the UNKNOWN count and the CPU
the detector used per second of audio it analysed. If DIR holds the generator's `truth.json`, it
also prints, for human files, the time from the end of the person's first utterance to the
decision that connects them (HUMAN, or UNKNOWN, which the engine treats like a person), p50 and
p95: the FCC two-second rule counts from the end of the person's greeting.

--baseline-ref GITREF also runs the detector of that git ref (its `media` package exported with
`git archive` into a temporary folder and imported beside this one, in this process) on every
file, right after this detector, and prints its lines prefixed `baseline[GITREF]` before this
detector's: before and after from one command, under the same load. Each detector runs with its
own default deadline unless --max-decision-ms is given.

--fit-deadline fits the cadence model used at the decision deadline (`media.amd.deadline`, a
boosted tree ensemble; needs scikit-learn) on the recordings that reach the deadline with an
utterance under way, and writes it to media/amd/deadline_model.json (or --model-out). Fit it on
train and heldout directories only.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from media.amd import AmdConfig, AmdDecision, AmdLabel, AnsweringMachineDetector
from media.amd.deadline import DEFAULT_MODEL_PATH, FEATURE_NAMES, DeadlineModel, Tree, deadline_features
from media.audio.tones import FRAME_SAMPLES

if TYPE_CHECKING:
    from sklearn.ensemble import GradientBoostingClassifier


def read_wav(path: Path) -> np.ndarray:
    """Read 8 kHz mono PCM16 samples, refusing anything else."""
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (8000, 1, 2):
            raise ValueError(f"{path.name}: expected 8 kHz mono PCM16")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def run_file(samples: np.ndarray, config: AmdConfig) -> AmdDecision:
    """Stream one recording through a fresh detector; UNKNOWN ("end_of_audio") if it ends first."""
    return stream(AnsweringMachineDetector(config), samples)


@dataclass(frozen=True)
class Undecided:
    """A labelled recording and the detector's decision on it (UNKNOWN unless asked for another label)."""

    path: Path
    truth: str  # "human" or "machine"
    samples: np.ndarray
    decision: AmdDecision
    talker_dbfs: float | None  # the detector's measure of the far-end talker's level at its decision


def undecided_recordings(
    directories: list[Path], config: AmdConfig, label: AmdLabel = AmdLabel.UNKNOWN
) -> Iterator[Undecided]:
    """The `human-*` and `machine-*` recordings of `directories` (in name order) that the detector leaves UNKNOWN
    (or decides `label`)."""
    for directory in directories:
        for path in sorted(directory.glob("*.wav")):
            truth = path.name.split("-")[0]
            if truth not in ("human", "machine"):
                continue
            samples = read_wav(path)
            detector = AnsweringMachineDetector(config)
            decision = stream(detector, samples)
            if decision.label is label:
                yield Undecided(path, truth, samples, decision, detector.talker_dbfs)


def deadline_rows(directories: list[Path], config: AmdConfig) -> tuple[np.ndarray, np.ndarray]:
    """Model features and labels (1 = machine) of the files that reach the deadline mid-utterance."""
    features: list[list[float]] = []
    labels: list[float] = []
    # The rows are read at the deadline whatever is decided there, so the detector runs with a
    # neutral model (P = 0.5): fitting must not depend on the model it replaces.
    neutral = DeadlineModel(FEATURE_NAMES, 0.0, 0.0, ())
    for directory in directories:
        for path in sorted(directory.glob("*.wav")):
            truth = path.name.split("-")[0]
            if truth not in ("human", "machine"):
                continue
            detector = AnsweringMachineDetector(config, deadline_model=neutral)
            pcm = read_wav(path).astype("<i2").tobytes()
            step = FRAME_SAMPLES * 2
            decision = None
            for start in range(0, len(pcm) - step + 1, step):
                decision = detector.feed(pcm[start : start + step])
                if decision is not None:
                    break
            cadence = detector.cadence(repetition=True)
            if decision is None or decision.decided_ms < config.max_decision_ms or cadence is None:
                continue
            features.append(deadline_features(cadence))
            labels.append(1.0 if truth == "machine" else 0.0)
    return np.array(features), np.array(labels)


def fit_deadline_ensemble(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> GradientBoostingClassifier:
    """Fit the deadline ensemble with scikit-learn.

    Why these settings: 150 depth-3 trees at a 0.05 learning rate, with at least 5 rows per leaf,
    scored best in leave-one-set-out fits over the generated train and heldout sets; deeper or more
    trees fit the odd file (see docs/benchmarks.md).
    """
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(
        n_estimators=150, max_depth=3, learning_rate=0.05, min_samples_leaf=5, random_state=seed
    ).fit(features.astype(np.float32), labels)


def to_deadline_model(fitted: GradientBoostingClassifier, reference: np.ndarray) -> DeadlineModel:
    """Convert a fitted binary scikit-learn ensemble into the detector's own form.

    Args:
        fitted: the ensemble, fitted on `FEATURE_NAMES` columns.
        reference: one or more feature rows; the starting log-odds is read off the fitted
            model's own output on the first, not off its private attributes.
    """
    trees = tuple(
        Tree(
            tuple(int(i) for i in t.tree_.feature),
            tuple(float(x) for x in t.tree_.threshold),
            tuple(int(i) for i in t.tree_.children_left),
            tuple(int(i) for i in t.tree_.children_right),
            tuple(float(x) for x in t.tree_.value[:, 0, 0]),
        )
        for t in fitted.estimators_[:, 0]
    )
    rate = float(fitted.learning_rate)
    first = reference[:1].astype(np.float32)
    init = float(fitted.decision_function(first)[0]) - rate * sum(t.predict(first.tolist()[0]) for t in trees)
    return DeadlineModel(FEATURE_NAMES, init, rate, trees)


@dataclass
class Score:
    """Tallies of one detector over one directory."""

    counts: dict[str, int] = field(default_factory=lambda: {"human": 0, "machine": 0})
    correct: int = 0
    unknown: int = 0
    human_as_machine: int = 0
    machine_as_human: int = 0
    decision_ms: list[int] = field(default_factory=list)
    human_after_first_word: list[int] = field(default_factory=list)
    after_utterance: list[int] = field(default_factory=list)
    cpu_s: float = 0.0
    audio_ms: int = 0

    def add(self, truth: str, decision: AmdDecision, cpu_s: float, end_ms: int | None) -> None:
        """Count one file's decision against its truth."""
        self.cpu_s += cpu_s
        self.audio_ms += decision.decided_ms
        self.counts[truth] += 1
        self.decision_ms.append(decision.decided_ms)
        if decision.label == truth:
            self.correct += 1
        elif decision.label == "unknown":
            self.unknown += 1
        elif truth == "human":
            self.human_as_machine += 1
        else:
            self.machine_as_human += 1
        if truth == "human" and decision.label == "human" and decision.first_speech_ms is not None:
            self.human_after_first_word.append(decision.decided_ms - decision.first_speech_ms)
        if truth == "human" and decision.label != "machine" and end_ms is not None:
            self.after_utterance.append(decision.decided_ms - end_ms)

    def summary(self) -> str:
        """The closing line: `files=N accuracy=A human_as_machine=H machine_as_human=M ...`."""
        n = sum(self.counts.values())
        p95 = float(np.percentile(self.decision_ms, 95))
        return (
            f"files={n} accuracy={self.correct / n:.3f} "
            f"human_as_machine={self.human_as_machine / max(self.counts['human'], 1):.3f} "
            f"machine_as_human={self.machine_as_human / max(self.counts['machine'], 1):.3f} "
            f"median_decision_ms={statistics.median(self.decision_ms):.0f} p95_decision_ms={p95:.0f}"
        )

    def cpu_ms_per_audio_second(self) -> float:
        """Process CPU the detector used per second of audio it analysed."""
        return 1000 * self.cpu_s / max(self.audio_ms / 1000, 1e-9)


def load_baseline(ref: str, into: Path) -> tuple[type, type]:
    """The detector and config classes of the `media` package at git ref `ref`, loaded beside ours.

    The package is exported with `git archive` into `into` and imported under its own name while
    this process's `media` modules are set aside, then those are put back: each detector keeps
    the module globals it was loaded with, so both run in this one process on the same files.

    Raises:
        ValueError: if `ref` is not a commit of this repository or has no `media.amd`.
    """
    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", ref, "media"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise ValueError(f"--baseline-ref {ref}: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    ours = {name: module for name, module in sys.modules.items() if name == "media" or name.startswith("media.")}
    for name in ours:
        del sys.modules[name]
    sys.path.insert(0, str(into))
    try:
        baseline = importlib.import_module("media.amd")
        classes = (baseline.AnsweringMachineDetector, baseline.AmdConfig)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--baseline-ref {ref}: no usable media.amd ({exc})") from exc
    finally:
        sys.path.remove(str(into))
        for name in [n for n in sys.modules if n == "media" or n.startswith("media.")]:
            del sys.modules[name]
        sys.modules.update(ours)
    return classes


def stream(detector: Any, samples: np.ndarray) -> AmdDecision:
    """Stream one recording through `detector` as PCM16 byte frames, like the call path."""
    pcm = samples.astype("<i2").tobytes()
    step = FRAME_SAMPLES * 2
    for start in range(0, len(pcm) - step + 1, step):
        decision = detector.feed(pcm[start : start + step])
        if decision is not None:
            return decision
    return AmdDecision(AmdLabel.UNKNOWN, "end_of_audio", detector.elapsed_ms, None)


def print_score(score: Score, prefix: str = "") -> None:
    """The timing lines, then the summary line."""
    if score.human_after_first_word:
        print(
            f"{prefix}human_decided_after_first_word_ms median={statistics.median(score.human_after_first_word):.0f} "
            f"max={max(score.human_after_first_word)}"
        )
    if score.after_utterance:
        p50, p95 = np.percentile(score.after_utterance, (50, 95))
        print(
            f"{prefix}human_decided_after_utterance_end_ms p50={p50:.0f} p95={p95:.0f} "
            f"max={max(score.after_utterance)} n={len(score.after_utterance)}"
        )
    print(f"{prefix}unknown={score.unknown} cpu_ms_per_audio_second={score.cpu_ms_per_audio_second():.2f}")
    print(f"{prefix}{score.summary()}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, nargs="+")
    parser.add_argument("--max-decision-ms", type=int, default=None, help="the deadline (default: each detector's)")
    parser.add_argument(
        "--baseline-ref", help="also score the detector of this git ref (commit, branch, tag), file by file"
    )
    parser.add_argument("--fit-deadline", action="store_true", help="fit the deadline cadence model and write it")
    parser.add_argument(
        "--model-out", type=Path, default=DEFAULT_MODEL_PATH, help="where --fit-deadline writes the model"
    )
    args = parser.parse_args(argv)
    config = AmdConfig() if args.max_decision_ms is None else AmdConfig(max_decision_ms=args.max_decision_ms)
    if args.fit_deadline:
        features, labels = deadline_rows(args.directory, config)
        if len(labels) == 0 or labels.min() == labels.max():
            print("need human and machine files that reach the deadline", file=sys.stderr)
            return 2
        model = to_deadline_model(fit_deadline_ensemble(features, labels), features)
        args.model_out.write_text(json.dumps(model.to_json(), separators=(",", ":")) + "\n")
        print(f"rows={len(labels)} machines={int(labels.sum())} trees={len(model.trees)} wrote {args.model_out}")
        return 0
    if len(args.directory) != 1:
        parser.error("score one directory at a time")
    args.directory = args.directory[0]

    paths = sorted(p for p in args.directory.glob("*.wav") if p.name.split("-")[0] in ("human", "machine"))
    if not paths:
        print(f"no human-*.wav or machine-*.wav in {args.directory}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="amd-baseline-") as tmp:
        baseline = None
        if args.baseline_ref:
            try:
                detector_class, config_class = load_baseline(args.baseline_ref, Path(tmp))
            except ValueError as exc:
                print(exc, file=sys.stderr)
                return 2
            deadline = {} if args.max_decision_ms is None else {"max_decision_ms": args.max_decision_ms}
            base_config = config_class(**deadline)
            baseline = (detector_class, base_config, Score())
        score = Score()
        truth_path = args.directory / "truth.json"
        utterance_end = json.loads(truth_path.read_text()) if truth_path.exists() else {}
        for path in paths:
            truth = path.name.split("-")[0]
            samples = read_wav(path)
            end_ms = utterance_end.get(path.name, {}).get("first_utterance_end_ms")
            started = time.process_time()
            decision = run_file(samples, config)
            score.add(truth, decision, time.process_time() - started, end_ms)
            if baseline is not None:
                # File by file, right after ours: both see the same load on a shared machine.
                started = time.process_time()
                before = stream(baseline[0](baseline[1]), samples)
                baseline[2].add(truth, before, time.process_time() - started, end_ms)
            mark = "ok" if decision.label == truth else "WRONG"
            detail = f" ({decision.detail})" if decision.detail else ""
            print(
                f"{path.name} truth={truth} decision={decision.label} reason={decision.reason}{detail} "
                f"decided_ms={decision.decided_ms} first_speech_ms={decision.first_speech_ms} {mark}"
            )
        if baseline is not None:
            print_score(baseline[2], prefix=f"baseline[{args.baseline_ref}] ")
    print_score(score)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The labelled set generator and the benchmark script, end to end on a few files."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from media.amd.deadline import FEATURE_NAMES, load_model
from tests.media.synthetic_audio import noise, silence, speech

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_generator_is_deterministic_by_seed(tmp_path):
    make = load("make_amd_set")
    first = make.make_set(tmp_path / "a", "train", 4, seed=3)
    second = make.make_set(tmp_path / "b", "train", 4, seed=3)
    other = make.make_set(tmp_path / "c", "train", 4, seed=4)
    assert [p.name for p in first] == [p.name for p in second]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert [p.read_bytes() for p in first] != [p.read_bytes() for p in other]


@pytest.mark.parametrize(("split_a", "split_b"), [("train", "heldout"), ("train", "test"), ("heldout", "test")])
def test_splits_share_no_voice_and_no_phrase(split_a, split_b):
    make = load("make_amd_set")
    voices_a = {f"{lang}+{variant}" for lang in make.VOICES[split_a][0] for variant in make.VOICES[split_a][1]}
    voices_b = {f"{lang}+{variant}" for lang in make.VOICES[split_b][0] for variant in make.VOICES[split_b][1]}
    assert not voices_a & voices_b
    assert not set(make.VOICES[split_a][1]) & set(make.VOICES[split_b][1])
    pools = (make.HUMAN_PHRASES, make.HUMAN_SECOND, make.LONG_GREETINGS, make.SHORT_GREETINGS, make.CARRIER)
    for pool in (*pools, make.SCREENER):
        assert not set(pool[split_a]) & set(pool[split_b])


def test_benchmark_prints_one_line_per_file_and_the_summary_last(tmp_path, capsys):
    make = load("make_amd_set")
    bench = load("amd")
    make.make_set(tmp_path, "heldout", 4, seed=1)

    assert bench.main([str(tmp_path)]) == 0

    lines = capsys.readouterr().out.strip().splitlines()
    assert sum(" truth=" in line for line in lines) == 4
    summary = dict(field.split("=") for field in lines[-1].split())
    assert list(summary) == [
        "files",
        "accuracy",
        "human_as_machine",
        "machine_as_human",
        "median_decision_ms",
        "p95_decision_ms",
    ]
    assert summary["files"] == "4"
    assert 0.0 <= float(summary["accuracy"]) <= 1.0
    assert 0 < int(summary["median_decision_ms"]) <= int(summary["p95_decision_ms"]) <= 5000
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert sorted(truth) == sorted(p.name for p in tmp_path.glob("human-*.wav"))


def test_benchmark_times_the_human_decision_from_the_end_of_the_first_utterance(tmp_path, capsys):
    # given: two people, one saying "hello?" that ends at 0.9 s, the other talking until 1.5 s
    make = load("make_amd_set")
    bench = load("amd")
    people = {"human-x-a-0000.wav": (0.4, 0.5, 1), "human-x-b-0001.wav": (0.3, 1.2, 2)}
    for name, (start, seconds, seed) in people.items():
        signal = np.concatenate((silence(start), speech(seconds, seed=seed), silence(6.0 - start - seconds)))
        make.write_wav(tmp_path / name, signal + noise(6.0, -60.0, seed))
    ends = {"human-x-a-0000.wav": 900, "human-x-b-0001.wav": 1500}
    (tmp_path / "truth.json").write_text(json.dumps({k: {"first_utterance_end_ms": v} for k, v in ends.items()}))

    # when
    assert bench.main([str(tmp_path)]) == 0

    # then: the line gives the decision times less the ends of the utterances
    lines = capsys.readouterr().out.splitlines()
    decided = {line.split()[0]: int(line.split("decided_ms=")[1].split()[0]) for line in lines if " truth=" in line}
    delays = sorted(decided[name] - end for name, end in ends.items())
    timing = next(line for line in lines if line.startswith("human_decided_after_utterance_end_ms"))
    fields = dict(field.split("=") for field in timing.split()[1:])
    assert int(fields["n"]) == 2
    assert float(fields["p50"]) == pytest.approx(np.mean(delays), abs=1)
    assert int(fields["max"]) == delays[-1]
    assert 800 <= delays[0] <= delays[-1] <= 1000


def test_deadline_ensemble_converted_from_scikit_learn_gives_its_probabilities(tmp_path):
    # given: a fitted ensemble on a feature table where machines pause less and end lower
    bench = load("amd")
    rng = np.random.default_rng(5)
    n = 300
    features = rng.normal(0.0, 1.0, (2 * n, len(FEATURE_NAMES))) * 300
    features[:n, 0] -= 200  # machines: fewer turn pauses
    features[:n, 2] -= 300  # machines: no rising end
    labels = np.r_[np.ones(n), np.zeros(n)]
    fitted = bench.fit_deadline_ensemble(features, labels)

    # when
    model = bench.to_deadline_model(fitted, features)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model.to_json()))
    loaded = load_model(path)

    # then: the detector's evaluation matches scikit-learn's on rows it was not fitted on
    rows = rng.normal(0.0, 1.0, (50, len(FEATURE_NAMES))) * 300
    expected = fitted.predict_proba(rows.astype(np.float32))[:, 1]
    ours = [loaded.probability([float(np.float32(x)) for x in row]) for row in rows]
    assert np.allclose(ours, expected, atol=1e-9)
    assert loaded == model
    assert len(model.trees) == 150

"""The labelled set generator and the benchmark script, end to end on a few files."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (.ci/run installs it)")


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
    assert list(summary) == ["files", "accuracy", "human_as_machine", "machine_as_human", "median_decision_ms"]
    assert summary["files"] == "4"
    assert 0.0 <= float(summary["accuracy"]) <= 1.0
    assert 0 < int(summary["median_decision_ms"]) <= 3500


def test_deadline_model_fit_finds_the_direction_of_each_feature():
    # given: machines that pause rarely, end flat and have no trailing silence; people the opposite
    bench = load("amd")
    rng = np.random.default_rng(5)
    n = 200
    machines = np.column_stack(
        (rng.random(n) < 0.2, rng.random(n) < 0.05, rng.random(n) * 0.2, rng.normal(0.0, 1.0, n))
    )
    people = np.column_stack((rng.random(n) < 0.8, rng.random(n) < 0.5, rng.random(n) * 0.6, rng.normal(1.5, 1.0, n)))
    features = np.vstack((machines, people)).astype(float)
    labels = np.r_[np.ones(n), np.zeros(n)]

    # when
    model = bench.fit_deadline_model(features, labels)

    # then
    assert model.two_pauses < 0
    assert model.three_pauses < 0
    assert model.tail_s < 0
    assert model.end_rise < 0
    assert model.bias > 0

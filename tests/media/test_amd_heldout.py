"""The accuracy targets, enforced on fresh draws no setting was tuned on.

Each test generates a small draw with a seed used nowhere else (not for the settings, not for the
deadline model, not for the benchmark draws in docs/benchmarks.md) and scores it with
`bench/amd.py`, as the benchmark does. Hanging up on a person is an abandoned call (FCC), so the
target on people called machines is strict: at most 1 %. A target the detector misses is marked
a strict expected failure (it fails the run once met, so the mark is removed) and guarded by the
figure first measured, so it cannot get worse unnoticed.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.media.synthetic_audio import noise, silence, speech
from tests.media.test_amd_bench import load

HUMAN_AS_MACHINE_TARGET = 0.01
MACHINE_AS_HUMAN_TARGET = 0.05
# Seeds drawn for these tests only, after the detector's last change (16016 was looked at while
# tuning and is not used).
GENERATOR_SEED = 16_161
INDEPENDENT_SEED = 16_171


def summary(output: str, prefix: str = "") -> dict[str, str]:
    line = next(line for line in reversed(output.splitlines()) if line.startswith(f"{prefix}files="))
    return dict(field.split("=") for field in line.removeprefix(prefix).split())


def score(directory: Path) -> dict[str, float]:
    """Score a draw with `bench/amd.py` and return its closing figures."""
    bench = load("amd")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert bench.main([str(directory)]) == 0
    return {key: float(value) for key, value in summary(out.getvalue()).items()}


@pytest.fixture(scope="module")
def generator_draw(tmp_path_factory) -> dict[str, float]:
    """200 calls (100 people) from the generator's test pool, with a seed never tuned on."""
    directory = tmp_path_factory.mktemp("generator")
    load("make_amd_set").make_set(directory, "test", 200, seed=GENERATOR_SEED)
    return score(directory)


@pytest.fixture(scope="module")
def independent_draw(tmp_path_factory) -> dict[str, float]:
    """200 calls (100 people answering in one breath) from voices and phrases outside the pools."""
    directory = tmp_path_factory.mktemp("independent")
    load("make_amd_independent").make_set(directory, 200, seed=INDEPENDENT_SEED)
    return score(directory)


MISSED = "target missed on held-out draws, see docs/benchmarks.md (AMD); remove this mark once met"


def test_a_fresh_generator_draw_hangs_up_on_at_most_1_percent_of_people(generator_draw):
    # This draw now meets the target (1 of 100 people; 2 before the rules for a person who waits
    # and asks again), so the expected-failure mark came off. Draw by draw it is not met yet:
    # blind draws of 150 people still reach 0.013 (see docs/benchmarks.md).
    assert generator_draw["human_as_machine"] <= HUMAN_AS_MACHINE_TARGET


def test_a_fresh_generator_draw_takes_at_most_5_percent_of_machines_for_people(generator_draw):
    assert generator_draw["machine_as_human"] <= MACHINE_AS_HUMAN_TARGET


def test_a_fresh_independent_draw_hangs_up_on_at_most_1_percent_of_people(independent_draw):
    assert independent_draw["human_as_machine"] <= HUMAN_AS_MACHINE_TARGET


@pytest.mark.xfail(strict=True, reason=MISSED)
def test_a_fresh_independent_draw_takes_at_most_5_percent_of_machines_for_people(independent_draw):
    assert independent_draw["machine_as_human"] <= MACHINE_AS_HUMAN_TARGET


def test_a_fresh_independent_draw_takes_no_more_machines_for_people_than_measured(independent_draw):
    # Guard until the target above is met: 9 of these 100 machines were taken for people when the
    # seed was first scored.
    assert independent_draw["machine_as_human"] <= 0.09


BEFORE_ONE_BREATH = "22526ce"  # the detector with the 1.6 s greeting rule


def has_commit(ref: str) -> bool:
    repo = Path(__file__).resolve().parents[2]
    command = ["git", "-C", str(repo), "cat-file", "-e", f"{ref}^{{commit}}"]
    found = subprocess.run(command, capture_output=True, check=False)  # noqa: S603 (our own git, fixed arguments)
    return found.returncode == 0


@pytest.mark.skipif(not has_commit(BEFORE_ONE_BREATH), reason="needs the project's git history")
def test_baseline_ref_scores_an_earlier_detector_in_the_same_run(tmp_path, capsys):
    # given: a person who answers with one 2.6 s sentence, then waits
    make = load("make_amd_set")
    bench = load("amd")
    signal = np.concatenate((silence(0.3), speech(2.6, seed=12), silence(3.5)))
    make.write_wav(tmp_path / "human-x-sentence-0000.wav", signal + noise(6.4, -60.0, 1))

    # when: scored by this detector and by the one before the one-sentence rules, in one command
    assert bench.main([str(tmp_path), "--baseline-ref", BEFORE_ONE_BREATH]) == 0

    # then: the earlier detector hung up on them, this one connects them, both in the output
    output = capsys.readouterr().out
    assert float(summary(output, f"baseline[{BEFORE_ONE_BREATH}] ")["human_as_machine"]) == 1.0
    assert float(summary(output)["human_as_machine"]) == 0.0
    # and this process's own detector is untouched by loading the other one
    from media.amd import AmdConfig

    assert hasattr(AmdConfig(), "one_breath_max_ms")


def test_baseline_ref_that_is_not_a_commit_is_refused(tmp_path, capsys):
    make = load("make_amd_set")
    bench = load("amd")
    make.write_wav(tmp_path / "human-x-a-0000.wav", silence(1.0))
    assert bench.main([str(tmp_path), "--baseline-ref", "no-such-ref-16"]) == 2
    assert "--baseline-ref no-such-ref-16" in capsys.readouterr().err

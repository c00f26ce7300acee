"""The AMD deadline model: the shipped ensemble's judgement and how model files are checked."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from media.amd import AmdConfig
from media.amd.cadence import NO_REPETITION, Cadence
from media.amd.deadline import FEATURE_NAMES, DeadlineModel, Tree, deadline_features, load_model, shipped_model

# A greeting still reading its second sentence at the deadline: long phrases, one short pause
# between sentences, endings that fall, no phrase said twice.
READING = Cadence(
    span_ms=3000,
    speech_ratio=0.85,
    turn_pauses=1,
    mean_burst_ms=600.0,
    longest_phrase_ms=1500,
    tail_silence_ms=0,
    level_swing_db=30.0,
    end_rise=-6.0,
    last_rise=None,
    phrases=2,
    speech_ms=2600,
    mean_phrase_ms=1300.0,
    shortest_phrase_ms=1100,
    first_phrase_ms=1100,
    last_phrase_ms=1500,
    mean_pause_ms=300.0,
    longest_pause_ms=300,
    shortest_pause_ms=300,
    end_fall=-6.0,
    mean_end_slope=-6.0,
    rising_ends=0,
    voiced_ratio=0.8,
    repetition=NO_REPETITION,
)

# A person asking "Hello? ... Hello? ... Anyone there?": short phrases, long pauses, rising ends,
# the same word said again, and silence since the last question.
ASKING = replace(
    READING,
    speech_ratio=0.45,
    turn_pauses=3,
    longest_phrase_ms=700,
    tail_silence_ms=300,
    end_rise=20.0,
    last_rise=20.0,
    phrases=4,
    speech_ms=1900,
    mean_phrase_ms=475.0,
    shortest_phrase_ms=400,
    first_phrase_ms=450,
    last_phrase_ms=700,
    mean_pause_ms=600.0,
    longest_pause_ms=700,
    shortest_pause_ms=500,
    end_fall=5.0,
    mean_end_slope=14.0,
    rising_ends=3,
    repetition=1.2,
)


def test_shipped_model_tells_a_greeting_still_reading_from_a_person_still_asking():
    model = shipped_model()
    assert model.machine_probability(READING) >= AmdConfig().timeout_machine_probability
    assert model.machine_probability(ASKING) <= AmdConfig().timeout_human_probability


def test_features_follow_the_names_and_read_a_missing_last_rise_as_zero():
    values = deadline_features(READING)
    assert len(values) == len(FEATURE_NAMES)
    assert values[FEATURE_NAMES.index("last_rise")] == 0.0
    assert values[FEATURE_NAMES.index("mean_phrase_ms")] == 1300.0


def one_split_model() -> DeadlineModel:
    # +2 log-odds when the first feature (turn_pauses) is above 1.5, else -2
    tree = Tree(
        feature=(0, -2, -2), threshold=(1.5, -2.0, -2.0), left=(1, -1, -1), right=(2, -1, -1), value=(0.0, -2.0, 2.0)
    )
    return DeadlineModel(FEATURE_NAMES, 0.0, 1.0, (tree,))


def test_a_written_model_loads_back_and_decides_by_its_trees(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(one_split_model().to_json()))
    model = load_model(path)
    assert model == one_split_model()
    # the one split is on turn_pauses: 1 <= 1.5 goes left (-2 log-odds), 3 goes right (+2)
    assert model.machine_probability(READING) == pytest.approx(1 / (1 + math.exp(2)))
    assert model.machine_probability(ASKING) == pytest.approx(1 / (1 + math.exp(-2)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(feature_names=["turn_pauses"]), "refit it"),
        (lambda d: d["trees"][0].update(left=[5, -1, -1]), "points outside its tree"),
        (lambda d: d["trees"][0].update(feature=[99, -2, -2]), "unknown feature"),
        (lambda d: d["trees"][0].update(value=[0.0]), "differ in length"),
        (lambda d: d.pop("init"), "init"),
    ],
)
def test_a_broken_model_file_is_refused_with_the_reason(tmp_path, change, message):
    data = one_split_model().to_json()
    change(data)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        load_model(path)


def test_a_missing_model_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a usable AMD deadline model"):
        load_model(tmp_path / "absent.json")

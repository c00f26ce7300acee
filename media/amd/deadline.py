"""P(machine) at the AMD decision deadline, from the cadence of a far end still talking.

At the deadline both a late voicemail greeting and a person asking "Hello? ... Hello? ... Anyone
there?" may still be talking, and no single rule tells them apart: greetings recorded sentence by
sentence pause too, and people's phrases can be long. Together the phrase lengths, the pauses
between them, the phrase endings (questions rise, read sentences fall) and the silence since the
last word do. A small gradient-boosted tree ensemble weighs them; its shape (depth-3 trees) lets
one feature count only in the presence of another ("short phrases *and* long pauses"), which a
linear model cannot.

The ensemble is fitted offline by `python bench/amd.py --fit-deadline` (scikit-learn) on generated
train and heldout recordings and shipped as JSON (`deadline_model.json`). Evaluating it is
plain Python: about 150 trees of 3 comparisons each, once per call.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from media.amd.cadence import Cadence

# The model's inputs, in order. Each has a reason to point one way or the other:
FEATURE_NAMES: tuple[str, ...] = (
    "turn_pauses",  # a person leaves room for an answer after each question
    "tail_silence_ms",  # a person who stopped is waiting
    "end_rise",  # questions rise at their end
    "end_fall",  # read sentences fall at their end
    "mean_end_slope",
    "rising_ends",
    "last_rise",  # 0 while the last phrase is still going
    "phrases",
    "speech_ms",
    "speech_ratio",
    "mean_phrase_ms",  # a greeting reads whole sentences; a person asks short questions
    "longest_phrase_ms",
    "shortest_phrase_ms",
    "first_phrase_ms",
    "last_phrase_ms",
    "mean_pause_ms",  # a greeting's pauses between sentences are short; a person waits longer
    "longest_pause_ms",
    "shortest_pause_ms",
    "voiced_ratio",
    "level_swing_db",
    "repetition",  # a person repeats "Hello?"; a greeting never repeats a sentence
)

DEFAULT_MODEL_PATH = Path(__file__).with_name("deadline_model.json")


def deadline_features(cadence: Cadence) -> list[float]:
    """The model's inputs for one cadence, in `FEATURE_NAMES` order."""
    values = []
    for name in FEATURE_NAMES:
        value = getattr(cadence, name)
        # Rounded to float32 as scikit-learn's trees compare them, so a value at a split's edge
        # goes the way it went when the model was fitted.
        values.append(0.0 if value is None else float(np.float32(value)))
    return values


@dataclass(frozen=True, slots=True)
class Tree:
    """One regression tree in flat arrays, as scikit-learn stores it.

    Node i is a leaf when `left[i] == -1`; otherwise go left when
    `features[feature[i]] <= threshold[i]`. `value[i]` is the leaf's contribution.
    """

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]

    def predict(self, features: list[float]) -> float:
        """The leaf value reached by these features."""
        node = 0
        while self.left[node] != -1:
            node = self.left[node] if features[self.feature[node]] <= self.threshold[node] else self.right[node]
        return self.value[node]


@dataclass(frozen=True, slots=True)
class DeadlineModel:
    """A boosted tree ensemble for P(machine): sigmoid(init + rate x sum of the trees).

    Attributes:
        feature_names: the inputs it was fitted on; must equal `FEATURE_NAMES`.
        init: the starting log-odds (the machines' share in the fitting rows).
        learning_rate: the shrinkage applied to every tree.
        trees: the fitted trees.
    """

    feature_names: tuple[str, ...]
    init: float
    learning_rate: float
    trees: tuple[Tree, ...]

    def machine_probability(self, cadence: Cadence) -> float:
        """P(machine) for an utterance with this cadence (0-1)."""
        return self.probability(deadline_features(cadence))

    def probability(self, features: list[float]) -> float:
        """P(machine) for one row of inputs in `FEATURE_NAMES` order (0-1)."""
        score = self.init + self.learning_rate * sum(tree.predict(features) for tree in self.trees)
        return 1.0 / (1.0 + math.exp(-score))

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form, read back by `load_model`."""
        return {
            "feature_names": list(self.feature_names),
            "init": self.init,
            "learning_rate": self.learning_rate,
            "trees": [
                {
                    "feature": list(t.feature),
                    "threshold": list(t.threshold),
                    "left": list(t.left),
                    "right": list(t.right),
                    "value": list(t.value),
                }
                for t in self.trees
            ],
        }


def load_model(path: Path = DEFAULT_MODEL_PATH) -> DeadlineModel:
    """Read a model written by `bench/amd.py --fit-deadline`.

    Raises:
        ValueError: the file is not a model for these features, or a tree is malformed (a node
            pointing outside its tree, an unknown feature).
    """
    try:
        data = json.loads(Path(path).read_text())
        names = tuple(data["feature_names"])
        trees = []
        for raw in data["trees"]:
            tree = Tree(
                tuple(int(i) for i in raw["feature"]),
                tuple(float(x) for x in raw["threshold"]),
                tuple(int(i) for i in raw["left"]),
                tuple(int(i) for i in raw["right"]),
                tuple(float(x) for x in raw["value"]),
            )
            size = len(tree.left)
            if not size or any(
                len(column) != size for column in (tree.feature, tree.threshold, tree.right, tree.value)
            ):
                raise ValueError("tree arrays differ in length")
            for node in range(size):
                if tree.left[node] == -1:
                    continue
                if not (node < tree.left[node] < size and node < tree.right[node] < size):
                    raise ValueError(f"node {node} points outside its tree")
                if not 0 <= tree.feature[node] < len(names):
                    raise ValueError(f"node {node} reads unknown feature {tree.feature[node]}")
            trees.append(tree)
        model = DeadlineModel(names, float(data["init"]), float(data["learning_rate"]), tuple(trees))
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a usable AMD deadline model: {exc}") from exc
    if model.feature_names != FEATURE_NAMES:
        raise ValueError(
            f"{path}: fitted on features {list(model.feature_names)}, this code computes {list(FEATURE_NAMES)}; "
            "refit it with `python bench/amd.py --fit-deadline`"
        )
    return model


@functools.cache
def shipped_model() -> DeadlineModel:
    """The model shipped with the code (`deadline_model.json`), read once per process."""
    return load_model(DEFAULT_MODEL_PATH)

"""Contact variables are a flat object of bounded texts (audit F18)."""

from __future__ import annotations

import pytest

from campaigns.rules.variables import InvalidVariables, check_variables


def test_a_flat_object_of_short_texts_passes() -> None:
    assert check_variables({"plan": "Gold", "city_2": ""}, max_keys=2, max_length=4) == {"plan": "Gold", "city_2": ""}


@pytest.mark.parametrize(("value", "message"), [
    (["a", "b"], "must be an object"),
    ("text", "must be an object"),
    ({"a": "1", "b": "2", "c": "3"}, "At most 2 variables"),
    ({"Plan": "x"}, "lower-case"),
    ({"a b": "x"}, "lower-case"),
    ({"plan": {"nested": "x"}}, "must be text"),
    ({"plan": 5}, "must be text"),
    ({"plan": None}, "must be text"),
    ({"plan": "x" * 11}, "at most 10 characters"),
])
def test_anything_else_is_refused_with_what_to_fix(value: object, message: str) -> None:
    with pytest.raises(InvalidVariables, match=message):
        check_variables(value, max_keys=2, max_length=10)

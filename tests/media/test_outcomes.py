"""The outcome schema an agent records against, and the check of a recorded outcome (media.outcomes)."""

from __future__ import annotations

from typing import Any

import pytest

from media.outcomes import FIELD_TYPES, OutcomeSchemaError, validate_outcome, validate_outcome_schema

SCHEMA: list[dict[str, Any]] = [
    {"label": "callback", "description": "Call back later.",
     "fields": [{"name": "when", "type": "datetime", "required": True, "description": "When to call."},
                {"name": "note"}]},
    {"label": "sale", "fields": [{"name": "amount", "type": "number", "required": True},
                                 {"name": "units", "type": "integer"}, {"name": "paid", "type": "boolean"},
                                 {"name": "day", "type": "date"}, {"name": "memo", "type": "string"}]},
    {"label": "not_interested"},
]


def schema_error(schema: Any) -> str:
    with pytest.raises(OutcomeSchemaError) as refused:
        validate_outcome_schema(schema)
    return str(refused.value)


# ---- the schema ----------------------------------------------------------------------------------------------


def test_a_schema_with_labels_typed_fields_and_defaults_is_accepted() -> None:
    # given outcomes without fields, and fields without a type or a required flag (a string, optional)
    # when / then it is usable as it is
    validate_outcome_schema(SCHEMA)
    validate_outcome_schema([{"label": "a" + "b" * 63, "fields": [{"name": "x", "type": t} for t in ["string"]]}])


def test_every_field_type_is_accepted_and_the_list_is_the_documented_one() -> None:
    assert FIELD_TYPES == ("string", "integer", "number", "boolean", "date", "datetime")
    validate_outcome_schema([{"label": "all", "fields": [{"name": f"f_{t}", "type": t} for t in FIELD_TYPES]}])


@pytest.mark.parametrize("schema", [None, {}, {"label": "ok"}, "ok", []])
def test_a_schema_that_is_not_a_non_empty_list_is_refused(schema: Any) -> None:
    assert schema_error(schema) == "The outcome schema must be a non-empty list of outcomes."


@pytest.mark.parametrize(("schema", "message"), [
    # outcomes are numbered from 1 for the operator
    ([{"label": "ok"}, "sale"], "Outcome 2 must be an object."),
    ([["label", "ok"]], "Outcome 1 must be an object."),
    ([{"label": "ok"}, {"description": "no label"}], "Outcome 2: label must be lower_snake_case, got None."),
    ([{"label": "Bad Label"}], "Outcome 1: label must be lower_snake_case, got 'Bad Label'."),
    ([{"label": 7}], "Outcome 1: label must be lower_snake_case, got 7."),
    ([{"label": "ok"}, {"label": "b"}, {"label": "ok"}], "Outcome 3: label 'ok' is repeated."),
    ([{"label": "ok", "colour": "red", "about": 1}], "Outcome 'ok': unknown keys ['about', 'colour']."),
    ([{"label": "ok", "fields": {"name": "x"}}], "Outcome 'ok': fields must be a list."),
    ([{"label": "ok", "fields": None}], "Outcome 'ok': fields must be a list."),
    ([{"label": "ok", "fields": ["x"]}], "Outcome 'ok': each field must be an object."),
    ([{"label": "ok", "fields": [{"type": "string"}]}],
     "Outcome 'ok': field name must be lower_snake_case, got None."),
    ([{"label": "ok", "fields": [{"name": "When"}]}], "Outcome 'ok': field name must be lower_snake_case, got 'When'."),
    ([{"label": "ok", "fields": [{"name": "a"}, {"name": "b"}, {"name": "a", "type": "date"}]}],
     "Outcome 'ok': field 'a' is repeated."),
    ([{"label": "ok", "fields": [{"name": "a", "type": "money"}]}],
     "Outcome 'ok', field 'a': type must be one of string, integer, number, boolean, date, datetime."),
    ([{"label": "ok", "fields": [{"name": "a", "type": None}]}],
     "Outcome 'ok', field 'a': type must be one of string, integer, number, boolean, date, datetime."),
])
def test_the_first_problem_of_a_schema_is_named(schema: Any, message: str) -> None:
    assert schema_error(schema) == message


def test_the_same_field_name_may_appear_in_two_outcomes() -> None:
    # given two outcomes that both record a note
    schema = [{"label": "a", "fields": [{"name": "note"}]}, {"label": "b", "fields": [{"name": "note"}]}]
    # when / then field names are unique per outcome only
    validate_outcome_schema(schema)


def test_a_later_outcome_is_checked_after_a_valid_first_one() -> None:
    # given a first outcome that is fine and a second one whose field is broken
    schema = [{"label": "a", "fields": [{"name": "x"}]}, {"label": "b", "fields": [{"name": "y", "type": "blob"}]}]
    # when / then the second one's problem is found
    assert schema_error(schema).startswith("Outcome 'b', field 'y'")


# ---- a recorded outcome --------------------------------------------------------------------------------------


def test_a_complete_outcome_has_no_problem() -> None:
    values = {"amount": 12.5, "units": 3, "paid": True, "day": "2026-06-16", "memo": "two boxes"}
    assert validate_outcome(SCHEMA, "sale", values) == []
    assert validate_outcome(SCHEMA, "callback", {"when": "2026-06-16T10:30:00+02:00", "note": "after lunch"}) == []


def test_an_outcome_without_fields_takes_no_values() -> None:
    assert validate_outcome(SCHEMA, "not_interested", {}) == []
    assert validate_outcome(SCHEMA, "not_interested", {"why": "busy"}) == ["unknown field 'why'"]


def test_an_unknown_label_is_the_only_problem_reported() -> None:
    assert validate_outcome(SCHEMA, "maybe", {"amount": "x"}) == ["unknown outcome label 'maybe'"]


def test_unknown_fields_are_listed_in_name_order() -> None:
    problems = validate_outcome(SCHEMA, "sale", {"amount": 1, "zeta": 1, "alpha": 2})
    assert problems == ["unknown field 'alpha'", "unknown field 'zeta'"]


@pytest.mark.parametrize("values", [{}, {"amount": None}, {"amount": ""}])
def test_a_required_field_left_out_or_empty_is_missing(values: dict[str, Any]) -> None:
    assert validate_outcome(SCHEMA, "sale", values) == ["missing required field 'amount'"]


def test_optional_fields_may_be_left_out_or_empty_and_the_rest_is_still_checked() -> None:
    # given optional fields before a wrongly typed one, some absent and some empty
    values = {"amount": 1, "units": None, "paid": "", "memo": 5}
    # when the outcome is checked
    problems = validate_outcome(SCHEMA, "sale", values)
    # then only the wrong type is a problem
    assert problems == ["field 'memo': expected string, got 5"]


def test_every_problem_is_reported_not_only_the_first() -> None:
    values = {"units": "three", "paid": 1, "day": "16/06/2026", "extra": 0}
    assert validate_outcome(SCHEMA, "sale", values) == [
        "unknown field 'extra'",
        "missing required field 'amount'",
        "field 'units': expected integer, got 'three'",
        "field 'paid': expected boolean, got 1",
        "field 'day': expected an ISO date, got '16/06/2026'",
    ]


def test_a_field_without_a_type_holds_a_string() -> None:
    # given the callback's note, declared without a type
    when = "2026-06-16T10:30:00"
    # when / then a string is fine and a number is not
    assert validate_outcome(SCHEMA, "callback", {"when": when, "note": "hi"}) == []
    assert validate_outcome(SCHEMA, "callback", {"when": when, "note": 3}) == ["field 'note': expected string, got 3"]


@pytest.mark.parametrize(("kind", "value", "problem"), [
    ("string", "yes", None),
    ("string", 1, "expected string, got 1"),
    ("integer", 3, None),
    ("integer", 3.0, "expected integer, got 3.0"),
    ("integer", "3", "expected integer, got '3'"),
    ("integer", True, "expected integer, got True"),
    ("number", 3, None),
    ("number", 2.5, None),
    ("number", "2.5", "expected number, got '2.5'"),
    ("number", False, "expected number, got False"),
    ("boolean", False, None),
    ("boolean", 0, "expected boolean, got 0"),
    ("boolean", "true", "expected boolean, got 'true'"),
    ("date", "2026-06-16", None),
    ("date", "2026-06-16T10:30:00", "expected an ISO date, got '2026-06-16T10:30:00'"),
    ("date", "2026-02-30", "expected an ISO date, got '2026-02-30'"),
    ("date", "tomorrow", "expected an ISO date, got 'tomorrow'"),
    ("datetime", "2026-06-16T10:30:00", None),
    ("datetime", "2026-06-16 10:30+02:00", None),
    ("datetime", "2026-06-16T25:00:00", "expected an ISO datetime, got '2026-06-16T25:00:00'"),
    ("datetime", "at ten", "expected an ISO datetime, got 'at ten'"),
])
def test_values_are_checked_against_their_declared_type(kind: str, value: Any, problem: str | None) -> None:
    # given an outcome with one optional field of this type
    schema = [{"label": "ok", "fields": [{"name": "x", "type": kind}]}]
    # when a value is recorded for it
    problems = validate_outcome(schema, "ok", {"x": value})
    # then it is accepted, or refused with the expected and the received value
    assert problems == ([] if problem is None else [f"field 'x': {problem}"])

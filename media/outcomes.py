"""The outcome schema: the labels and typed fields an agent must record at the end of a call.

Plain Python (the media library has no Django): problems raise `OutcomeSchemaError`, a ValueError; the
campaigns app turns it into a form error.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any


class OutcomeSchemaError(ValueError):
    """An outcome schema that cannot be used, with the first problem in words."""

FIELD_TYPES = ("string", "integer", "number", "boolean", "date", "datetime")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def validate_outcome_schema(schema: Any) -> None:
    """Raise OutcomeSchemaError naming the first problem in an outcome schema.

    The schema is a list of outcomes, each ``{"label", "description", "fields": [{"name", "type",
    "required", "description"}]}``; labels and field names are lower_snake_case and unique.
    """
    if not isinstance(schema, list) or not schema:
        raise OutcomeSchemaError("The outcome schema must be a non-empty list of outcomes.")
    labels: set[str] = set()
    for i, outcome in enumerate(schema, start=1):
        if not isinstance(outcome, dict):
            raise OutcomeSchemaError(f"Outcome {i} must be an object.")
        label = outcome.get("label")
        if not isinstance(label, str) or not _NAME.match(label):
            raise OutcomeSchemaError(f"Outcome {i}: label must be lower_snake_case, got {label!r}.")
        if label in labels:
            raise OutcomeSchemaError(f"Outcome {i}: label {label!r} is repeated.")
        labels.add(label)
        unknown = set(outcome) - {"label", "description", "fields"}
        if unknown:
            raise OutcomeSchemaError(f"Outcome {label!r}: unknown keys {sorted(unknown)}.")
        fields = outcome.get("fields", [])
        if not isinstance(fields, list):
            raise OutcomeSchemaError(f"Outcome {label!r}: fields must be a list.")
        names: set[str] = set()
        for field in fields:
            if not isinstance(field, dict):
                raise OutcomeSchemaError(f"Outcome {label!r}: each field must be an object.")
            name = field.get("name")
            if not isinstance(name, str) or not _NAME.match(name):
                raise OutcomeSchemaError(f"Outcome {label!r}: field name must be lower_snake_case, got {name!r}.")
            if name in names:
                raise OutcomeSchemaError(f"Outcome {label!r}: field {name!r} is repeated.")
            names.add(name)
            if field.get("type", "string") not in FIELD_TYPES:
                raise OutcomeSchemaError(
                    f"Outcome {label!r}, field {name!r}: type must be one of {', '.join(FIELD_TYPES)}."
                )


def validate_outcome(schema: list[dict[str, Any]], label: str, values: dict[str, Any]) -> list[str]:
    """Check a recorded outcome against its schema; return the problems (empty when valid)."""
    by_label = {o["label"]: o for o in schema}
    if label not in by_label:
        return [f"unknown outcome label {label!r}"]
    problems: list[str] = []
    fields = {f["name"]: f for f in by_label[label].get("fields", [])}
    for name in sorted(set(values) - set(fields)):
        problems.append(f"unknown field {name!r}")
    for name, spec in fields.items():
        if name not in values or values[name] in (None, ""):
            if spec.get("required"):
                problems.append(f"missing required field {name!r}")
            continue
        problem = _check_type(spec.get("type", "string"), values[name])
        if problem:
            problems.append(f"field {name!r}: {problem}")
    return problems


def _check_type(kind: str, value: Any) -> str | None:
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    if kind in checks:
        return None if checks[kind](value) else f"expected {kind}, got {value!r}"
    parser = dt.date.fromisoformat if kind == "date" else dt.datetime.fromisoformat
    try:
        parser(str(value))
    except ValueError:
        return f"expected an ISO {kind}, got {value!r}"
    return None

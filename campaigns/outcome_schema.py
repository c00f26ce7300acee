"""The model validator for an agent's outcome schema: the rules live in `media.outcomes`, errors become form errors.

Kept at this path because migrations name `campaigns.outcome_schema.validate_outcome_schema`. Also checks a
recorded outcome against the schema before an attempt stores it (`checked_outcome`).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from media.outcomes import OutcomeSchemaError, validate_outcome
from media.outcomes import validate_outcome_schema as check_outcome_schema


def validate_outcome_schema(schema: Any) -> None:
    """Django validator: raise ValidationError naming the first problem in an outcome schema."""
    try:
        check_outcome_schema(schema)
    except OutcomeSchemaError as exc:
        raise ValidationError(str(exc)) from exc


def checked_outcome(schema: list[dict[str, Any]], results: dict[str, Any]) -> dict[str, Any]:
    """``results`` whose ``outcome`` fits ``schema``, or with the outcome moved out of the label.

    Why (audit F13): reports, retries and webhooks trust ``CallAttempt.outcome`` to be one of the schema's
    labels; a label the model made up (or was talked into) must be kept for review, not counted. An invalid
    one leaves ``outcome`` blank, keeps what was sent under ``invalid_label``/``invalid_fields`` and names the
    problems in ``outcome_error``.

    Args:
        schema: the campaign agent's outcome schema.
        results: the results of `campaigns.dialer.attempts.finish_attempt`.
    """
    label = results.get("outcome") or ""
    if not label:
        return results
    fields = results.get("outcome_fields") or {}
    problems = validate_outcome(schema, label, fields) if isinstance(fields, dict) else ["fields must be an object"]
    if not problems:
        return results
    earlier = results.get("outcome_error") or ""
    error = "; ".join([earlier, *problems] if earlier else problems)
    return {
        **results,
        "outcome": "",
        "outcome_fields": {"invalid_label": label, "invalid_fields": fields},
        "outcome_error": error,
    }

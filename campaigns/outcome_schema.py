"""The model validator for an agent's outcome schema: the rules live in `media.outcomes`, errors become form errors.

Kept at this path because migrations name `campaigns.outcome_schema.validate_outcome_schema`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from media.outcomes import OutcomeSchemaError
from media.outcomes import validate_outcome_schema as check_outcome_schema


def validate_outcome_schema(schema: Any) -> None:
    """Django validator: raise ValidationError naming the first problem in an outcome schema."""
    try:
        check_outcome_schema(schema)
    except OutcomeSchemaError as exc:
        raise ValidationError(str(exc)) from exc

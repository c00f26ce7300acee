"""Consent columns of a contact file: a usable consent, or a row error that says why."""

from __future__ import annotations

import datetime as dt

import pytest

from compliance.choices import ConsentKind
from compliance.consent_columns import ConsentError, consent_from_values

NOW = dt.datetime(2026, 6, 16, 16, 0, tzinfo=dt.UTC)


def test_no_consent_columns_means_no_consent() -> None:
    assert consent_from_values({}, now=NOW) is None
    assert consent_from_values({"consent_type": " ", "consent_at": ""}, now=NOW) is None


def test_written_consent_with_an_offset_is_stored_in_utc() -> None:
    fields = consent_from_values({"consent_type": "Prior Express Written", "consent_at": "2026-05-01T10:00:00-04:00",
                                  "consent_source": "https://example.invalid/form", "consent_text": "I agree"},
                                 now=NOW)
    assert fields is not None
    assert fields.kind == ConsentKind.WRITTEN
    assert fields.obtained_at == dt.datetime(2026, 5, 1, 14, 0, tzinfo=dt.UTC)
    assert (fields.source, fields.text) == ("https://example.invalid/form", "I agree")


@pytest.mark.parametrize(("values", "message"), [
    ({"consent_type": "written"}, "needs both"),
    ({"consent_at": "2026-05-01"}, "needs both"),
    ({"consent_type": "implied", "consent_at": "2026-05-01"}, "unknown consent type"),
    ({"consent_type": "express", "consent_at": "yesterday"}, "unreadable consent time"),
    ({"consent_type": "express", "consent_at": "2026-07-01"}, "in the future"),
])
def test_unusable_consent_is_a_row_error(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConsentError, match=message):
        consent_from_values(values, now=NOW)

"""Consent given in a contact file: the columns, and the checks that make a row's consent usable or a row error.

Columns (any header alias, case-insensitive): ``consent_type`` (``written`` / ``prior_express_written``,
``express`` / ``prior_express``), ``consent_at`` (ISO 8601 with an offset, or a date), ``consent_source``,
``consent_text``, ``consent_evidence``, ``consent_seller``. A row with a consent type and no time (or the reverse)
is a row error: a consent without its time cannot be checked against reassigned-number results.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from compliance.choices import ConsentKind

CONSENT_COLUMNS = {
    "consent_type": ("consent_type", "consent", "consent_kind"),
    "consent_at": ("consent_at", "consent_date", "consent_time", "opt_in_date"),
    "consent_source": ("consent_source", "consent_url", "opt_in_source"),
    "consent_text": ("consent_text", "consent_language"),
    "consent_evidence": ("consent_evidence", "consent_ref", "consent_proof"),
    "consent_seller": ("consent_seller",),
}
_KINDS = {
    "written": ConsentKind.WRITTEN, "prior_express_written": ConsentKind.WRITTEN, "pewc": ConsentKind.WRITTEN,
    "express": ConsentKind.PRIOR_EXPRESS, "prior_express": ConsentKind.PRIOR_EXPRESS,
}
# A file that gives no zone for a consent time is read in UTC; a date alone means its start in UTC.


class ConsentError(ValueError):
    """A row's consent that cannot be used; the message is the row error."""


@dataclass(frozen=True, slots=True)
class ConsentFields:
    """A row's consent, checked."""

    kind: str
    obtained_at: dt.datetime
    source: str
    text: str
    evidence_ref: str
    seller: str


def consent_from_values(values: dict[str, str], *, now: dt.datetime) -> ConsentFields | None:
    """The consent of one row from its consent columns (keys of ``CONSENT_COLUMNS``); None when it gives none.

    Raises:
        ConsentError: unknown type, unreadable or future time, or a type without a time (or the reverse).
    """
    kind_text = values.get("consent_type", "").strip().lower().replace(" ", "_").replace("-", "_")
    at_text = values.get("consent_at", "").strip()
    if not kind_text and not at_text:
        return None
    if not kind_text or not at_text:
        raise ConsentError("consent needs both consent_type and consent_at")
    kind = _KINDS.get(kind_text)
    if kind is None:
        raise ConsentError(f"unknown consent type {kind_text!r} (use written or express)")
    try:
        obtained = dt.datetime.fromisoformat(at_text)
    except ValueError as exc:
        raise ConsentError(f"unreadable consent time {at_text!r} (use ISO 8601, e.g. 2026-05-01T10:00:00-04:00)") \
            from exc
    if obtained.tzinfo is None:
        obtained = obtained.replace(tzinfo=dt.UTC)
    if obtained > now:
        raise ConsentError(f"consent time {at_text} is in the future")
    return ConsentFields(kind=kind, obtained_at=obtained.astimezone(dt.UTC),
                         source=values.get("consent_source", "").strip()[:200] or "contact file",
                         text=values.get("consent_text", "").strip(),
                         evidence_ref=values.get("consent_evidence", "").strip()[:300],
                         seller=values.get("consent_seller", "").strip()[:200])

"""Read queries the report pages use beside the report: recent attempts, one attempt, the contacts CSV."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from django.db import connection

from campaigns.choices import ContactStatus
from campaigns.models import CallAttempt, Campaign, Contact
from campaigns.reports.facts import EXPORT_CHUNK, MAX_ID, RECENT_ATTEMPTS
from campaigns.reports.report import outcome_field_names

logger = logging.getLogger(__name__)


def recent_attempts(campaign_id: int, limit: int = RECENT_ATTEMPTS) -> list[CallAttempt]:
    """The campaign's latest attempts with their contact, for the report's attempt table."""
    with connection.cursor() as cursor:
        # Read from the end of attempt_report_idx (campaign, id). Row comparisons keep the planner there:
        # with "campaign_id = X ORDER BY id DESC" it walks the primary key back through every campaign's
        # newer attempts.
        cursor.execute("SELECT id FROM campaigns_callattempt WHERE (campaign_id, id) > (%s, 0) "
                       "AND (campaign_id, id) <= (%s, %s) ORDER BY campaign_id DESC, id DESC LIMIT %s",
                       [campaign_id, campaign_id, MAX_ID, limit])
        ids = [row[0] for row in cursor.fetchall()]
    return list(
        CallAttempt.objects.filter(pk__in=ids).select_related("contact")
        .only("id", "attempt_number", "state", "disposition", "sip_code", "queued_at", "dialing_at", "answered_at",
              "ended_at", "outcome", "recording", "cost", "contact__id", "contact__phone_e164", "contact__name")
        .order_by("-id")
    )


def attempt_for_report(campaign_id: int, attempt_id: int) -> CallAttempt:
    """One attempt of the campaign with its contact and trunk (``CallAttempt.DoesNotExist`` otherwise)."""
    return CallAttempt.objects.select_related("contact", "trunk", "campaign").get(pk=attempt_id,
                                                                                 campaign_id=campaign_id)


def contact_export_header(field_names: Sequence[str]) -> list[str]:
    """Header of the contacts CSV: fixed columns, then one column per outcome field."""
    return ["phone", "name", "status", "attempts", "last_disposition", "outcome",
            *[f"outcome.{name}" for name in field_names]]


def contact_export_rows(campaign: Campaign) -> tuple[list[str], Iterator[list[Any]]]:
    """The contacts CSV of a campaign: its header and a stream of rows, one per contact, by id.

    The field columns are the agent's schema fields followed by any other field name found in the data
    (a schema edited mid-campaign must not lose values). Rows are read with a server-side cursor in
    chunks, so a million contacts never sit in memory.

    Returns:
        ``(header, rows)``; values are raw (the CSV writer makes them safe for spreadsheets).
    """
    names = outcome_field_names(campaign)
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT jsonb_object_keys(outcome_fields) FROM campaigns_contact "
                       "WHERE campaign_id = %s AND outcome_fields <> '{}'::jsonb", [campaign.pk])
        extra = sorted({row[0] for row in cursor.fetchall()} - set(names))
    names = names + extra
    statuses = dict(ContactStatus.choices)

    def rows() -> Iterator[list[Any]]:
        queryset = (Contact.objects.filter(campaign_id=campaign.pk).order_by("id")
                    .values_list("phone_e164", "name", "status", "attempts", "last_disposition", "outcome",
                                 "outcome_fields"))
        for phone, name, status, attempts, last_disposition, outcome, fields in queryset.iterator(EXPORT_CHUNK):
            values = fields if isinstance(fields, dict) else {}
            yield [phone, name, statuses.get(status, status), attempts, last_disposition, outcome,
                   *[_cell_value(values.get(n)) for n in names]]

    return contact_export_header(names), rows()


def _cell_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


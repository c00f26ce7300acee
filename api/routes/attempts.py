"""Call attempts: a filtered list, and one attempt with its transcript and (for those allowed) its recording."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from ninja import Router

from api.problems import not_found
from api.schemas import AttemptDetail, AttemptPage
from api.v1 import paginate, problems, require
from campaigns.models import CallAttempt

router = Router()

ATTEMPT_FIELDS = ("id", "campaign_id", "contact_id", "attempt_number", "state", "disposition", "reason", "caller_id",
                  "sip_code", "queued_at", "answered_at", "ended_at", "amd_result", "outcome", "outcome_fields",
                  "cost", "cost_currency")


def attempt_summary(attempt: CallAttempt) -> dict[str, Any]:
    """The list form of an attempt (no transcript)."""
    out = {f: getattr(attempt, f) for f in ATTEMPT_FIELDS}
    out["talk_seconds"] = attempt.talk_seconds
    return out


@router.get("", response={200: AttemptPage, **problems()}, summary="List call attempts")
def list_attempts(request: HttpRequest, campaign_id: int | None = None, contact_id: int | None = None,
                  state: str | None = None, disposition: str | None = None, outcome: str | None = None,
                  since: dt.datetime | None = None, cursor: str | None = None,
                  limit: int | None = None) -> dict[str, Any]:
    require(request, "campaigns.view_callattempt")
    qs = CallAttempt.objects.defer("transcript", "usage", "first_response_ms")
    filters = {"campaign_id": campaign_id, "contact_id": contact_id, "state": state, "disposition": disposition,
               "outcome": outcome, "queued_at__gte": since}
    qs = qs.filter(**{k: v for k, v in filters.items() if v is not None})
    page = paginate(qs, cursor, limit)
    page["items"] = [attempt_summary(a) for a in page["items"]]
    return page


@router.get("/{attempt_id}", response={200: AttemptDetail, **problems(404)},
            summary="One attempt: outcome, transcript, recording URL")
def read_attempt(request: HttpRequest, attempt_id: int) -> dict[str, Any]:
    # F4: the transcript is the conversation itself; it needs the attempt permission, not only the campaign's.
    key = require(request, "campaigns.view_callattempt")
    attempt = CallAttempt.objects.filter(pk=attempt_id).first()
    if attempt is None:
        raise not_found("call attempt")
    out = attempt_summary(attempt)
    out["transcript"] = [s for s in attempt.transcript if isinstance(s, dict)]
    out["recording_url"] = None
    if attempt.recording and key.has_perm("campaigns.listen_recording"):
        out["recording_url"] = request.build_absolute_uri(reverse(
            "admin:campaigns_campaign_report_recording", args=[attempt.campaign_id, attempt.pk]))
    return out

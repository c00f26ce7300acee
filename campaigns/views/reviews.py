"""The attempt page's review form: correct the outcome or flag the call (campaigns/dialer/reviews.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_POST

from campaigns.dialer.reviews import OutcomeReviewError, correct_outcome, flag_attempt
from campaigns.models import CallAttempt, Campaign

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

NOTE_MAX = 500


def outcome_labels(campaign: Campaign) -> list[str]:
    """The labels of the campaign's agent schema: what a correction may choose from."""
    schema = campaign.agent.outcome_schema if isinstance(campaign.agent.outcome_schema, list) else []
    return [str(o["label"]) for o in schema if isinstance(o, dict) and o.get("label")]


@require_POST
def review_attempt(request: HttpRequest, campaign_id: int, attempt_id: int, *, model_admin: ModelAdmin) -> HttpResponse:
    """Correct the outcome (``action=correct``, ``label``) or flag the call (``action=flag``), with a note."""
    campaign = get_object_or_404(Campaign.objects.select_related("agent"), pk=campaign_id)
    if not model_admin.has_change_permission(request, campaign):
        raise PermissionDenied
    attempt = get_object_or_404(CallAttempt.objects.only("id"), pk=attempt_id, campaign_id=campaign.pk)
    note = request.POST.get("note", "").strip()[:NOTE_MAX]
    try:
        if request.POST.get("action") == "flag":
            done = flag_attempt(attempt.pk, user=request.user, note=note)  # type: ignore[arg-type]
        else:
            done = correct_outcome(attempt.pk, request.POST.get("label", ""), user=request.user,  # type: ignore[arg-type]
                                   note=note, labels=outcome_labels(campaign))
    except OutcomeReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{done}.")
    return HttpResponseRedirect(reverse("admin:campaigns_campaign_report_attempt", args=[campaign.pk, attempt.pk]))

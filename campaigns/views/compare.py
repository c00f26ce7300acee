"""The campaign comparison page: two to six campaigns side by side (campaigns/reports/compare.py).

The same rule as the report (campaigns/views/reports.py): ``view_campaign`` on every campaign compared, and
aggregates only: no number, no name, no transcript.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from campaigns.models import Campaign
from campaigns.reports.compare import MAX_COMPARED, compare_campaigns

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

PICKER_ROWS = 200


def parse_ids(values: list[str]) -> list[int]:
    """Campaign ids from ``?ids=1&ids=2`` or ``?ids=1,2``, in order, without repeats.

    Raises:
        ValueError: an id that is not a positive whole number (the message names it).
    """
    ids: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or int(part) < 1:
                raise ValueError(f"\u201c{part}\u201d is not a campaign id.")
            if int(part) not in ids:
                ids.append(int(part))
    return ids


@require_GET
def compare_view(request: HttpRequest, *, model_admin: ModelAdmin) -> HttpResponse:
    """Compare the campaigns named by ``ids``; without two of them, the picker."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    error = ""
    comparison = None
    try:
        ids = parse_ids(request.GET.getlist("ids"))
    except ValueError as exc:
        ids, error = [], str(exc)
    if ids:
        found = {c.pk: c for c in Campaign.objects.select_related("agent", "trunk").filter(pk__in=ids)}
        missing = [str(i) for i in ids if i not in found]
        if missing:
            error = f"No campaign with id {', '.join(missing)}."
        elif any(not model_admin.has_view_permission(request, c) for c in found.values()):
            raise PermissionDenied
        else:
            try:
                comparison = compare_campaigns([found[i] for i in ids])
            except ValueError as exc:
                error = str(exc)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Campaign._meta,
        "title": "Compare campaigns",
        "comparison": comparison,
        "error": error,
        "selected": ids,
        "max_compared": MAX_COMPARED,
        "choices": list(Campaign.objects.order_by("-created_at").values("pk", "name", "status")[:PICKER_ROWS]),
    }
    return TemplateResponse(request, "admin/campaigns/compare.html", context)

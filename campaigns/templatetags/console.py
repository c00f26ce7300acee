"""The admin home as the operator's dashboard: campaigns in progress and today's figures across them.

A template tag (``{% console_dashboard as dash %}`` in templates/admin/index.html) so the admin site itself
stays the stock one. Four small queries whatever the size of the ledger: the active campaigns with their
in-flight counts (partial in-flight index), and today's attempts, opt-outs and failed imports.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import template
from django.conf import settings
from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from campaigns.choices import ATTEMPT_IN_FLIGHT, CAMPAIGN_ACTIVE, CONTACT_DIALABLE, DncSource, ImportStatus
from campaigns.models import CallAttempt, Campaign, DoNotCall, ImportJob

register = template.Library()


@register.simple_tag
def console_dashboard() -> dict[str, Any]:
    """Running and paused campaigns (calls in flight / cap, contacts left) and today's totals (UTC day)."""
    now = timezone.now()
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    campaigns = list(
        Campaign.objects.filter(status__in=sorted(CAMPAIGN_ACTIVE)).order_by("status", "-started_at", "pk")
        .annotate(in_flight=Count("attempts", filter=Q(attempts__state__in=sorted(ATTEMPT_IN_FLIGHT)),
                                  distinct=True))
        .values("pk", "name", "status", "max_concurrent", "in_flight")[:20])
    waiting: dict[int, int] = {}
    if campaigns:
        waiting = dict(Campaign.objects.filter(pk__in=[c["pk"] for c in campaigns])
                       .annotate(n=Count("contacts", filter=Q(contacts__status__in=sorted(CONTACT_DIALABLE))))
                       .values_list("pk", "n"))
    for row in campaigns:
        row["waiting"] = waiting.get(row["pk"], 0)
        row["change_url"] = reverse("admin:campaigns_campaign_change", args=[row["pk"]])
        row["report_url"] = reverse("admin:campaigns_campaign_report", args=[row["pk"]])
    dialed_today = CallAttempt.objects.filter(queued_at__gte=day_start, originated_at__isnull=False)
    today = dialed_today.aggregate(dialed=Count("id"), answered=Count("id", filter=Q(answered_at__isnull=False)))
    # Never one sum across currencies: one figure per currency the calls were charged in.
    spend = [(row["cost_currency"], (row["total"] or Decimal(0)).quantize(Decimal("0.01")))
             for row in dialed_today.filter(cost__isnull=False).exclude(cost_currency="").order_by("cost_currency")
             .values("cost_currency").annotate(total=Sum("cost"))]
    return {
        "campaigns": campaigns,
        "in_flight": sum(c["in_flight"] for c in campaigns),
        "dialed": today["dialed"],
        "answered": today["answered"],
        "spend": spend,
        "currency": settings.COST_CURRENCY,  # shown as "0.00 USD" when nothing was spent today
        "opt_outs": DoNotCall.objects.filter(source=DncSource.OPT_OUT, created_at__gte=day_start).count(),
        "failed_imports": ImportJob.objects.filter(status=ImportStatus.FAILED,
                                                   created_at__gte=day_start - dt.timedelta(days=6)).count(),
        "as_of": now,
    }

"""Read queries for the dialer's live view of a campaign."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from campaigns.choices import ATTEMPT_IN_FLIGHT, CONTACT_DIALABLE, ContactStatus, Disposition
from campaigns.models import CallAttempt, Campaign, Contact
from campaigns.rules.windows import CallingWindow, contact_in_window, next_window_opening
from compliance.selectors import campaign_compliance_view

# Grouping a large campaign's waiting contacts by zone reads all of them: done at most this often.
ZONE_GROUPS_CACHE_S = 30
MAX_WINDOW_ROWS = 10


def _zone_groups(campaign_id: int) -> list[tuple[list[str], int]]:
    key = f"dialer:zone-groups:{campaign_id}"
    groups = cache.get(key)
    if groups is None:
        groups = [(list(zones), n) for zones, n in
                  Contact.objects.filter(campaign_id=campaign_id, status__in=CONTACT_DIALABLE)
                  .values_list("time_zones").annotate(n=Count("id")).order_by()]
        cache.set(key, groups, ZONE_GROUPS_CACHE_S)
    return groups


def campaign_live_stats(campaign_id: int, now: dt.datetime | None = None) -> dict[str, Any]:
    """What the campaign page shows live: calls in flight / limit, dials in the last minute, contacts by
    status, and when the window next opens for waiting contacts outside it.

    Returns:
        A JSON-ready dict.
    """
    now = now or timezone.now()
    campaign = Campaign.objects.get(pk=campaign_id)
    window = CallingWindow.of(campaign)
    attempts = CallAttempt.objects.filter(campaign_id=campaign_id).aggregate(
        in_flight=Count("id", filter=Q(state__in=ATTEMPT_IN_FLIGHT)),
        # Handed to a user agent in the last minute (not-dialed attempts excluded).
        dialed_last_minute=Count("id", filter=Q(queued_at__gte=now - dt.timedelta(minutes=1),
                                               originated_at__isnull=False)
                                 & ~Q(disposition=Disposition.CANCELLED)),
    )
    by_status = dict(Contact.objects.filter(campaign_id=campaign_id).values_list("status")
                     .annotate(n=Count("id")).order_by())
    outside: list[dict[str, Any]] = []
    unknown_zone = 0
    for zones, n in _zone_groups(campaign_id):
        if not zones:
            unknown_zone += n
            continue
        if contact_in_window(zones, now, window):
            continue
        opens = next_window_opening(zones, now, window)
        outside.append({"zones": zones, "contacts": n, "opens_at": opens.isoformat() if opens else None})
    outside.sort(key=lambda row: (row["opens_at"] is None, row["opens_at"] or "", -row["contacts"]))
    return {
        "campaign_id": campaign_id,
        "status": campaign.status,
        "status_label": campaign.get_status_display(),
        "in_flight": attempts["in_flight"],
        "limit": campaign.max_concurrent,
        "dialed_last_minute": attempts["dialed_last_minute"],
        "contacts_by_status": [{"status": s.value, "label": s.label, "count": by_status.get(s.value, 0)}
                               for s in ContactStatus],
        "outside_window": outside[:MAX_WINDOW_ROWS],
        "outside_window_contacts": sum(row["contacts"] for row in outside),
        "next_window_opening": outside[0]["opens_at"] if outside else None,
        "unknown_zone_contacts": unknown_zone,
        "compliance": campaign_compliance_view(campaign_id, now),
        "as_of": now.isoformat(),
    }

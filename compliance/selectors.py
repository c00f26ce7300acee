"""Read queries of the compliance app for the campaign's live view and report."""

from __future__ import annotations

import datetime as dt
from typing import Any

from compliance.choices import CampaignPurpose
from compliance.governor import abandonment_counts
from compliance.models import CampaignCompliance, CampaignGovernor, CampaignHistory
from compliance.services import national_dnc_status

HISTORY_ROWS = 5


def campaign_compliance_view(campaign_id: int, now: dt.datetime) -> dict[str, Any]:
    """The abandonment rate over 30 days (live, from the ledger), the governor's limit and its last actions, and
    a blocking message when a telemarketing campaign's national do-not-call download is missing or stale."""
    answered, abandoned = abandonment_counts([campaign_id], now)[campaign_id]
    limit = CampaignGovernor.objects.filter(campaign_id=campaign_id).values_list("concurrency_limit", flat=True).first()
    history = [{"at": h.at.isoformat(), "action": h.get_action_display(), "reason": h.reason}
               for h in CampaignHistory.objects.filter(campaign_id=campaign_id)[:HISTORY_ROWS]]
    blocked = None
    if CampaignCompliance.objects.filter(campaign_id=campaign_id, purpose=CampaignPurpose.TELEMARKETING).exists():
        allowed, message = national_dnc_status(now)
        blocked = None if allowed else message
    return {
        "abandonment": {"answered": answered, "abandoned": abandoned,
                        "rate_pct": round(100 * abandoned / answered, 2) if answered else 0.0,
                        "governor_limit": limit, "history": history},
        "dialing_blocked": blocked,
    }

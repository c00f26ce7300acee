"""Report rollups: the only writes of the reports (the beat moves them forward every minute)."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.choices import CAMPAIGN_ACTIVE, CAMPAIGN_FINISHED
from campaigns.models import Campaign, ReportRollup
from campaigns.reports.facts import _WATERMARK_SQL, MAX_ID, SETTLE_S, Partial, aggregate_attempts

logger = logging.getLogger(__name__)


def refresh_report_rollup(campaign_id: int) -> int:
    """Move the campaign's report rollup forward over the attempts that ended since.

    The rollup covers every attempt up to the first one still in flight: those have ended and do not
    change. Two refreshes may run at once: the watermark is moved with a conditional update, and the one
    that loses leaves the other's result in place (the report then reads a few more attempts live).

    Returns:
        The attempt id the rollup covers through.
    """
    current = ReportRollup.objects.filter(campaign_id=campaign_id).values_list("through_attempt_id", flat=True).first()
    if current is None:
        ReportRollup.objects.get_or_create(campaign_id=campaign_id)
        current = 0
    with connection.cursor() as cursor:
        cursor.execute(_WATERMARK_SQL, {"campaign": campaign_id, "max_id": MAX_ID,
                                        "settled": timezone.now() - dt.timedelta(seconds=SETTLE_S)})
        watermark = int(cursor.fetchone()[0])
    if watermark <= current:
        return current
    with transaction.atomic():
        data = ReportRollup.objects.filter(campaign_id=campaign_id).values_list("data", flat=True)[0]
        partial = Partial.from_json(data)
        partial.add(aggregate_attempts(campaign_id, current, watermark))
        moved = ReportRollup.objects.filter(campaign_id=campaign_id, through_attempt_id=current).update(
            through_attempt_id=watermark, data=partial.to_json(), updated_at=timezone.now())
    if not moved:
        logger.info("report rollup of campaign %s moved by another refresh", campaign_id)
    return watermark


# Campaigns whose rollup the beat keeps moving: active ones, and finished ones for this long after they
# finished (their last attempts settle for SETTLE_S; a report opened later finds the rollup complete).
ROLLUP_AFTER_FINISH = dt.timedelta(hours=1)


def refresh_report_rollups(now: dt.datetime | None = None) -> dict[int, int]:
    """Move the report rollup of every active or recently finished campaign forward (beat, every minute).

    Why: the first report of a campaign with a million attempts aggregated them all in the web request
    (17-42 s). Moved every minute, the rollup only ever takes the last minute's attempts, and a report
    reads the few attempts after it live.

    Returns:
        The attempt id each refreshed campaign's rollup now covers through, by campaign id.
    """
    now = now or timezone.now()
    ids = Campaign.objects.filter(
        Q(status__in=CAMPAIGN_ACTIVE) | Q(status__in=CAMPAIGN_FINISHED, finished_at__gte=now - ROLLUP_AFTER_FINISH)
    ).order_by("pk").values_list("pk", flat=True)
    return {campaign_id: refresh_report_rollup(campaign_id) for campaign_id in ids}


def reset_report_rollup(campaign_id: int) -> None:
    """Forget the campaign's rollup; the next report aggregates every attempt again.

    For when ended attempts were corrected in the database by hand: the rollup assumes they never change.
    """
    ReportRollup.objects.filter(campaign_id=campaign_id).delete()


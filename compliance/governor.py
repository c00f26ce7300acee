"""The abandonment governor: the rolling 30-day abandonment rate of each running campaign, live, and what the
dialer does about it.

FCC 47 CFR 64.1200(a)(7) and the TSR (16 CFR 310.4(b)(4)): at most 3 % of live-answered calls per campaign per
30 days may be abandoned, i.e. no live voice within 2 seconds of the person's completed greeting. With an AI
agent that means the agent's first audio more than 2 s after answer, or never (the definition of
``campaigns/reports/facts.py``, the same in both places). An AI campaign abandons when its agents are slow, and
load makes them slow, so the governor lowers the campaign's concurrency from ``throttle_at`` (2.5 %) and pauses
the campaign before the next abandoned call could take it past 3 %.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.apps import apps
from django.db import connection, transaction

from compliance.choices import GovernorAction
from compliance.models import CampaignGovernor, CampaignHistory

logger = logging.getLogger(__name__)

ABANDON_AFTER_S = 2  # FCC: a live voice within two seconds of the completed greeting
LEGAL_LIMIT = 0.03  # FCC/TSR: 3 % of live-answered calls per campaign per 30 days
WINDOW = dt.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class GovernorConfig:
    """Thresholds of the governor (a bad value fails at start, naming the field)."""

    throttle_at: float = 0.025
    pause_at: float = 0.029

    def __post_init__(self) -> None:
        if not 0 < self.throttle_at < self.pause_at <= LEGAL_LIMIT:
            raise ValueError(f"GovernorConfig: need 0 < throttle_at < pause_at <= {LEGAL_LIMIT}, got {self}")


@dataclass(frozen=True, slots=True)
class Decision:
    """What the governor wants for one campaign."""

    action: str | None  # a GovernorAction, or None to keep things as they are
    limit: int | None  # the concurrency allowed (None = the campaign's own)
    rate: float
    reason: str


def decide(answered: int, abandoned: int, max_concurrent: int, current_limit: int | None,
           config: GovernorConfig = GovernorConfig()) -> Decision:
    """The governor's decision for a campaign with ``abandoned`` of ``answered`` live-answered calls in 30 days.

    Pause when the rate reaches ``pause_at``, or when it is at least ``throttle_at`` and one more abandoned call
    would take it past the legal 3 %. Between ``throttle_at`` and ``pause_at`` the concurrency falls linearly from
    half the campaign's to 1. Below ``throttle_at`` a lowered limit is restored.
    """
    rate = abandoned / answered if answered else 0.0
    figures = f"{abandoned} abandoned of {answered} answered in 30 days = {rate:.2%}"
    next_rate = (abandoned + 1) / (answered + 1)
    if rate >= config.pause_at or (rate >= config.throttle_at and next_rate > LEGAL_LIMIT):
        return Decision(GovernorAction.PAUSE, current_limit, rate,
                        f"abandonment {figures}; one more would be {next_rate:.2%} (limit 3 %): paused")
    if rate >= config.throttle_at:
        fraction = (config.pause_at - rate) / (config.pause_at - config.throttle_at)
        limit = max(1, math.floor(max_concurrent * 0.5 * fraction))
        if current_limit is not None and current_limit <= limit:
            return Decision(None, current_limit, rate, figures)
        return Decision(GovernorAction.THROTTLE, limit, rate,
                        f"abandonment {figures} (throttle from {config.throttle_at:.1%}): concurrency "
                        f"{max_concurrent} -> {limit}")
    if current_limit is not None:
        return Decision(GovernorAction.RESTORE, None, rate, f"abandonment {figures}: concurrency restored")
    return Decision(None, None, rate, figures)


def abandonment_counts(campaign_ids: Sequence[int], now: dt.datetime) -> dict[int, tuple[int, int]]:
    """(live-answered, abandoned) calls of each campaign over the 30 days before ``now``, from the ledger."""
    if not campaign_ids:
        return {}
    attempt_t = apps.get_model("campaigns", "CallAttempt")._meta.db_table
    human = "(a.disposition IN ('human', 'opted_out', 'transferred') OR a.amd_result = 'human')"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT a.campaign_id, count(*) FILTER (WHERE {human}),
                       count(*) FILTER (WHERE {human} AND (a.bridged_at IS NULL
                           OR a.agent_first_audio_at > a.answered_at + make_interval(secs => %s)
                           -- FCC: a person left on hold for a human who hung up before one came is abandoned too
                           OR coalesce(a.transfer->>'abandoned', '') = 'true'))
                  FROM {attempt_t} a
                 WHERE a.campaign_id = ANY(%s) AND a.answered_at > %s AND a.answered_at <= %s
                 GROUP BY a.campaign_id""",  # noqa: S608 (table name from model metadata)
            [ABANDON_AFTER_S, list(campaign_ids), now - WINDOW, now])
        found = {cid: (int(answered), int(abandoned)) for cid, answered, abandoned in cursor.fetchall()}
    return {cid: found.get(cid, (0, 0)) for cid in campaign_ids}


Pause = Callable[[int], object]


def govern_campaigns(campaigns: Sequence[tuple[int, int]], now: dt.datetime, pause: Pause,
                     config: GovernorConfig = GovernorConfig()) -> list[tuple[int, Decision]]:
    """Run the governor over running campaigns ``(id, max_concurrent)``: store each one's rate and limit, apply
    its decision (``pause`` is the campaigns app's pause service), and write every action to the campaign's
    history with its reason. Returns the decisions that did something."""
    counts = abandonment_counts([cid for cid, _ in campaigns], now)
    acted: list[tuple[int, Decision]] = []
    for campaign_id, max_concurrent in campaigns:
        answered, abandoned = counts[campaign_id]
        with transaction.atomic():
            governor, _ = CampaignGovernor.objects.select_for_update().get_or_create(campaign_id=campaign_id)
            decision = decide(answered, abandoned, max_concurrent, governor.concurrency_limit, config)
            CampaignGovernor.objects.filter(pk=governor.pk).update(
                answered=answered, abandoned=abandoned, rate=decision.rate, concurrency_limit=decision.limit)
            if decision.action is not None:
                CampaignHistory.objects.create(campaign_id=campaign_id, at=now, action=decision.action,
                                               reason=decision.reason, rate=decision.rate)
        if decision.action == GovernorAction.PAUSE:
            try:
                pause(campaign_id)
            except ValueError:  # paused or stopped by someone else meanwhile: nothing left to dial anyway
                logger.info("campaign %s: governor pause not applied (no longer running)", campaign_id)
        if decision.action is not None:
            acted.append((campaign_id, decision))
    return acted

"""The dispatcher: each tick, claim due contacts of running campaigns up to their free capacity.

One tick, with a bounded number of SQL statements whatever the number of campaigns:

1. *Plan* (autocommit reads): running campaigns with their trunks; in-flight attempts per campaign and
   trunk. Free capacity per campaign = min(campaign cap - in flight, its fair share of the trunk's free
   channels, its fair share of the user-agent pool's free lines, calls-per-second tokens).
2. *Claim* (one short transaction): lock the campaign rows, then one statement picks each campaign's due
   contacts (``FOR UPDATE SKIP LOCKED``, ordered by priority, ``next_attempt_at`` with never-dialed first,
   id), filtered by the zones inside the calling window now and by do-not-call, marks them in progress and
   inserts ``CallAttempt(queued)`` rows. The statement re-counts each campaign's in-flight attempts after
   the row lock, so PostgreSQL alone keeps the campaign cap even with Redis flushed or a second claimer.
3. After commit: give back unused tokens, enqueue ``originate(attempt_id)`` per attempt.

Only one dispatcher runs a tick at a time, across hosts: a PostgreSQL advisory lock (session level,
``pg_try_advisory_lock``), not a Redis lock with a TTL. The advisory lock lives exactly as long as the tick
holds it and dies with the connection if the process is killed, so no TTL has to outguess a slow tick, and
it sits in the same database as the ledger it protects. Correctness does not rest on it anyway (row locks
and SKIP LOCKED do); it keeps a second beat from doing the work twice.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Model, Q
from django.utils import timezone

from campaigns.choices import CONTACT_DIALABLE, AttemptState, CampaignStatus, ContactStatus
from campaigns.dialer.claim_statement import claim_sql
from campaigns.dialer.leases import TokenRequest, refund_dial_tokens, take_dial_tokens
from campaigns.dialer.prepared import execute_prepared_all
from campaigns.keys import DISPATCHER_LOCK_ID
from campaigns.models import CallAttempt, Campaign, CampaignSpend, Contact
from campaigns.redis_client import get_redis
from campaigns.rules.windows import CallingWindow, contact_in_window, next_window_opening, zones_in_window
from campaigns.services import complete_finished_campaigns
from campaigns.task_queue import send_originates
from compliance.caps import capped_until
from compliance.claim_sql import compliance_sql, zone_list_text
from compliance.models import CampaignGovernor
from compliance.policy import CompanyPolicy, WindowRule, company_zones, next_opening
from compliance.services import company_policy
from telephony.models import Trunk
from telephony.ua_registry import total_free_lines

logger = logging.getLogger(__name__)

# A queued attempt must be handed to a user agent within this; after it the reaper resolves it.
QUEUED_TTL_S = 60
# Upper bounds of claims per tick, per campaign and in all: they keep the claim transaction short (about
# 0.1 ms per claim on a small machine), so a tick stays well under its interval.
MAX_CLAIM_PER_CAMPAIGN: int = settings.DIALER_MAX_CLAIMS_PER_CAMPAIGN
MAX_CLAIMS_PER_TICK: int = settings.DIALER_MAX_CLAIMS_PER_TICK

Enqueue = Callable[[Sequence[int]], None]


@dataclass(slots=True)
class CampaignPlan:
    """What the tick will try to claim for one campaign."""

    campaign_id: int
    trunk_id: int
    want: int
    zones: list[str]
    campaign_rate: float = 0.0
    trunk_rate: float = 0.0
    granted: int = 0


@dataclass(slots=True)
class TickResult:
    """What a tick did."""

    ran: bool
    attempt_ids: list[int] = field(default_factory=list)
    claimed_by_campaign: dict[int, int] = field(default_factory=dict)
    completed_campaigns: list[int] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        """Attempts created."""
        return len(self.attempt_ids)


def share_fairly(wants: dict[int, int], capacity: int, order: Sequence[int]) -> dict[int, int]:
    """Split ``capacity`` between ``wants`` by water-filling, in ``order`` for the remainders.

    No one gets more than they want; while capacity remains, everyone who still wants gets an equal share.
    """
    alloc = dict.fromkeys(wants, 0)
    remaining = max(0, capacity)
    active = [k for k in order if wants.get(k, 0) > 0]
    while remaining > 0 and active:
        share = max(1, remaining // len(active))
        for key in list(active):
            if remaining == 0:
                break
            give = min(share, wants[key] - alloc[key], remaining)
            alloc[key] += give
            remaining -= give
            if alloc[key] >= wants[key]:
                active.remove(key)
    return alloc


@contextmanager
def dispatcher_lock() -> Iterator[bool]:
    """Hold the single-dispatcher advisory lock for the block; yields False when another tick holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [DISPATCHER_LOCK_ID])
        got = bool(cursor.fetchone()[0])
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [DISPATCHER_LOCK_ID])


def plan_tick(now: dt.datetime, r: redis.Redis, *, rotation: int = 0) -> list[CampaignPlan]:
    """Compute each running campaign's free capacity and the zones inside its window now (2 SQL reads)."""
    with connection.cursor() as cursor:
        cursor.execute(_running_campaigns_sql(), [CampaignStatus.RUNNING.value])
        campaigns: list[tuple[Any, ...]] = cursor.fetchall()
    if not campaigns:
        return []
    by_campaign: dict[int, int] = defaultdict(int)
    by_trunk: dict[int, int] = defaultdict(int)
    for campaign_id, trunk_id, n in _in_flight_counts():
        by_campaign[campaign_id] += n
        if trunk_id is not None:
            by_trunk[trunk_id] += n

    plans: dict[int, CampaignPlan] = {}
    trunk_members: dict[int, list[int]] = defaultdict(list)
    trunk_free: dict[int, int] = {}
    for cid, tid, max_concurrent, max_cps, days, start, end, channels, trunk_cps, governed in campaigns:
        # FCC abandonment rule: the governor (compliance.governor) may have lowered the campaign's concurrency.
        max_concurrent = min(max_concurrent, governed) if governed is not None else max_concurrent
        zones = zones_in_window(now, CallingWindow.for_campaign(days, start, end))
        want = min(MAX_CLAIM_PER_CAMPAIGN, max(0, max_concurrent - by_campaign[cid])) if zones else 0
        plans[cid] = CampaignPlan(cid, tid, want, zones, float(max_cps), float(trunk_cps))
        trunk_members[tid].append(cid)
        trunk_free[tid] = max(0, channels - by_trunk[tid])

    def rotated(ids: list[int]) -> list[int]:
        # Fairness over time: who gets the remainder of a split changes every tick.
        k = rotation % len(ids) if ids else 0
        return ids[k:] + ids[:k]

    # A trunk's free channels, shared between the campaigns on it.
    for tid, members in trunk_members.items():
        alloc = share_fairly({c: plans[c].want for c in members}, trunk_free[tid], rotated(members))
        for c in members:
            plans[c].want = alloc[c]
    # The user-agent pool's free lines (no line, no dial) and the tick's budget, shared between campaigns.
    order = rotated(sorted(plans))
    alloc = share_fairly({c: plans[c].want for c in order}, min(total_free_lines(r), MAX_CLAIMS_PER_TICK), order)
    for c in order:
        plans[c].want = alloc[c]
    # Calls per second: token buckets per campaign and per trunk, handed out round-robin.
    wanting = [plans[c] for c in order if plans[c].want > 0]
    granted = take_dial_tokens(r, [TokenRequest(p.campaign_id, p.campaign_rate, p.trunk_id, p.trunk_rate, p.want)
                                   for p in wanting])
    for p, g in zip(wanting, granted, strict=True):
        p.granted = g
    return [plans[c] for c in order]


@functools.cache
def _running_campaigns_sql() -> str:
    """Running campaigns on enabled trunks with what the plan needs; one fixed text, built once (an ORM query
    with these joins cost more Python per tick than the rest of the plan)."""
    quote = connection.ops.quote_name

    def table(model: type[Model]) -> str:
        return quote(model._meta.db_table)

    def col(model: type[Model], name: str) -> str:
        return quote(next(f.column for f in model._meta.concrete_fields if f.name == name))

    c = [col(Campaign, f) for f in ("id", "trunk", "max_concurrent", "max_cps", "window_days", "window_start",
                                    "window_end", "status", "budget")]
    return f"""
        SELECT c.{c[0]}, c.{c[1]}, c.{c[2]}, c.{c[3]}, c.{c[4]}, c.{c[5]}, c.{c[6]},
               t.{col(Trunk, "max_channels")}, t.{col(Trunk, "max_cps")}, g.{col(CampaignGovernor, "concurrency_limit")}
        FROM {table(Campaign)} c JOIN {table(Trunk)} t ON t.{col(Trunk, "id")} = c.{c[1]}
        LEFT JOIN {table(CampaignGovernor)} g ON g.{col(CampaignGovernor, "campaign")} = c.{c[0]}
        WHERE c.{c[7]} = %s AND t.{col(Trunk, "enabled")}
          -- A campaign whose spend reached its budget cap dials no more, even before its pause lands.
          AND NOT EXISTS (SELECT 1 FROM {table(CampaignSpend)} s WHERE s.{col(CampaignSpend, "campaign")} = c.{c[0]}
                          AND s.{col(CampaignSpend, "amount")} >= c.{c[8]})
        ORDER BY c.{c[0]}
    """  # noqa: S608 (identifiers from model metadata; the status is a parameter)


def _in_flight_counts() -> list[tuple[int, int | None, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT campaign_id, trunk_id, count(*) FROM {CallAttempt._meta.db_table} "  # noqa: S608 (table name)
            "WHERE NOT (state = %s) GROUP BY campaign_id, trunk_id",  # as attempt_in_flight_idx states it
            [AttemptState.ENDED],
        )
        return cursor.fetchall()


def claim_due_contacts(plans: Sequence[CampaignPlan], now: dt.datetime,
                       enqueue: Enqueue | None = None, company: CompanyPolicy | None = None) -> dict[int, list[int]]:
    """Claim due, dialable, in-window, not-DNC contacts and create their queued attempts (one transaction).

    Every compliance rule (``compliance.claim_sql``: state hours, frequency caps across campaigns, consent,
    national do-not-call, reassigned numbers) is a condition of the same statement.

    Args:
        plans: Per campaign, how many to claim (``granted``) and the zones inside the window now.
        now: The tick's time.
        enqueue: Called after commit with the new attempt ids (default: the ``originate`` task per id).
        company: The company's own rules (default: read from the database).

    Returns:
        The new attempt ids per campaign.
    """
    todo = [p for p in plans if p.granted > 0 and p.zones]
    if not todo:
        return {}
    company = company if company is not None else company_policy()
    # The company's own hours apply to every contact (they can only narrow): folded into each window's zone
    # array here, once per tick, instead of a second containment test per contact in the statement.
    company_open = frozenset(company_zones(now, company)) if company is not None else None
    # Campaigns with the same window share one zone list (a few hundred names): each is sent and split once.
    windows: dict[tuple[str, ...], int] = {}
    window_of: dict[int, int] = {}
    for p in todo:
        zones = tuple(p.zones) if company_open is None else tuple(z for z in p.zones if z in company_open)
        window_of[p.campaign_id] = windows.setdefault(zones, len(windows))
    rules = compliance_sql(now, company, company_in_window=True, as_arrays=True)
    assert isinstance(rules.params, dict)  # noqa: S101 (as_arrays: named)
    sql, defaults = claim_sql(rules.ctes, rules.predicate)
    params: dict[str, object] = {
        **rules.params, **defaults,
        "win_ids": list(windows.values()), "win_lists": [zone_list_text(z) for z in windows],
        "req_ids": [p.campaign_id for p in todo], "req_n": [p.granted for p in todo],
        "req_win": [window_of[p.campaign_id] for p in todo],
        "now": now, "in_progress": ContactStatus.IN_PROGRESS.value, "queued": AttemptState.QUEUED.value,
        "lease": now + dt.timedelta(seconds=QUEUED_TTL_S)}
    result: dict[int, list[int]] = defaultdict(list)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # One round trip before the claim: the planner settings of this transaction, and the locks.
            # Lock the campaigns being claimed for (always in id order, no deadlock between claimers):
            # the claim statement then counts in-flight attempts that no other claimer can change.
            # The claim must walk the ordered dispatch index and stop after LIMIT rows. The window and
            # do-not-call filters make the planner guess that few rows match and prefer sorting every
            # dialable contact of the campaign instead, which costs O(campaign size) per tick. Disabling
            # sorts inflates plan costs past the JIT thresholds, and compiling would cost ~1 s: JIT off too.
            # synchronous_commit off: a claim lost in a database crash only means those contacts were
            # not dialed (originate finds no queued row and stops), so the claim need not wait for fsync.
            # The claim statement is prepared once per connection (its text does not change with the campaigns,
            # windows or rules in effect: they are arrays) and always runs its generic plan: planning it cost
            # more than a tenth of the tick. PostgreSQL would otherwise plan it anew on every call, because
            # its generic plan is estimated dearer (it cannot see the zone lists).
            cursor.execute(
                "SELECT set_config('enable_sort', 'off', true), set_config('jit', 'off', true), "  # noqa: S608
                "set_config('synchronous_commit', 'off', true), "
                "set_config('plan_cache_mode', 'force_generic_plan', true), "
                f"(SELECT count(*) FROM (SELECT id FROM {Campaign._meta.db_table} WHERE id = ANY(%s) "
                "ORDER BY id FOR NO KEY UPDATE) locked)",
                [[p.campaign_id for p in todo]],
            )
            rows = execute_prepared_all(cursor, "dialer_claim", sql, params)
        for attempt_id, campaign_id in rows:
            result[campaign_id].append(attempt_id)
        ids = [a for a, _ in rows]
        if ids:
            transaction.on_commit(lambda: (enqueue or enqueue_originates)(ids))
    return dict(result)


def enqueue_originates(attempt_ids: Sequence[int]) -> None:
    """Send one ``originate(attempt_id)`` task per attempt (after the claim committed)."""
    send_originates(attempt_ids)


def run_dispatch_tick(*, now: dt.datetime | None = None, r: redis.Redis | None = None,
                      enqueue: Enqueue | None = None) -> TickResult:
    """One dispatcher tick: plan, claim, enqueue originates, complete campaigns with nothing left.

    Returns:
        What was claimed; ``ran`` is False when another dispatcher holds the lock.

    Raises:
        redis.RedisError: nothing was claimed (fail closed); the next tick tries again.
    """
    now = now or timezone.now()
    r = r or get_redis()
    with dispatcher_lock() as got:
        if not got:
            return TickResult(ran=False)
        plans = plan_tick(now, r, rotation=int(now.timestamp()))
        try:
            claimed = claim_due_contacts(plans, now, enqueue)
        except BaseException:
            refund_dial_tokens(r, [(p.campaign_id, p.trunk_id, p.granted) for p in plans])
            raise
        refund_dial_tokens(r, [(p.campaign_id, p.trunk_id, p.granted - len(claimed.get(p.campaign_id, [])))
                               for p in plans])
        result = TickResult(ran=True, claimed_by_campaign={c: len(ids) for c, ids in claimed.items()})
        for ids in claimed.values():
            result.attempt_ids.extend(ids)
        idle = [p.campaign_id for p in plans if not claimed.get(p.campaign_id)]
        if idle:
            result.completed_campaigns = complete_finished_campaigns(idle)
    return result


# ---------------------------------------------------------------------------------------------------------
# Parking: contacts outside their window wait at the head of the dispatch index (never-dialed first) and
# every claim would walk past them again, each tick, for hours. A beat task moves their next_attempt_at to
# the moment their window next opens, so the claim scan only meets contacts it may call.

PARK_SCAN_LIMIT = 5000  # contacts examined per campaign per run, from the head of its queue
UNKNOWN_ZONE_RECHECK = dt.timedelta(days=1)  # no zone, never called: looked at again daily


def park_contacts_outside_window(now: dt.datetime | None = None, limit: int = PARK_SCAN_LIMIT) -> int:
    """Set ``next_attempt_at`` of due contacts outside their calling window to their next window opening.

    Only the head of each running campaign's queue is examined (``limit`` contacts in dial order). The
    update is conditional (still dialable and due) and skips rows a claim holds, so it never delays a dial
    and never makes a contact callable earlier: the claim still checks the window itself.

    Returns:
        How many contacts were parked.
    """
    now = now or timezone.now()
    parked = 0
    company = company_policy()
    for campaign in Campaign.objects.filter(status=CampaignStatus.RUNNING).only(
            "id", "window_days", "window_start", "window_end"):
        window = CallingWindow.of(campaign)
        head = (Contact.objects.filter(campaign_id=campaign.pk, status__in=CONTACT_DIALABLE)
                .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
                .order_by(F("priority").desc(), F("next_attempt_at").asc(nulls_first=True), "id")
                .values_list("id", "time_zones", "jurisdictions", "phone_e164")[:limit])
        with transaction.atomic(), connection.cursor() as cursor:
            # Walk the ordered dispatch index from the head, as the claim does (see claim_due_contacts).
            cursor.execute("SELECT set_config('enable_sort', 'off', true), set_config('jit', 'off', true)")
            rows = list(head)
        until: dict[dt.datetime, list[int]] = defaultdict(list)
        openings: dict[tuple[tuple[str, ...], tuple[str, ...]], dt.datetime] = {}
        rule = WindowRule(window.days, window.start, window.end)
        for contact_id, zones, jurisdictions, _ in rows:
            key = (tuple(zones), tuple(jurisdictions))
            if key not in openings:
                if jurisdictions or company is not None:
                    # The state and company rules too (compliance.policy), the strictest reading winning.
                    opening = next_opening(zones, jurisdictions, now, company, rule)
                elif contact_in_window(zones, now, window):
                    opening = now
                else:
                    opening = next_window_opening(zones, now, window)
                openings[key] = opening if opening is not None else now + UNKNOWN_ZONE_RECHECK
            if openings[key] > now:
                until[openings[key]].append(contact_id)
        # Frequency caps (FL/OK/MD, company): a capped number waits until its cap frees, shown on the contact.
        for contact_id, when in capped_until([(c, p, j) for c, z, j, p in rows
                                              if openings[(tuple(z), tuple(j))] <= now], now, company).items():
            until[when].append(contact_id)
        for when, ids in until.items():
            locked = (Contact.objects.filter(pk__in=ids, status__in=CONTACT_DIALABLE)
                      .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
                      .select_for_update(skip_locked=True, no_key=True).values("pk"))
            with transaction.atomic():
                parked += Contact.objects.filter(pk__in=locked).update(next_attempt_at=when, updated_at=now)
    return parked

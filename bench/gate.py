"""Benchmark the last gate before the INVITE (``mark_attempt_dialing``): milliseconds per attempt.

Usage:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME REDIS_URL=redis://127.0.0.1:6379/N \\
        python bench/gate.py [--attempts 300] [--rounds 3] [--history 20]

It works in its own database, ``NAME_gatebench`` (created and migrated if missing; its dialer and compliance
tables are emptied on every run).

The load: one running telemarketing campaign (written consent needed) of Florida numbers (state hours, a cap
of 3 calls per 24 h), each with written consent on record and a fresh national registry download of its area
code; a second campaign has called every number once two hours earlier (so the caps count across campaigns),
and ``--history`` older ended calls per number lie in the ledger outside the cap period.

Each round queues ``--attempts`` attempts per variant and times, one attempt after the other on one
connection:

* ``reference``: the gate statement as it was before the compliance rules (window, lease, campaign running,
  do-not-call), kept here verbatim: the baseline;
* ``gate``: ``mark_attempt_dialing`` as the UA calls it (lock, every compliance rule, the evidence record).

The variants alternate within each round so both see the same machine load. Prints per-round figures and,
last: ``gate_ms=G reference_ms=R ratio=G/R`` (medians over all attempts).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchdb import ensure_database, setup_django

# Tuesday 2026-06-16 16:00 UTC: 12:00 in Miami, inside the Florida hours (08:00-20:00).
EPOCH = dt.datetime(2026, 6, 16, 16, 0, tzinfo=dt.UTC)
ZONES = ["America/New_York"]


def _reference_sql() -> str:
    from campaigns.models import CallAttempt, Campaign, Contact, DoNotCall

    return f"""
    UPDATE {CallAttempt._meta.db_table} a
       SET state = %(dialing)s, ua_name = %(ua)s, sip_call_id = %(call_id)s, dialing_at = %(now)s,
           lease_expires_at = %(lease)s
      FROM {Contact._meta.db_table} ct, {Campaign._meta.db_table} c
     WHERE a.id = %(id)s AND upper(a.state) = %(queued)s AND a.lease_expires_at > %(now)s
       AND ct.id = a.contact_id AND c.id = a.campaign_id AND c.status = %(running)s
       AND cardinality(ct.time_zones) > 0 AND ct.time_zones <@ %(zones)s::varchar[]
       AND NOT EXISTS (SELECT 1 FROM {DoNotCall._meta.db_table} d WHERE d.phone_e164 = ct.phone_e164
                       AND (d.campaign_id IS NULL OR d.campaign_id = a.campaign_id))
    """  # noqa: S608 (table names from model metadata)


def reference_gate(attempt_id: int, now: dt.datetime) -> bool:
    """The pre-compliance gate: the campaign's window read, then one unprepared conditional update."""
    from django.db import connection

    from campaigns.choices import AttemptState, CampaignStatus
    from campaigns.dialer.leases import LEASE_TTL_S
    from campaigns.models import CallAttempt
    from campaigns.rules.windows import CallingWindow, zones_in_window

    row = (CallAttempt.objects.filter(pk=attempt_id)
           .values_list("campaign__window_days", "campaign__window_start", "campaign__window_end").first())
    assert row is not None  # noqa: S101
    window = CallingWindow.for_campaign(*row)
    with connection.cursor() as cursor:
        cursor.execute(_reference_sql(), {
            "dialing": AttemptState.DIALING.value, "ua": "bench-ua", "call_id": f"ref-{attempt_id}", "now": now,
            "lease": now + timedelta(seconds=LEASE_TTL_S), "id": attempt_id,
            "queued": AttemptState.QUEUED.value.upper(), "running": CampaignStatus.RUNNING.value,
            "zones": zones_in_window(now, window)})
        return bool(cursor.rowcount)


def load(n_numbers: int, history: int) -> tuple[int, int]:
    """Empty the tables and load the two campaigns, the numbers, consents, registry and call history."""
    from decimal import Decimal

    from django.core.management import call_command
    from django.db import connection

    from campaigns.choices import AttemptState, CampaignStatus
    from campaigns.models import AgentProfile, CallAttempt, Campaign, Contact
    from compliance.choices import CampaignPurpose, ConsentKind, ConsentNeeded
    from compliance.models import CampaignCompliance, ConsentRecord, NationalDncList
    from telephony.models import Trunk

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE campaigns_callattempt, campaigns_contact, campaigns_donotcall, campaigns_retryrule, "
            "campaigns_campaign_caller_ids, campaigns_campaign, campaigns_agentprofile, telephony_callerid, "
            "telephony_trunk, compliance_dialevidence, compliance_consentrecord, compliance_nationaldnclist, "
            "compliance_nationaldncnumber, compliance_reassignednumberresult, compliance_campaigncompliance, "
            "compliance_companyrule CASCADE")
    agent = AgentProfile.objects.create(name="bench", prompt_template="Hello {{name}}")
    trunk = Trunk.objects.create(name="bench", host="127.0.0.1", max_channels=100_000, max_cps=Decimal("9999"))
    campaigns = [Campaign.objects.create(
        name=f"bench-{i}", agent=agent, trunk=trunk, status=CampaignStatus.RUNNING, window_days=list(range(7)),
        window_start=dt.time(8), window_end=dt.time(21), max_concurrent=100_000, max_cps=Decimal("9999"),
        max_attempts=history + 10) for i in range(2)]
    CampaignCompliance.objects.create(campaign=campaigns[0], purpose=CampaignPurpose.TELEMARKETING,
                                      consent_needed=ConsentNeeded.WRITTEN)
    NationalDncList.objects.create(downloaded_at=EPOCH - timedelta(days=3), area_codes=["305"], numbers=0)
    phones = [f"+1305{n:07d}" for n in range(n_numbers)]
    ConsentRecord.objects.bulk_create(
        [ConsentRecord(phone_e164=p, kind=ConsentKind.WRITTEN, source="bench", obtained_at=EPOCH - timedelta(days=90))
         for p in phones], batch_size=5000)
    contacts = {}
    for campaign in campaigns:
        created = Contact.objects.bulk_create(
            [Contact(campaign=campaign, phone_e164=p, name="C", time_zones=ZONES, jurisdictions=["US-FL"])
             for p in phones], batch_size=5000)
        contacts[campaign.pk] = created
    # The other campaign's calls: `history` old ones (outside 24 h) and one two hours ago, per number.
    old = []
    for contact in contacts[campaigns[1].pk]:
        for k in range(history):
            at = EPOCH - timedelta(days=2 + k)
            old.append(CallAttempt(campaign=campaigns[1], contact=contact, attempt_number=k + 1,
                                   state=AttemptState.ENDED, dialing_at=at, ended_at=at + timedelta(minutes=1)))
        at = EPOCH - timedelta(hours=2)
        old.append(CallAttempt(campaign=campaigns[1], contact=contact, attempt_number=history + 1,
                               state=AttemptState.ENDED, dialing_at=at, ended_at=at + timedelta(minutes=1)))
    CallAttempt.objects.bulk_create(old, batch_size=5000)
    with connection.cursor() as cursor:
        for table in ("campaigns_callattempt", "campaigns_contact", "compliance_consentrecord"):
            cursor.execute(f"ANALYZE {table}")
    return campaigns[0].pk, campaigns[1].pk


def queue(campaign_id: int, first: int, count: int) -> list[int]:
    """Queue attempts (lease valid) for ``count`` contacts of the campaign from the ``first``-th."""
    from campaigns.choices import AttemptState
    from campaigns.models import CallAttempt, Contact

    ids = list(Contact.objects.filter(campaign_id=campaign_id).order_by("id")
               .values_list("id", flat=True)[first:first + count])
    made = CallAttempt.objects.bulk_create(
        [CallAttempt(campaign_id=campaign_id, contact_id=c,
                     state=AttemptState.QUEUED, lease_expires_at=EPOCH + timedelta(hours=1)) for c in ids])
    return [a.pk for a in made]


def end_all(campaign_id: int) -> None:
    """End the round's calls so the next round can queue the contacts again."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE campaigns_callattempt SET state = 'ended', ended_at = dialing_at, "
                       "lease_expires_at = NULL WHERE campaign_id = %s AND state <> 'ended'", [campaign_id])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=300, help="attempts per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--history", type=int, default=20, help="older ended calls per number in the ledger")
    args = parser.parse_args()
    setup_django(ensure_database(os.environ["DATABASE_URL"], "_gatebench"))

    from campaigns.dialer.attempts import mark_attempt_dialing

    started = time.monotonic()
    n_numbers = 2 * args.attempts * (args.rounds + 1)
    campaign_id, _ = load(n_numbers, args.history)
    print(f"loaded {n_numbers} numbers, {n_numbers * (args.history + 1)} ledger rows "
          f"in {time.monotonic() - started:.1f}s", flush=True)
    now = EPOCH
    times: dict[str, list[float]] = {"reference": [], "gate": []}
    for rnd in range(args.rounds + 1):  # round 0 warms up
        # Each round dials numbers not called yet by this campaign, a few minutes later.
        now = EPOCH + timedelta(minutes=3 * rnd)
        first = 2 * args.attempts * rnd
        ref_ids = queue(campaign_id, first, args.attempts)
        gate_ids = queue(campaign_id, first + args.attempts, args.attempts)
        round_times: dict[str, list[float]] = {"reference": [], "gate": []}
        for ref_id, gate_id in zip(ref_ids, gate_ids, strict=True):
            t0 = time.perf_counter()
            ok = reference_gate(ref_id, now)
            t1 = time.perf_counter()
            decision = mark_attempt_dialing(gate_id, ua_name="bench-ua", sip_call_id=f"g-{gate_id}", now=now)
            t2 = time.perf_counter()
            if not ok or not decision:
                raise SystemExit(f"refused: reference {ok}, gate {decision!r}")
            round_times["reference"].append((t1 - t0) * 1000)
            round_times["gate"].append((t2 - t1) * 1000)
        end_all(campaign_id)
        ref_ms, gate_ms = (statistics.median(round_times[k]) for k in ("reference", "gate"))
        label = "warm-up" if rnd == 0 else f"round {rnd}"
        print(f"{label}: reference {ref_ms:.2f} ms, gate {gate_ms:.2f} ms (median per attempt), "
              f"ratio {gate_ms / ref_ms:.1f}", flush=True)
        if rnd:
            for key in times:
                times[key].extend(round_times[key])
    ref_ms, gate_ms = statistics.median(times["reference"]), statistics.median(times["gate"])
    p90 = {k: statistics.quantiles(v, n=10)[-1] for k, v in times.items()}
    print(f"p90: reference {p90['reference']:.2f} ms, gate {p90['gate']:.2f} ms")
    print(f"gate_ms={gate_ms:.2f} reference_ms={ref_ms:.2f} ratio={gate_ms / ref_ms:.1f}")


if __name__ == "__main__":
    main()

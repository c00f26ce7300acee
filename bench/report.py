"""Benchmark the per-campaign report on a campaign of 1,000,000 call attempts.

Usage:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME REDIS_URL=redis://127.0.0.1:6379/N \\
        python bench/report.py [--attempts 1000000] [--runs 5] [--reload]

It works in its own database, ``NAME_report_bench`` (created and migrated if missing). The data set is kept
between runs and reloaded only when its size differs or ``--reload`` is given: one campaign with
``--attempts`` attempts over ``attempts / 2.5`` contacts in ten time zones, dialed over 14 days, with the
usual mix of dispositions (no answer, busy, machine, human...), transcripts, first-response latencies,
outcomes with fields, and a second campaign of a fifth of that size that the report must skip.

Measured, each as the median of ``--runs`` runs after a warm-up, in the same process and database:

* ``baseline``: ``SELECT count(*)`` over the campaign's attempts (the cheapest full look at them);
* ``build``: ``build_campaign_report`` (every SQL aggregate of the report);
* ``page``: the admin report page, rendered through Django's test client by a logged-in superuser
  (the aggregates, the recent attempts, the SVG charts and the template).

Prints the figures and, last: ``attempts=N report_ms=T`` (T = the page) with the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchdb import ensure_database, setup_django

EPOCH = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DAYS = 14
ZONES: list[tuple[list[str], str, float]] = [
    (["America/New_York"], "+1212", 0.25),
    (["America/Chicago"], "+1312", 0.15),
    (["America/Denver"], "+1303", 0.08),
    (["America/Los_Angeles"], "+1213", 0.17),
    (["America/Phoenix"], "+1602", 0.05),
    (["America/New_York", "America/Chicago"], "+1270", 0.05),
    (["Europe/London"], "+4420", 0.10),
    (["Europe/Berlin"], "+4930", 0.05),
    (["Asia/Kolkata"], "+9122", 0.05),
    (["Pacific/Honolulu"], "+1808", 0.05),
]
# (disposition, share): the mix of a typical outbound list.
DISPOSITIONS: list[tuple[str, float]] = [
    ("no_answer", 0.35), ("busy", 0.07), ("machine", 0.15), ("voicemail_left", 0.04), ("human", 0.26),
    ("rejected", 0.03), ("failed", 0.04), ("invalid_number", 0.01), ("opted_out", 0.01), ("ai_error", 0.01),
    ("cancelled", 0.03),
]
SCHEMA = [
    {"label": "interested", "description": "Wants to hear more.",
     "fields": [{"name": "callback_date", "type": "date"}, {"name": "budget", "type": "number"}]},
    {"label": "not_interested", "description": "Declined.", "fields": [{"name": "reason", "type": "string"}]},
    {"label": "appointment_confirmed", "description": "Kept the appointment.",
     "fields": [{"name": "confirmed", "type": "boolean"}]},
]
SIP_CODES = {"no_answer": 480, "busy": 486, "rejected": 603, "failed": 503, "invalid_number": 404}




def _contact_columns() -> list[str]:
    from campaigns.models import Contact

    return [f.column for f in Contact._meta.concrete_fields if not f.primary_key]


def _attempt_columns() -> list[str]:
    from campaigns.models import CallAttempt

    return [f.column for f in CallAttempt._meta.concrete_fields if not f.primary_key]


def _column_defaults(model: Any) -> dict[str, Any]:
    """Each column's default as the database takes it, for the columns the loader does not set itself (so a
    field added to the model later does not break the benchmark)."""
    from django.db import connection

    return {f.column: f.get_db_prep_save(f.get_default(), connection)
            for f in model._meta.concrete_fields if not f.primary_key}


def load(n_attempts: int) -> int:
    """Empty the ledger tables and load the benchmark campaigns; return the measured campaign's id."""
    from django.core.management import call_command
    from django.db import connection

    from campaigns.choices import CampaignStatus
    from campaigns.models import AgentProfile, Campaign
    from telephony.models import Trunk

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE campaigns_callattempt, campaigns_contact, campaigns_donotcall, campaigns_retryrule, "
            "campaigns_importjob, campaigns_campaign_caller_ids, campaigns_campaign, campaigns_agentprofile, "
            "telephony_callerid, telephony_trunk CASCADE")
    agent = AgentProfile.objects.create(name="bench", prompt_template="Hello {{name}}", outcome_schema=SCHEMA)
    trunk = Trunk.objects.create(name="bench", host="127.0.0.1", cost_per_minute=Decimal("0.0120"))
    failover = Trunk.objects.create(name="bench-failover", host="127.0.0.2", cost_per_minute=Decimal("0.0200"))
    measured = Campaign.objects.create(name="bench-report", agent=agent, trunk=trunk,
                                       status=CampaignStatus.COMPLETED, window_days=list(range(7)))
    other = Campaign.objects.create(name="bench-other", agent=agent, trunk=trunk, status=CampaignStatus.COMPLETED,
                                    window_days=list(range(7)))
    started = time.monotonic()
    _load_campaign(measured.pk, n_attempts, trunk.pk, failover.pk, seed=1)
    _load_campaign(other.pk, n_attempts // 5, trunk.pk, failover.pk, seed=2)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE campaigns_contact")
        cursor.execute("VACUUM ANALYZE campaigns_callattempt")
    print(f"loaded {n_attempts} + {n_attempts // 5} attempts in {time.monotonic() - started:.0f} s", flush=True)
    return measured.pk


def _load_campaign(campaign_id: int, n_attempts: int, trunk_id: int, failover_id: int, seed: int) -> None:
    from django.db import connection
    from psycopg.types.json import Jsonb

    rng = random.Random(seed)
    n_contacts = max(1, int(n_attempts / 2.5))
    zone_weights = [w for _, _, w in ZONES]
    dispositions = [d for d, _ in DISPOSITIONS]
    disposition_weights = [w for _, w in DISPOSITIONS]
    now = EPOCH + dt.timedelta(days=DAYS + 1)
    from campaigns.models import CallAttempt, Contact

    contact_columns = _contact_columns()
    contact_defaults = _column_defaults(Contact)
    attempt_defaults = _column_defaults(CallAttempt)
    # Spread the attempts over the contacts: each gets at least one, the rest at random.
    per_contact = [1] * n_contacts
    for _ in range(n_attempts - n_contacts):
        per_contact[rng.randrange(n_contacts)] += 1
    contacts: list[dict[str, Any]] = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM campaigns_contact")
        first_id = cursor.fetchone()[0] + 1
        with cursor.cursor.copy(f"COPY campaigns_contact (id, {', '.join(contact_columns)}) FROM STDIN") as copy:
            for k in range(n_contacts):
                zones, prefix, _ = rng.choices(ZONES, zone_weights)[0]
                outcome = ""
                fields: dict[str, Any] = {}
                if rng.random() < 0.2:
                    outcome, fields = _outcome(rng)
                values = {"campaign_id": campaign_id, "phone_e164": f"{prefix}{seed}{k:07d}"[:16],
                          "name": f"Contact {k}", "time_zones": zones, "variables": Jsonb({}),
                          "status": "done" if outcome else rng.choice(["failed", "done", "retry_scheduled"]),
                          "priority": 0, "attempts": per_contact[k], "next_attempt_at": None,
                          "last_disposition": "human" if outcome else rng.choice(dispositions[:3]),
                          "outcome": outcome, "outcome_fields": Jsonb(fields), "import_job_id": None,
                          "created_at": EPOCH, "updated_at": now}
                copy.write_row([first_id + k, *[values.get(c, contact_defaults[c]) for c in contact_columns]])
                contacts.append({"id": first_id + k, "n": per_contact[k], "outcome": outcome, "fields": fields})
        attempt_columns = _attempt_columns()
        with cursor.cursor.copy(f"COPY campaigns_callattempt ({', '.join(attempt_columns)}) FROM STDIN") as copy:
            for contact in contacts:
                for number in range(1, contact["n"] + 1):
                    last = number == contact["n"]
                    disposition = "human" if last and contact["outcome"] else rng.choices(
                        dispositions, disposition_weights)[0]
                    row = _attempt(rng, campaign_id, contact, number, disposition, trunk_id, failover_id)
                    copy.write_row([row[c] if c in row else attempt_defaults[c] for c in attempt_columns])


def _outcome(rng: random.Random) -> tuple[str, dict[str, Any]]:
    label = rng.choice(["interested", "not_interested", "appointment_confirmed"])
    if label == "interested":
        return label, {"callback_date": f"2026-07-{rng.randint(1, 28):02d}", "budget": rng.choice([500, 1000, 2500])}
    if label == "not_interested":
        return label, {"reason": rng.choice(["too expensive", "already a customer", "no time", "=cmd|' /C calc'!A0"])}
    return label, {"confirmed": rng.random() < 0.9}


def _attempt(rng: random.Random, campaign_id: int, contact: dict[str, Any], number: int, disposition: str,
             trunk_id: int, failover_id: int) -> dict[str, Any]:
    from psycopg.types.json import Jsonb

    # Dialed between 13:00 and 02:00 UTC (daytime in the Americas, evening in Europe).
    day = rng.randrange(DAYS)
    dialed = EPOCH + dt.timedelta(days=day, hours=1, seconds=rng.randrange(13 * 3600))
    row: dict[str, Any] = {
        "campaign_id": campaign_id, "contact_id": contact["id"], "attempt_number": number,
        "trunk_id": failover_id if rng.random() < 0.05 else trunk_id, "caller_id": "+12125550100",
        "state": "ended", "disposition": disposition, "reason": "", "ua_name": "ua-1",
        "sip_call_id": f"{contact['id']}-{number}@bench", "sip_code": SIP_CODES.get(disposition, 200),
        "sip_reason": "", "queued_at": dialed - dt.timedelta(seconds=1), "amd_result": "", "outcome": "",
        "outcome_fields": Jsonb({}), "outcome_error": "", "transcript": Jsonb([]), "recording": "",
        "first_response_ms": [], "usage": Jsonb({}), "cost": None, "lease_expires_at": None,
    }
    if disposition == "cancelled":
        row.update(sip_code=None, ended_at=dialed)
        return row
    row.update(originated_at=dialed, dialing_at=dialed, ringing_at=dialed + dt.timedelta(seconds=1))
    if disposition in {"machine", "voicemail_left", "human", "opted_out", "ai_error"}:
        answered = dialed + dt.timedelta(seconds=rng.randint(3, 25))
        row.update(answered_at=answered, amd_result="machine" if disposition in {"machine", "voicemail_left"}
                   else "human")
        if disposition in {"human", "opted_out", "ai_error"}:
            talk = max(5.0, rng.lognormvariate(4.2, 0.7))
            row.update(bridged_at=answered + dt.timedelta(milliseconds=300),
                       agent_first_audio_at=answered + dt.timedelta(milliseconds=rng.randint(400, 2600)),
                       ended_at=answered + dt.timedelta(seconds=talk),
                       first_response_ms=[rng.randint(350, 1800) for _ in range(rng.randint(2, 6))],
                       transcript=Jsonb([{"speaker": "agent", "text": "Hello, this is Acme.", "start_ms": 400,
                                          "end_ms": 1600},
                                         {"speaker": "caller", "text": "Yes, speaking.", "start_ms": 2000,
                                          "end_ms": 2700}]),
                       recording=f"{campaign_id}/{contact['id']}-{number}.wav")
            if disposition == "human" and contact["outcome"] and number == contact["n"]:
                row.update(outcome=contact["outcome"], outcome_fields=Jsonb(contact["fields"]))
        else:
            row["ended_at"] = answered + dt.timedelta(seconds=rng.randint(4, 30))
        # Half the rows carry a stored cost; the report prices the others at their trunk's rate.
        if rng.random() < 0.5:
            seconds = (row["ended_at"] - answered).total_seconds()
            row["cost"] = (Decimal(str(seconds)) * Decimal("0.012") / 60).quantize(Decimal("0.0001"))
    else:
        row["ended_at"] = dialed + dt.timedelta(seconds=rng.randint(2, 30))
    return row


def median_ms(fn: Any, runs: int) -> float:
    """Run ``fn`` once to warm up, then ``runs`` times; the median wall time in milliseconds."""
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reload", action="store_true", help="reload the data set even if it is there")
    parser.add_argument("--live-tail", type=int, default=5000,
                        help="attempts after the oldest call still in flight (read live by every report)")
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/campaign_engine")
    setup_django(ensure_database(base_url, "_report_bench"))

    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from campaigns.models import CallAttempt, Campaign
    from campaigns.reports.report import build_campaign_report
    from campaigns.reports.rollups import reset_report_rollup

    call_command("migrate", verbosity=0)
    campaign = Campaign.objects.filter(name="bench-report").first()
    have = CallAttempt.objects.filter(campaign=campaign).count() if campaign else 0
    if args.reload or have != args.attempts:
        load(args.attempts)
        campaign = Campaign.objects.get(name="bench-report")
    if campaign is None:
        raise SystemExit("the benchmark campaign is missing")
    n = CallAttempt.objects.filter(campaign=campaign).count()

    # A running campaign: one call still in flight ``--live-tail`` attempts before the newest, so the rollup
    # stops there and every report reads that many attempts live (the rest comes from the rollup).
    tail_id = (CallAttempt.objects.filter(campaign=campaign).order_by("-id")
               .values_list("id", flat=True)[args.live_tail:args.live_tail + 1])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE campaigns_callattempt SET state = 'ended' WHERE campaign_id = %s AND state = 'ringing'",
                       [campaign.pk])
        cursor.execute("UPDATE campaigns_callattempt SET state = 'ringing' WHERE id = ANY(%s)", [list(tail_id)])

    def baseline() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM campaigns_callattempt WHERE campaign_id = %s", [campaign.pk])
            cursor.fetchone()

    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "b@example.com",
                                                                                           "bench-pass")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    url = reverse("admin:campaigns_campaign_report", args=[campaign.pk])

    def page() -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"report page answered {response.status_code}")

    # Cold: no rollup yet, every attempt is aggregated (the first report of a campaign after an upgrade).
    reset_report_rollup(campaign.pk)
    started = time.perf_counter()
    page()
    cold_ms = (time.perf_counter() - started) * 1000
    baseline_ms = median_ms(baseline, args.runs)
    build_ms = median_ms(lambda: build_campaign_report(campaign), args.runs)
    page_ms = median_ms(page, args.runs)
    report = build_campaign_report(campaign)
    funnel = " ".join(f"{s.key}={s.contacts}" for s in report.funnel)
    print(f"funnel (contacts): {funnel}")
    print(f"talk_p50_s={report.talk_seconds.p50} first_response_p90_ms={report.first_response_ms.p90} "
          f"cost={report.cost_total} abandoned={report.abandoned}/{report.human_connected}")
    print(f"live_attempts={n - _rolled_up(campaign.pk)} cold_page_ms={cold_ms:.0f} (full recount, once)")
    print(f"baseline_count_ms={baseline_ms:.1f} build_ms={build_ms:.1f} page_ms={page_ms:.1f} "
          f"ratio_to_count={page_ms / baseline_ms:.1f}")
    print(f"attempts={n} report_ms={page_ms:.0f}")


def _rolled_up(campaign_id: int) -> int:
    from campaigns.models import CallAttempt, ReportRollup

    through = ReportRollup.objects.get(campaign_id=campaign_id).through_attempt_id
    return CallAttempt.objects.filter(campaign_id=campaign_id, id__lte=through).count()


if __name__ == "__main__":
    main()

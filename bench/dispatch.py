"""Benchmark the dispatcher: 1,000,000 contacts across 20 running campaigns in several zones.

Usage:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME REDIS_URL=redis://127.0.0.1:6379/N \\
        python bench/dispatch.py [--contacts 1000000] [--campaigns 20] [--seconds 20] [--workers 2]

It works in its own database, ``NAME_bench`` (created and migrated if missing; its dialer tables are
emptied on every run), and flushes the Redis database it is given.

Two phases, each after a warm-up:

* ``claim``: the dispatcher tick alone, back to back, at the limits a tick may claim (each campaign
  ``--max-concurrent`` in flight). Calls are ended in bulk right after each tick, standing in for a UA
  pool with instant calls, so every tick claims its full capacity. This is the dispatcher's own capacity;
  the claim rate divides by wall time, which includes ending the calls.
* ``full``: the tick every ``--interval`` s plus ``--workers`` processes running ``originate`` for each
  claimed attempt (re-checks, leases, caller ID, UA line, command pushed to Redis), as Celery workers
  would; a simulated UA pool takes the commands and ends the calls. Claims are then bounded by how fast
  commands are issued, as in production.

The virtual clock starts on Tuesday 2026-06-16 16:00 UTC: New York 12:00, Los Angeles 09:00, London
17:00, Honolulu 06:00 and Tokyo 01:00 (outside the window: those contacts are skipped).

Prints each phase's figures and, last: ``claims_per_s=R tick_p99_ms=T`` (of the claim phase).

``--baseline-ref REF [--baseline-ref REF2 ...] [--rounds N]``: an A/B on the same data in one run, claim phases
of the code at each ``REF`` (exported with ``git archive``) and of this tree in turn (the order rotated every
round), all measured by this file; prints each round, the medians (CPU per tick, of it Python, claims/s, tick
p50/p99) and the median per-round ratio of this tree's CPU per tick to each ref's. The attempt table's columns
get database defaults in the bench database so that older code can insert attempts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

# The code measured: this tree, or (the A/B of --baseline-ref) another one, measured by this same file.
sys.path.insert(0, os.environ.get("BENCH_CODE_ROOT") or str(Path(__file__).resolve().parent.parent))

from bench.benchdb import ensure_database, setup_django

EPOCH = dt.datetime(2026, 6, 16, 16, 0, tzinfo=dt.UTC)
# (zones, country code + area prefix, share of contacts)
ZONES: list[tuple[list[str], str, float]] = [
    (["America/New_York"], "+1212", 0.21),
    (["America/New_York"], "+1305", 0.04),  # Florida: state hours 08:00-20:00 and 3 calls per 24 h
    (["America/Chicago"], "+1312", 0.15),
    (["America/Denver"], "+1303", 0.08),
    (["America/Los_Angeles"], "+1213", 0.17),
    (["America/Phoenix"], "+1602", 0.05),
    (["America/New_York", "America/Chicago"], "+1270", 0.04),  # a number with two candidate zones
    (["Europe/London"], "+4420", 0.08),
    (["Europe/Berlin"], "+4930", 0.05),
    (["Pacific/Honolulu"], "+1808", 0.05),  # 06:00: outside the window
    (["Asia/Tokyo"], "+8133", 0.05),  # 01:00: outside the window
    ([], "+1900", 0.03),  # unknown zone: never called
]
BENCH_UA = "bench-ua"
WORK_QUEUE = "bench:originate"


def virtual_now(start_monotonic: float) -> dt.datetime:
    """The benchmark's clock: EPOCH plus the real time elapsed since the start."""
    return EPOCH + dt.timedelta(seconds=time.monotonic() - start_monotonic)




def load(n_contacts: int, n_campaigns: int, max_concurrent: int, dnc_share: float) -> list[int]:
    """Empty the dialer tables and load campaigns, trunks, caller IDs, contacts (COPY) and DNC entries."""
    from decimal import Decimal

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from campaigns.choices import CampaignStatus
    from campaigns.models import AgentProfile, Campaign, Contact, DoNotCall
    from compliance.jurisdictions import number_jurisdictions
    from telephony.models import CallerID, Trunk

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE campaigns_callattempt, campaigns_contact, campaigns_donotcall, campaigns_retryrule, "
            "campaigns_campaign_caller_ids, campaigns_campaign, campaigns_agentprofile, telephony_callerid, "
            "telephony_trunk CASCADE")
    agent = AgentProfile.objects.create(name="bench", prompt_template="Hello {{name}}")
    trunks = [Trunk.objects.create(name=f"bench-{i}", host="127.0.0.1", max_channels=100_000,
                                   max_cps=Decimal("9999")) for i in range(max(1, n_campaigns // 4))]
    campaigns = []
    for i in range(n_campaigns):
        trunk = trunks[i % len(trunks)]
        campaign = Campaign.objects.create(
            name=f"bench-{i}", agent=agent, trunk=trunk, status=CampaignStatus.RUNNING,
            window_days=list(range(7)), window_start=dt.time(8), window_end=dt.time(21),
            max_concurrent=max_concurrent, max_cps=Decimal("9999"), max_attempts=3)
        for area in ("212", "213", "312"):
            caller, _ = CallerID.objects.get_or_create(trunk=trunk, number=f"+1{area}5550{i % 100:03d}",
                                                       defaults={"daily_cap": 10_000_000})
            campaign.caller_ids.add(caller)
        campaigns.append(campaign.pk)

    rng = random.Random(42)
    weights = [w for _, _, w in ZONES]
    now = timezone.now()
    fields = [f for f in Contact._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(f.column for f in fields)
    per_campaign = n_contacts // n_campaigns
    dnc_numbers: list[str] = []
    started = time.monotonic()
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY campaigns_contact ({columns}) FROM STDIN") as copy:
        for ci, campaign_id in enumerate(campaigns):
            for k in range(per_campaign):
                zones, prefix, _ = rng.choices(ZONES, weights)[0]
                phone = f"{prefix}{ci:02d}{k:05d}"[:16]
                values = {"campaign_id": campaign_id, "phone_e164": phone, "name": f"C {k}",
                          "time_zones": zones, "jurisdictions": list(number_jurisdictions(phone)),
                          "priority": rng.choice((0, 0, 0, 1)), "created_at": now, "updated_at": now}
                if rng.random() < dnc_share:
                    dnc_numbers.append(phone)
                copy.write_row([_copy_value(f, values) for f in fields])
    DoNotCall.objects.bulk_create([DoNotCall(phone_e164=p) for p in set(dnc_numbers)], batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE campaigns_contact")
        cursor.execute("ANALYZE campaigns_donotcall")
    print(f"loaded {per_campaign * len(campaigns)} contacts in {len(campaigns)} campaigns "
          f"({len(set(dnc_numbers))} on do-not-call) in {time.monotonic() - started:.1f}s", flush=True)
    return campaigns


def _copy_value(field: object, values: dict[str, object]) -> object:
    from django.contrib.postgres.fields import ArrayField
    from django.db.models import JSONField

    name = field.attname  # type: ignore[attr-defined]
    value = values[name] if name in values else field.get_default()  # type: ignore[attr-defined]
    if isinstance(field, JSONField):
        import json

        return json.dumps(value)
    if isinstance(field, ArrayField):
        return value
    return value


def end_calls(states: tuple[str, ...]) -> int:
    """Simulated calls end at once: attempts in ``states`` end ``human``; their contacts are done."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH ended AS (
                UPDATE campaigns_callattempt SET state = 'ended', ended_at = now(), disposition = 'human',
                       lease_expires_at = NULL
                WHERE state = ANY(%s) RETURNING contact_id
            )
            UPDATE campaigns_contact c SET status = 'done', attempts = c.attempts + 1, last_disposition = 'human'
            FROM ended WHERE c.id = ended.contact_id
            """,
            [list(states)],
        )
        return cursor.rowcount


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def claim_phase(seconds: float, warmup: float) -> tuple[float, list[float]]:
    """Ticks back to back, calls ended after each; returns (claims per second, tick durations in ms)."""
    from django.db import connection

    from campaigns.dialer.claim import run_dispatch_tick
    from campaigns.redis_client import get_redis
    from telephony.ua_registry import advertise_ua

    r = get_redis()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    start = time.monotonic()
    durations: list[float] = []
    claimed = 0
    measured_from = None
    cpu_s = py_s = 0.0
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= warmup + seconds:
            break
        advertise_ua(r, BENCH_UA, free_lines=1_000_000, host="127.0.0.1", sip_port=5070, ttl_s=30)
        py0, be0 = time.process_time(), backend_cpu_s(backend)
        t0 = time.perf_counter()
        result = run_dispatch_tick(now=virtual_now(start), r=r, enqueue=lambda ids: None)
        took = (time.perf_counter() - t0) * 1000
        py1, be1 = time.process_time(), backend_cpu_s(backend)
        end_calls(("queued",))
        if elapsed >= warmup:
            if measured_from is None:
                measured_from = time.monotonic()
            durations.append(took)
            claimed += result.claimed
            cpu_s += (py1 - py0) + (be1 - be0)
            py_s += py1 - py0
    wall = time.monotonic() - (measured_from or start)
    # CPU spent by the ticks (this process and its PostgreSQL backend), whatever else the machine runs.
    print(f"claim: cpu_ms_per_tick={cpu_s * 1000 / max(1, len(durations)):.1f} "
          f"python_ms_per_tick={py_s * 1000 / max(1, len(durations)):.1f} "
          f"claims_per_cpu_s={claimed / cpu_s if cpu_s else 0:.0f} load={os.getloadavg()[0]:.1f}", flush=True)
    return claimed / wall, durations


def backend_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a local PostgreSQL backend process (from /proc; 0 when not readable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def originate_worker(db_url: str, redis_url: str, ready: Any, go: Any, times: Any) -> None:
    """A Celery-worker stand-in: takes attempt ids from a Redis list and runs ``originate`` for each."""
    os.environ["REDIS_URL"] = redis_url
    setup_django(db_url)
    from django.db import connection

    from campaigns.dialer.handoff import originate_attempt
    from campaigns.redis_client import get_redis

    r = get_redis()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    ready.release()  # started (Django loaded, connections open): the clock may start
    go.wait()
    start, stop_at = times[0], times[1]
    done, cpu_s = 0, 0.0
    outcomes: Counter[str] = Counter()
    while time.monotonic() < stop_at:
        item = r.blpop([WORK_QUEUE], timeout=0.2)
        if item is not None:
            cpu0 = time.process_time() + backend_cpu_s(backend)
            outcome = originate_attempt(int(item[1]), r=r, now=virtual_now(start))
            cpu_s += time.process_time() + backend_cpu_s(backend) - cpu0
            done += 1
            outcomes[outcome.outcome + (f" ({outcome.reason})" if outcome.reason else "")] += 1
    # CPU per originate (this process and its PostgreSQL backend), whatever else the machine runs.
    print(f"originate worker: done={done} cpu_ms_per_originate={cpu_s * 1000 / max(1, done):.2f} "
          f"outcomes={dict(outcomes)}", flush=True)


def full_phase(db_url: str, redis_url: str, seconds: float, warmup: float, interval: float,
               workers: int) -> tuple[float, float, list[float]]:
    """Tick every ``interval`` with originate workers; returns (claims/s, commands/s, tick ms)."""
    from campaigns.dialer.claim import run_dispatch_tick
    from campaigns.redis_client import get_redis
    from telephony.ua_registry import advertise_ua

    r = get_redis()
    end_calls(("queued", "dialing", "ringing", "answered", "bridged"))  # start with nothing in flight
    from django.db import connection

    with connection.cursor() as cursor:
        # Steady-state statistics, as autovacuum keeps them: with the statistics of a table that was just
        # emptied, the planner scans a partial in-flight index instead of the primary key for `id = ...`.
        cursor.execute("ANALYZE campaigns_callattempt")
    ctx = mp.get_context("spawn")
    ready, go, times = ctx.Semaphore(0), ctx.Event(), ctx.Array("d", 2)
    procs = [ctx.Process(target=originate_worker, args=(db_url, redis_url, ready, go, times)) for _ in range(workers)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    start = time.monotonic()
    stop_at = start + warmup + seconds
    times[0], times[1] = start, stop_at
    go.set()
    commands = 0
    stop = threading.Event()

    def ua_pool() -> None:
        # Takes the commands as a UA pool would and ends those calls (they last no time at all).
        nonlocal commands
        from django.db import connection

        queue = f"ce:ua:commands:{BENCH_UA}"
        while not stop.is_set():
            pipe = r.pipeline()
            pipe.llen(queue)
            pipe.delete(queue)
            taken = pipe.execute()[0]
            if time.monotonic() - start >= warmup:
                commands += taken
            _end_sent_calls(r)
            stop.wait(0.1)
        connection.close()

    pool = threading.Thread(target=ua_pool)
    pool.start()
    durations: list[float] = []
    claimed = 0
    measured_from = None
    next_tick = time.monotonic()
    while time.monotonic() < stop_at:
        advertise_ua(r, BENCH_UA, free_lines=1_000_000, host="127.0.0.1", sip_port=5070, ttl_s=30)
        t0 = time.perf_counter()
        result = run_dispatch_tick(now=virtual_now(start), r=r,
                                   enqueue=lambda ids: r.rpush(WORK_QUEUE, *ids) if ids else None)
        took = (time.perf_counter() - t0) * 1000
        if time.monotonic() - start >= warmup:
            if measured_from is None:
                measured_from = time.monotonic()
            durations.append(took)
            claimed += result.claimed
        next_tick += interval
        time.sleep(max(0.0, next_tick - time.monotonic()))
    wall = time.monotonic() - (measured_from or start)
    stop.set()
    pool.join()
    for p in procs:
        p.join(timeout=10)
    return claimed / wall, commands / wall, durations


def _end_sent_calls(r: Any) -> None:
    """End the calls whose command was taken by the simulated pool, and release their leases, as the UA's
    ``finish_attempt`` would (handed over: ``originated_at`` and ``ua_name`` set)."""
    from django.db import connection

    from campaigns.dialer.leases import campaign_scope, trunk_scope

    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH ended AS (
                UPDATE campaigns_callattempt SET state = 'ended', ended_at = now(), disposition = 'human',
                       lease_expires_at = NULL
                WHERE state = 'queued' AND originated_at IS NOT NULL AND ua_name <> ''
                RETURNING id, contact_id, campaign_id, trunk_id
            ), done AS (
                UPDATE campaigns_contact c SET status = 'done', attempts = c.attempts + 1, last_disposition = 'human'
                FROM ended WHERE c.id = ended.contact_id
            )
            SELECT id, campaign_id, trunk_id FROM ended
            """
        )
        ended = cursor.fetchall()
    pipe = r.pipeline(transaction=False)
    for attempt_id, campaign_id, trunk_id in ended:
        pipe.zrem(campaign_scope(campaign_id, 0).key, str(attempt_id))
        pipe.zrem(trunk_scope(trunk_id, 0).key, str(attempt_id))
    pipe.execute()


def report(name: str, durations: list[float], claims_per_s: float, extra: str = "") -> None:
    """One line of figures for a phase."""
    print(f"{name}: ticks={len(durations)} claims_per_s={claims_per_s:.0f} {extra}"
          f"tick_p50_ms={statistics.median(durations):.1f} tick_p99_ms={percentile(durations, 99):.1f} "
          f"tick_max_ms={max(durations):.1f}", flush=True)


def _claim_run(root: Path, args: argparse.Namespace, base_url: str, redis_url: str) -> dict[str, float]:
    """One claim phase of the code of ``root``, measured by this file (a subprocess), on the loaded data."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--skip-load", "--skip-full",
           "--seconds", str(args.seconds), "--warmup", str(args.warmup), "--max-concurrent", str(args.max_concurrent)]
    env = {**os.environ, "DATABASE_URL": base_url, "REDIS_URL": redis_url, "BENCH_CODE_ROOT": str(root)}
    run = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    if run.returncode:
        sys.stderr.write(run.stderr)
        run.check_returncode()
    out = run.stdout
    figures: dict[str, float] = {}
    for line in out.splitlines():
        if line.startswith("claim:"):
            for item in line.split()[1:]:
                key, _, value = item.partition("=")
                figures[key] = float(value)
    return figures


def _default_new_columns() -> None:
    """Give the attempt table's NOT NULL columns their model default in the database too (bench database only),
    so that older code, which does not know columns added since, can still insert attempts."""
    from django.db import connection

    from campaigns.models import CallAttempt

    table = CallAttempt._meta.db_table
    with connection.cursor() as cursor:
        for f in CallAttempt._meta.concrete_fields:
            default = None if f.null or f.primary_key or f.is_relation else f.get_default()
            if default is None:
                continue
            value = f.get_db_prep_save(default, connection)
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN {connection.ops.quote_name(f.column)} "
                           f"SET DEFAULT CAST(%s AS {f.db_type(connection)})", [value])


def compare_with(refs: list[str], args: argparse.Namespace, base_url: str, redis_url: str) -> int:
    """A/B on the same data in one run: claim phases of each of ``refs`` (exported with ``git archive``) and of
    this tree, in turn, ``--rounds`` each, the order rotated every round; prints every round, the medians and
    the median of the per-round ratios of this tree's CPU per tick to each ref's."""
    here = Path(__file__).resolve().parent.parent
    _default_new_columns()
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        sides: dict[str, Path] = {}
        for i, ref in enumerate(refs):
            root = Path(tmp) / str(i)
            root.mkdir()
            archive = subprocess.run(["git", "-C", str(here), "archive", ref], capture_output=True,
                                     check=True).stdout
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(root, filter="data")
            sides[f"baseline({ref})"] = root
        sides["this"] = here
        names = list(sides)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
        for round_no in range(1, args.rounds + 1):
            k = (round_no - 1) % len(names)  # who goes first changes every round
            for name in names[k:] + names[:k]:
                figures = _claim_run(sides[name], args, base_url, redis_url)
                results[name].append(figures)
                print(f"round {round_no} {name}: " + " ".join(f"{k}={v:g}" for k, v in figures.items()), flush=True)
    keys = ("claims_per_s", "cpu_ms_per_tick", "python_ms_per_tick", "tick_p50_ms", "tick_p99_ms")
    for name, rows in results.items():
        medians = {k: statistics.median(r.get(k, 0.0) for r in rows) for k in keys}
        print(f"median {name}: " + " ".join(f"{k}={v:.1f}" for k, v in medians.items()), flush=True)
    for name in names[:-1]:
        ratios = [t["cpu_ms_per_tick"] / b["cpu_ms_per_tick"]
                  for t, b in zip(results["this"], results[name], strict=True) if b.get("cpu_ms_per_tick")]
        print(f"cpu_ratio this/{name}: rounds=" + ",".join(f"{r:.3f}" for r in ratios)
              + f" median={statistics.median(ratios):.3f}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--max-concurrent", type=int, default=15, help="per campaign")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per phase")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=1.0, help="tick interval of the full phase (beat: 1 s)")
    parser.add_argument("--workers", type=int, default=2, help="originate processes in the full phase")
    parser.add_argument("--dnc-share", type=float, default=0.01)
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded contacts (statuses reset)")
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--baseline-ref", action="append", default=[],
                        help="A/B: claim phases of the code at this git ref and of this tree, alternating, same data")
    parser.add_argument("--rounds", type=int, default=3, help="claim phases per side with --baseline-ref")
    args = parser.parse_args(argv)

    base_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if not base_url or not redis_url:
        parser.error("set DATABASE_URL and REDIS_URL (the benchmark uses <db>_bench and flushes that Redis db)")
    db_url = ensure_database(base_url, "_bench")
    setup_django(db_url)
    from django.db import connection

    from campaigns.redis_client import get_redis

    get_redis().flushdb()
    if args.skip_load:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE campaigns_callattempt")
            cursor.execute("UPDATE campaigns_contact SET status = 'pending', attempts = 0, last_disposition = '', "
                           "next_attempt_at = NULL WHERE status <> 'pending' OR next_attempt_at IS NOT NULL")
            cursor.execute("UPDATE campaigns_campaign SET max_concurrent = %s", [args.max_concurrent])
            cursor.execute("VACUUM ANALYZE campaigns_contact")
    else:
        load(args.contacts, args.campaigns, args.max_concurrent, args.dnc_share)
    if args.baseline_ref:
        return compare_with(args.baseline_ref, args, base_url, redis_url)

    # What the park beat (every 10 s) keeps done: due contacts outside their window wait for its opening.
    from campaigns.dialer.claim import park_contacts_outside_window

    t0 = time.perf_counter()
    parked = park_contacts_outside_window(EPOCH)
    print(f"park: parked={parked} ms={(time.perf_counter() - t0) * 1000:.0f}", flush=True)
    claims_per_s, durations = claim_phase(args.seconds, args.warmup)
    report("claim", durations, claims_per_s)
    if not args.skip_full:
        get_redis().flushdb()
        full_claims, commands_per_s, full_durations = full_phase(
            db_url, redis_url, args.seconds, args.warmup, args.interval, args.workers)
        report("full", full_durations, full_claims, f"commands_per_s={commands_per_s:.0f} ")
    print(f"claims_per_s={claims_per_s:.0f} tick_p99_ms={percentile(durations, 99):.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

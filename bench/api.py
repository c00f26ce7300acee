"""Benchmark: the REST API through a production WSGI server against the same service functions called directly.

    DATABASE_URL=... REDIS_URL=... scripts/netns-run.sh NS .venv/bin/python bench/api.py [--seconds 10]

Works in its own database, ``NAME_api_bench`` (created and migrated if missing). In one run:

1. ``POST /api/v1/calls`` (each with an ``Idempotency-Key`` and a new number): gunicorn (sync workers) on
   loopback, load from a second process. ``--rounds`` rounds alternate ``api.calls.place_call`` called directly
   in this process (the floor, ``--direct-calls`` calls) and the API sequentially (1 worker, 1 client,
   ``--seconds``); the API's cost is the median of the per-round ratios of mean latency. Then under load
   (``--workers`` workers, ``--clients`` concurrent clients): requests/s and p99.
2. A 10,000-contact JSON add: ``POST /api/v1/campaigns/{id}/contacts`` against ``api.contacts.add_contacts``
   called directly, each into a fresh campaign, ``--adds`` times each.

The numbers called are in a zone whose local time is inside the calling window now (the gates run for real),
so the bench picks one of New York, London, Tokyo or Sydney by the hour. The last line is
``calls_direct_ms=.. calls_api_ms=.. calls_ratio=.. calls_rps_loaded=.. calls_p99_ms_loaded=.. add10k_direct_s=..
add10k_api_s=.. add10k_ratio=..``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import zoneinfo
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (number pattern with 4 free digits, its zone)
CANDIDATES = [("+1212555{:04d}", "America/New_York"), ("+44207946{:04d}", "Europe/London"),
              ("+8135550{:04d}", "Asia/Tokyo"), ("+6129876{:04d}", "Australia/Sydney")]


def pick_numbers() -> tuple[str, str]:
    """A number pattern whose zone is between 09:30 and 19:30 now (inside the bench campaign's window)."""
    now = dt.datetime.now(dt.UTC)
    for pattern, zone in CANDIDATES:
        local = now.astimezone(zoneinfo.ZoneInfo(zone))
        if dt.time(9, 30) <= local.time() <= dt.time(19, 30):
            return pattern, zone
    raise SystemExit("no candidate zone is inside 09:30-19:30 now")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- the load process --------------------------------------------------------------------------------------


def client_main(args: argparse.Namespace) -> None:
    """Second process: POST for ``seconds`` from ``clients`` threads; print latencies as JSON."""
    import httpx

    latencies: list[float] = []
    codes: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + args.seconds
    counter = iter(range(args.first, 10**9))

    def worker() -> None:
        with httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.secret}"}, timeout=60) as c:
            while time.perf_counter() < deadline:
                with lock:
                    n = next(counter)
                if args.mode == "calls":
                    body: Any = {"to": args.pattern.format(n % 10000), "campaign_id": args.campaign}
                    path = "/api/v1/calls"
                else:
                    body = json.loads(Path(args.body).read_text())
                    path = f"/api/v1/campaigns/{args.campaign + n - args.first}/contacts"
                started = time.perf_counter()
                r = c.post(path, json=body, headers={"Idempotency-Key": f"bench-{args.first}-{n}"})
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    codes[r.status_code] = codes.get(r.status_code, 0) + 1
                if args.mode != "calls" and n - args.first + 1 >= args.count:
                    return

    threads = [threading.Thread(target=worker) for _ in range(args.clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"latencies": latencies, "codes": codes, "wall": time.perf_counter() - began}))


# --- the benchmark -----------------------------------------------------------------------------------------


def setup(db_url: str) -> None:
    from bench.benchdb import setup_django

    setup_django(db_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_campaign(name: str) -> Any:
    from decimal import Decimal

    from campaigns.models import AgentProfile, Campaign
    from telephony.models import CallerID, Trunk

    trunk, _ = Trunk.objects.get_or_create(name="api-bench", defaults={"host": "127.0.0.1", "max_channels": 10**6,
                                                                        "max_cps": Decimal("1000")})
    caller, _ = CallerID.objects.get_or_create(trunk=trunk, number="+14155550100")
    agent, _ = AgentProfile.objects.get_or_create(name="api-bench", defaults={"prompt_template": "Hi {{name}}"})
    campaign = Campaign.objects.create(name=name, agent=agent, trunk=trunk, status="running",
                                       window_days=[0, 1, 2, 3, 4, 5, 6], window_start=dt.time(9, 0),
                                       window_end=dt.time(20, 0), max_concurrent=10_000, max_attempts=100)
    campaign.caller_ids.add(caller)
    return campaign


def serve(db_url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "config.settings.local",
           "DJANGO_DEBUG": "false", "LOG_LEVEL": "WARNING"}
    command = [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application", "-b", f"127.0.0.1:{port}",
               "-w", str(workers), "--worker-class", "sync", "--log-level", "warning", "--timeout", "300"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    import httpx

    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def load(url: str, secret: str, mode: str, campaign: int, *, seconds: float = 0, clients: int = 1, first: int = 0,
         pattern: str = "", body: str = "", count: int = 0) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--client", "--url", url, "--secret", secret, "--mode", mode,
           "--campaign", str(campaign), "--seconds", str(seconds or 3600), "--clients", str(clients),
           "--first", str(first), "--pattern", pattern, "--body", body, "--count", str(count)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", default="")
    parser.add_argument("--secret", default="")
    parser.add_argument("--mode", default="calls")
    parser.add_argument("--campaign", type=int, default=0)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--pattern", default="")
    parser.add_argument("--body", default="")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--adds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--direct-calls", type=int, default=200)
    parser.add_argument("--port", type=int, default=8931)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return

    from bench.benchdb import ensure_database

    db_url = ensure_database(os.environ["DATABASE_URL"], "_api_bench")
    setup(db_url)
    from django.contrib.auth.models import Group, Permission

    from api.calls import place_call
    from api.contacts import add_contacts
    from api.keys import issue_api_key

    pattern, zone = pick_numbers()
    group, _ = Group.objects.get_or_create(name="api-bench")
    group.permissions.set(Permission.objects.filter(content_type__app_label__in=["campaigns", "telephony"]))
    secret = issue_api_key("bench", groups=[group], rate_per_minute=10**9).secret
    print(f"numbers {pattern} in {zone}", flush=True)

    # 1. calls: rounds that alternate the floor (place_call here) and the API (gunicorn with one worker, one
    # client in a second process), so both see the same machine; the ratio is taken per round.
    url = f"http://127.0.0.1:{args.port}"
    direct: list[float] = []
    api_lat: list[float] = []
    ratios: list[float] = []
    server = serve(db_url, args.port, 1)
    try:
        for r in range(args.rounds):
            campaign = make_campaign(f"calls-direct-{r}")
            round_direct: list[float] = []
            for n in range(args.direct_calls):
                started = time.perf_counter()
                place_call(campaign.pk, pattern.format(n % 10000))
                round_direct.append(time.perf_counter() - started)
            seq = load(url, secret, "calls", make_campaign(f"calls-api-{r}").pk, seconds=args.seconds, clients=1,
                       pattern=pattern, first=r * 100_000)
            if set(seq["codes"]) != {"202"}:
                raise SystemExit(f"calls not all accepted: {seq['codes']}")
            direct += round_direct
            api_lat += seq["latencies"]
            ratios.append(statistics.mean(seq["latencies"]) / statistics.mean(round_direct))
    finally:
        server.terminate()
        server.wait()
    server = serve(db_url, args.port, args.workers)
    try:
        loaded = load(url, secret, "calls", make_campaign("calls-loaded").pk, seconds=args.seconds,
                      clients=args.clients, pattern=pattern, first=10**6)
    finally:
        server.terminate()
        server.wait()
    if set(loaded["codes"]) != {"202"}:
        raise SystemExit(f"calls not all accepted under load: {loaded['codes']}")

    # 2. 10,000 contacts as JSON, into fresh campaigns.
    rows = [{"phone": pattern.format(i), "name": f"Person {i}", "variables": {"plan": "gold", "account": str(i)}}
            for i in range(10_000)]
    body_path = ROOT / "var" / "bench" / "api-contacts-10000.json"
    body_path.parent.mkdir(parents=True, exist_ok=True)
    body_path.write_text(json.dumps({"contacts": rows}))
    # Alternating too: one add direct, one through the API, each into a fresh campaign.
    add_direct: list[float] = []
    add_api: list[float] = []
    add_ratios: list[float] = []
    server = serve(db_url, args.port, 1)
    try:
        for i in range(args.adds):
            campaign = make_campaign(f"add-direct-{i}")
            started = time.perf_counter()
            added = add_contacts(campaign, rows)
            add_direct.append(time.perf_counter() - started)
            if added.job.imported != 10_000:
                raise SystemExit(f"direct add: {added.job.summary}")
            adds = load(url, secret, "contacts", make_campaign(f"add-api-{i}").pk, clients=1, body=str(body_path),
                        count=1, first=2 * 10**6 + i)
            if set(adds["codes"]) != {"200"}:
                raise SystemExit(f"API add failed: {adds['codes']}")
            add_api += adds["latencies"]
            add_ratios.append(adds["latencies"][0] / add_direct[-1])
    finally:
        server.terminate()
        server.wait()

    result = {
        "calls_direct_ms": round(statistics.mean(direct) * 1000, 2),
        "calls_direct_p99_ms": round(percentile(direct, 99) * 1000, 2),
        "calls_api_ms": round(statistics.mean(api_lat) * 1000, 2),
        "calls_api_p99_ms": round(percentile(api_lat, 99) * 1000, 2),
        "calls_ratio": round(statistics.median(ratios), 2),
        "calls_rps_loaded": round(len(loaded["latencies"]) / loaded["wall"], 1),
        "calls_p99_ms_loaded": round(percentile(loaded["latencies"], 99) * 1000, 1),
        "add10k_direct_s": round(statistics.median(add_direct), 3),
        "add10k_api_s": round(statistics.median(add_api), 3),
        "add10k_ratio": round(statistics.median(add_ratios), 2),
    }
    print("calls ratio per round: " + " ".join(f"{x:.2f}" for x in ratios))
    print(f"calls: direct {len(direct)}, api sequential {len(api_lat)}, loaded "
          f"{len(loaded['latencies'])} with {args.clients} clients on {args.workers} workers")
    print(" ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()

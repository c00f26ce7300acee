"""Benchmark the UA pool: N concurrent real calls through dialer -> originate -> UA, held S seconds.

Usage:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME REDIS_URL=redis://127.0.0.1:6379/N \\
        python bench/calls.py --calls 100 --hold 20 [--processes 25] [--cps 25]

It works in its own database, ``NAME_calls_bench`` (created and migrated if missing; its ledger tables are
emptied on every run), and flushes the Redis database it is given. Everything runs on loopback: our UAs on
SIP/RTP ports 15000-15999, SIPp on 16000-16999 and RTP 30000-39999.

What runs:

* SIPp as UAS answering every call with an RTP echo (``-rtp_echo``).
* The real pool (``UaSupervisor``, ``--processes`` workers of 4 lines) with the media probe hooks
  (``testing.probe``): every call sends numbered 20 ms frames and times their echo.
* The dialer's real path: ``run_dispatch_tick`` claims the contacts and ``originate_attempt`` (re-checks,
  leases, caller ID, UA line, command) runs for each claimed attempt in 4 processes, as Celery workers would.
* Once every call is up, the pool's CPU and memory are sampled over the hold; then every call is hung up.
* Baseline in the same run: SIPp as UAC (streaming G.711 both ways through the UAS's echo) against a second
  SIPp UAS, the same N calls held S seconds; its CPU is what ``cpu_ratio_vs_sipp`` divides by.

Prints details, then last:
``calls=N established=E setup_cps=C pool_cores=K rss_mb_per_call=M late_abs_60ms_pct=A late_frames_pct=L
cpu_ratio_vs_sipp=X``

``late_abs_60ms_pct``: the share of expected frames that never came back or came back with a round trip over an
absolute 60 ms (or left late from a stalled clock): a uniformly slow media path shows here.

``late_frames_pct``: of the frames expected back on all calls (each call's first to last echoed frame), the
share that never came back, came back more than 20 ms (one frame) later than that call's median round trip,
or left late because the media clock stalled (see ``testing/probe.py``). The run also prints the same
share for the steady hold alone (all N calls up, none being set up or torn down).
``setup_cps``: established calls divided by the time from the first INVITE to the last answer.
``pool_cores``: CPU seconds used by the UA worker processes per wall second during the hold.
``rss_mb_per_call``: the workers' total resident memory (RSS, shared pages counted in each process) divided by
the established calls; PSS (shared pages split) is printed too, read once the calls have ended (see `pss_mb`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.benchdb import ensure_database, setup_django  # noqa: E402  (importable once ROOT is on the path)

SCENARIOS = ROOT / "tests" / "telephony" / "sipp"
BENCH_SCENARIOS = Path(__file__).resolve().parent / "sipp"
UAS_PORT, UAS_MEDIA_PORT = 16000, 30000
BASE_UAS_PORT, BASE_UAS_MEDIA_PORT = 16002, 30010
BASE_UAC_PORT, BASE_UAC_MEDIA_PORT = 16004, 30020
CLK_TCK = os.sysconf("SC_CLK_TCK")






def load(n_calls: int, cps: float) -> int:
    """Empty the ledger and create one running campaign with `n_calls` contacts inside their window.

    `cps` is the trunk's and the campaign's calls-per-second limit, which the dialer enforces.
    """
    from decimal import Decimal

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from campaigns.choices import CampaignStatus
    from campaigns.models import AgentProfile, Campaign, Contact
    from campaigns.rules.windows import CallingWindow, zones_in_window
    from telephony.models import CallerID, Trunk

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE campaigns_callattempt, campaigns_contact, campaigns_donotcall, campaigns_retryrule, "
            "campaigns_campaign_caller_ids, campaigns_campaign, campaigns_agentprofile, telephony_callerid, "
            "telephony_trunk CASCADE")
    window = CallingWindow.for_campaign(range(7), dt.time(0), dt.time(23, 59))
    zone = zones_in_window(timezone.now(), window)[0]
    agent = AgentProfile.objects.create(name="bench", prompt_template="Hello {{name}}", max_call_s=3600)
    trunk = Trunk.objects.create(name="bench-sipp", host="127.0.0.1", port=UAS_PORT, max_channels=n_calls + 10,
                                 max_cps=Decimal(str(cps)))
    campaign = Campaign.objects.create(
        name="bench-calls", agent=agent, trunk=trunk, status=CampaignStatus.RUNNING, window_days=list(range(7)),
        window_start=dt.time(0), window_end=dt.time(23, 59), max_concurrent=n_calls + 10,
        max_cps=Decimal(str(cps)), ring_timeout_s=30, amd_enabled=False)
    caller = CallerID.objects.create(trunk=trunk, number="+12125550100", daily_cap=10_000_000)
    campaign.caller_ids.add(caller)
    Contact.objects.bulk_create(
        Contact(campaign=campaign, phone_e164=f"+1212555{i:04d}", name=f"bench {i}", time_zones=[zone])
        for i in range(n_calls))
    return campaign.pk


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (from /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def rss_mb(pids: list[int]) -> float:
    """Total RSS (MB) of these processes, from the kernel's counters (cheap: no page-table walk)."""
    rss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
        except FileNotFoundError:
            continue
    return rss / 1024


def pss_mb(pids: list[int]) -> float:
    """Total PSS (MB) of these processes.

    Reading ``smaps_rollup`` walks each process's page tables under its memory-map lock, which stalls the
    process's threads meanwhile (measured: a read of the 25 workers in the middle of the hold made hundreds
    of frames late on every call). So it is read only while no call is up.
    """
    pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except FileNotFoundError:
            continue
    return pss / 1024


def ulaw_tone_file(path: Path, seconds: float = 2.0) -> Path:
    """A WAV file of G.711 μ-law audio (a 440 Hz tone) for SIPp's rtp_stream."""
    import struct

    from testing.probe import _ulaw_decode

    table = {_ulaw_decode(code): code for code in range(256)}
    levels = sorted(table)

    def encode(sample: int) -> int:
        nearest = min(levels, key=lambda level: abs(level - sample))
        return table[nearest]

    cache: dict[int, int] = {}
    data = bytearray()
    for i in range(int(8000 * seconds)):
        sample = int(8000 * math.sin(2 * math.pi * 440 * i / 8000))
        if sample not in cache:
            cache[sample] = encode(sample)
        data.append(cache[sample])
    # WAVE_FORMAT_MULAW (7), mono, 8 kHz, 8 bits.
    fmt = struct.pack("<HHIIHHH", 7, 1, 8000, 8000, 1, 8, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def _originate_worker_init(db_url: str) -> None:
    setup_django(db_url)


def _noop(_: int) -> None:
    time.sleep(0.05)


def _originate(attempt_id: int) -> str:
    from campaigns.dialer.handoff import originate_attempt

    return originate_attempt(attempt_id).outcome


def run_pool_phase(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    """The pool under test. Returns its figures."""
    import redis
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count, Max, Min

    from campaigns.choices import AttemptState
    from campaigns.dialer.claim import run_dispatch_tick
    from campaigns.models import CallAttempt
    from telephony.contract import HangupCommand, seal_command
    from telephony.ua.supervisor import PoolSettings, UaSupervisor
    from telephony.ua_registry import live_uas, push_command
    from testing.probe import PROBE_STATS_KEY
    from testing.sipp import SippRun

    n = args.calls
    r = redis.Redis.from_url(settings.REDIS_URL)
    r.flushdb()
    load(n, args.cps)
    uas = SippRun(SCENARIOS / "uas_answer.xml", port=UAS_PORT, media_port=UAS_MEDIA_PORT, workdir=workdir)
    uas.start(calls=n, rtp_echo=True, trace_messages=False, timeout_s=args.hold + 180,
              extra=["-max_socket", "2000"])
    if args.nice and uas.process is not None:
        # SIPp's echo is the far end of every call: on a busy host it must not starve either.
        os.setpriority(os.PRIO_PROCESS, uas.process.pid, args.nice)
    processes = args.processes or math.ceil(n / 4)
    pool = UaSupervisor(PoolSettings(
        processes=processes, name_prefix="bench-ua", sip_port_base=15000, rtp_port_base=15200,
        media_timeout_s=10, hooks="testing.probe:probe_hooks", stop_timeout_s=20, nice=args.nice),
        env={"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": settings.REDIS_URL,
             "LOG_LEVEL": "WARNING"})
    pool.start()
    stop_supervising = threading.Event()

    def supervise() -> None:
        while not stop_supervising.is_set():
            pool.poll()
            time.sleep(0.2)

    supervisor_thread = threading.Thread(target=supervise, daemon=True)
    supervisor_thread.start()
    figures: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 240  # 25 Django + pjsua2 start-ups on 2 cores take a while
        while len([u for u in live_uas(r) if u.startswith("bench-ua-")]) < processes:
            if time.monotonic() > deadline:
                raise RuntimeError("the UA pool did not come up")
            time.sleep(0.2)
        pids = list(pool.worker_pids().values())
        idle_rss, idle_pss = rss_mb(pids), pss_mb(pids)
        print(f"pool: {processes} UA processes up; idle RSS {idle_rss:.0f} MB, PSS {idle_pss:.0f} MB")

        # The dialer: dispatcher ticks claim; originate runs in 4 processes, as 4 Celery worker processes do.
        outcomes: list[str] = []
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=4, mp_context=spawn, initializer=_originate_worker_init,
                                 initargs=(os.environ["DATABASE_URL"],)) as executor:
            list(executor.map(_noop, range(8)))  # all four started and set up before the clock starts
            started = time.monotonic()
            claimed = 0
            while claimed < n and time.monotonic() - started < 60:
                tick = run_dispatch_tick(r=r, enqueue=lambda ids: None)
                claimed += len(tick.attempt_ids)
                outcomes += list(executor.map(_originate, tick.attempt_ids, chunksize=1))
                time.sleep(0.05)
        print(f"dialer: claimed {claimed}, originate outcomes {Counter(outcomes)}")

        peak = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            up = CallAttempt.objects.filter(state__in=[AttemptState.ANSWERED, AttemptState.BRIDGED]).count()
            peak = max(peak, up)
            done = CallAttempt.objects.exclude(state__in=[AttemptState.QUEUED, AttemptState.DIALING,
                                                          AttemptState.RINGING]).count()
            if done >= claimed:
                break
            time.sleep(0.1)
        established = CallAttempt.objects.filter(answered_at__isnull=False).count()
        hold_start = time.time()  # every call is up: the steady hold begins
        span = CallAttempt.objects.aggregate(first=Min("dialing_at"), last=Max("answered_at"))
        setup_s = (span["last"] - span["first"]).total_seconds() if span["last"] else float("nan")
        figures["established"] = established
        figures["setup_cps"] = established / setup_s if setup_s > 0 else float("nan")
        print(f"calls: {established} established in {setup_s:.2f}s from the first INVITE")

        # The hold: all calls up; measure CPU and memory in its middle.
        warmup = min(2.0, args.hold / 4)
        time.sleep(warmup)
        pids = list(pool.worker_pids().values())
        cpu0, t0 = cpu_seconds(pids), time.monotonic()
        measure = max(1.0, args.hold - 2 * warmup)
        while time.monotonic() - t0 < measure:
            up = CallAttempt.objects.filter(state__in=[AttemptState.ANSWERED, AttemptState.BRIDGED]).count()
            peak = max(peak, up)
            time.sleep(0.5)
        cpu1, t1 = cpu_seconds(pids), time.monotonic()
        rss = rss_mb(pids)
        figures["pool_cores"] = (cpu1 - cpu0) / (t1 - t0)
        figures["rss_mb_per_call"] = rss / max(1, established)
        figures["peak"] = peak
        print(f"hold: peak concurrent {peak}; pool CPU {figures['pool_cores']:.2f} cores over {t1 - t0:.1f}s; "
              f"RSS {rss:.0f} MB ({figures['rss_mb_per_call']:.1f}/call)")
        time.sleep(warmup)

        # Hang up every call from our side (BYE), and wait for the ledger.
        hold_end = time.time()
        # With a --cps limit the calls also end at that pace, as a trunk's calls come and go; without one, all
        # at once.
        pause = 1.0 / args.cps if args.cps < 1000 else 0.0
        for attempt_id, ua in CallAttempt.objects.filter(answered_at__isnull=False).values_list("pk", "ua_name"):
            push_command(r, ua, seal_command(HangupCommand(attempt_id), settings.UA_COMMAND_KEY, now=time.time()))
            time.sleep(pause)
        deadline = time.monotonic() + 30
        while CallAttempt.objects.exclude(state=AttemptState.ENDED).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        dispositions = dict(CallAttempt.objects.values_list("disposition").annotate(n=Count("pk")))
        print(f"ledger: ended {CallAttempt.objects.filter(state=AttemptState.ENDED).count()}/{claimed}; "
              f"dispositions {dispositions}")
        pss = pss_mb(pids)  # now that no call is up (see pss_mb)
        print(f"memory: PSS after the calls ended {pss:.0f} MB ({pss / max(1, established):.1f}/call), idle"
              f" before them {idle_pss:.0f} MB")
        probes = [json.loads(x) for x in r.lrange(PROBE_STATS_KEY, 0, -1)]
        expected = sum(p["expected"] for p in probes)
        late = sum(p["late"] for p in probes)
        missing = sum(p["missing"] for p in probes)
        figures["late_frames_pct"] = 100 * (late + missing) / expected if expected else float("nan")
        late_abs = sum(p.get("late_abs", 0) for p in probes)
        figures["late_abs_60ms_pct"] = 100 * (late_abs + missing) / expected if expected else float("nan")
        # The same count restricted to frames sent while all N calls were up (no set-up or tear-down of other
        # calls competing for the CPU): every call sends a frame every 20 ms through that window.
        hold_bad = sum(1 for p in probes for at in p.get("bad_at", []) if hold_start <= at < hold_end)
        hold_expected = len(probes) * (hold_end - hold_start) / 0.020
        figures["late_frames_pct_hold"] = 100 * hold_bad / hold_expected if hold_expected else float("nan")
        def total(key: str) -> int:
            return sum(p.get(key, 0) for p in probes)

        rtts = sorted(p.get("median_rtt_ms", 0) for p in probes) or [0]
        print(f"media: {len(probes)} calls probed, {expected} frames expected back: {late} late (>20 ms after the"
              f" call's median round trip, or sent late by a stalled clock: {total('clock_stalls')}),"
              f" {missing} missing; late vs the best round trip {total('late_vs_best')}, >60 ms late"
              f" {total('late_60ms')}; median round trip {rtts[len(rtts) // 2]} ms, worst call p99"
              f" {max((p.get('p99_rtt_ms', 0) for p in probes), default=0)} ms")
        print(f"media during the steady hold ({hold_end - hold_start:.1f} s with all calls up): {hold_bad} of"
              f" about {hold_expected:.0f} frames late or missing ({figures['late_frames_pct_hold']:.3f}%); the"
              f" rest of the {late + missing} fell while other calls were being set up or torn down")
        # Where the other late frames fell: per second before the hold (set-up) and after it (tear-down).
        setup_bins: Counter[int] = Counter()
        teardown_bins: Counter[int] = Counter()
        for p in probes:
            for at in p.get("bad_at", []):
                if at < hold_start:
                    setup_bins[int(hold_start - at)] += 1
                elif at >= hold_end:
                    teardown_bins[int(at - hold_end)] += 1
        print("late or missing per second, set-up (seconds before the hold): "
              + (" ".join(f"-{s}s:{n}" for s, n in sorted(setup_bins.items())) or "none")
              + "; tear-down (seconds after the first hangup): "
              + (" ".join(f"+{s}s:{n}" for s, n in sorted(teardown_bins.items())) or "none"))
        uas.wait(30)
        stats = uas.final_stats()
        print(f"sipp uas: successful {stats.get('SuccessfulCall(C)')}, failed {stats.get('FailedCall(C)')}")
    finally:
        stop_supervising.set()
        supervisor_thread.join()
        pool.stop()
        uas.stop()
        connection.close()
    return figures


def run_sipp_baseline(args: argparse.Namespace, workdir: Path, rate: float) -> float:
    """SIPp UAC -> SIPp UAS (echo), same N and hold. Returns the UAC's CPU cores during the hold."""
    from testing.sipp import SippRun

    n = args.calls
    ulaw_tone_file(workdir / "tone-ulaw.wav")  # uac_hold.xml streams it (SIPp runs in workdir)
    uas = SippRun(SCENARIOS / "uas_answer.xml", port=BASE_UAS_PORT, media_port=BASE_UAS_MEDIA_PORT,
                  workdir=workdir)
    uas.start(calls=n, rtp_echo=True, trace_messages=False, timeout_s=args.hold + 120,
              extra=["-max_socket", "2000"])
    uac = SippRun(BENCH_SCENARIOS / "uac_hold.xml", port=BASE_UAC_PORT, media_port=BASE_UAC_MEDIA_PORT,
                  workdir=workdir)
    uac.start(calls=n, rtp_echo=False, remote=f"127.0.0.1:{BASE_UAS_PORT}", rate=rate, trace_messages=False,
              timeout_s=args.hold + 120,
              extra=["-l", str(n), "-d", str(int(args.hold * 1000)),
                     "-max_socket", "2000"])
    assert uac.process is not None  # noqa: S101 - started above
    pid = uac.process.pid
    setup = n / rate
    time.sleep(setup + min(2.0, args.hold / 4))
    cpu0, t0 = cpu_seconds([pid]), time.monotonic()
    time.sleep(max(1.0, args.hold - 2 * min(2.0, args.hold / 4)))
    cpu1, t1 = cpu_seconds([pid]), time.monotonic()
    try:
        uac.wait(args.hold + 60)
        uas.wait(30)
    except subprocess.TimeoutExpired:
        pass
    finally:
        uac.stop()
        uas.stop()
    stats = uac.final_stats()
    cores = (cpu1 - cpu0) / (t1 - t0)
    print(f"sipp baseline: UAC successful {stats.get('SuccessfulCall(C)')}, failed {stats.get('FailedCall(C)')}; "
          f"UAC CPU {cores:.3f} cores during the hold")
    return cores


def main() -> None:
    """Run both phases and print the summary line last."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--hold", type=float, default=20.0)
    parser.add_argument("--cps", type=float, default=9999.0,
                        help="the trunk's and campaign's calls-per-second limit, also the pace at which the "
                             "calls are hung up (default: as fast as the pool sets calls up, and all at once)")
    parser.add_argument("--processes", type=int, default=0, help="UA processes (default: calls / 4)")
    parser.add_argument("--nice", type=int, default=0,
                        help="niceness of the UA workers (the run_ua_pool --nice / UA_NICE setting)")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    if args.calls < 1 or args.hold < 2:
        parser.error("--calls must be >= 1 and --hold >= 2")
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/campaign_engine")
    setup_django(ensure_database(base_url, "_calls_bench"))
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
        workdir = Path(tmp)
        figures = run_pool_phase(args, workdir)
        sipp_cores = float("nan")
        if not args.skip_baseline:
            rate = figures["setup_cps"] if figures["setup_cps"] == figures["setup_cps"] else 20.0
            sipp_cores = run_sipp_baseline(args, workdir, rate=max(1.0, rate))
    ratio = figures["pool_cores"] / sipp_cores if sipp_cores and sipp_cores == sipp_cores else float("nan")
    print(f"calls={args.calls} established={int(figures['established'])} setup_cps={figures['setup_cps']:.1f} "
          f"pool_cores={figures['pool_cores']:.2f} rss_mb_per_call={figures['rss_mb_per_call']:.1f} "
          f"late_abs_60ms_pct={figures['late_abs_60ms_pct']:.3f} late_frames_pct={figures['late_frames_pct']:.3f} "
          f"cpu_ratio_vs_sipp={ratio:.1f}")


if __name__ == "__main__":
    main()

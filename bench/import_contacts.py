"""Benchmark: contact import through the real service against a raw COPY of the same rows.

    DATABASE_URL=... .venv/bin/python bench/import_contacts.py [--rows 1000000] [--keep]

Generates (once, cached under var/bench/) a realistic contact CSV: US/Canadian numbers in the usual
national and international spellings, about 10% other countries, about 2% invalid values and 1%
repeated numbers, with name, e-mail, city and account columns. Then, in the same run:

1. times ``import_contacts_file`` into a fresh campaign (the CLI's path: file stored, sniffed,
   checked, normalised, staged, published in one transaction);
2. times ``COPY ... FROM STDIN (FORMAT csv)`` of the same file into a scratch table of text
   columns with no index (the floor any import of these bytes must pay).

The last line is ``rows=N seconds=S rows_per_s=R peak_rss_mb=M ratio_vs_copy=X``; ``peak_rss_mb``
is the largest resident set of any process of the import (the main one or a worker). Before it:

- ``breakdown_seconds``: the import's phases (``ImportTimings``: waiting for checked rows, COPY to
  staging, publishing, finishing, commit);
- ``cpu_seconds``: CPU of the main process, of the worker processes and of the database backend
  (read from /proc, so only when PostgreSQL runs on this machine);
- ``python_floor_seconds``: the CPU time to read, check and normalise every row in Python, measured
  in one process over the first 100,000 rows and scaled to the file, with the same divided by the
  cores: what the import's Python part costs even with no database at all.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402  (settings must be chosen before Django is imported)

django.setup()

from django.db import connection, transaction  # noqa: E402

from campaigns.contacts import imports as contact_import  # noqa: E402
from campaigns.contacts.csv_input import open_csv  # noqa: E402
from campaigns.contacts.imports import ImportTimings, import_contacts_file  # noqa: E402
from campaigns.contacts.imports import pipeline as import_pipeline  # noqa: E402
from campaigns.models import AgentProfile, Campaign  # noqa: E402
from telephony.models import Trunk  # noqa: E402

# Area codes across US and Canadian time zones.
AREA_CODES = (
    "201", "202", "203", "205", "206", "207", "208", "212", "213", "214", "215", "216", "217", "218", "219",
    "224", "225", "228", "229", "231", "234", "239", "240", "248", "251", "252", "253", "254", "256", "260",
    "262", "267", "269", "270", "276", "281", "301", "302", "303", "304", "305", "307", "308", "309", "310",
    "312", "313", "314", "315", "316", "317", "318", "319", "320", "321", "323", "330", "334", "336", "337",
    "339", "347", "351", "352", "360", "361", "386", "401", "402", "404", "405", "406", "407", "408",
    "409", "410", "412", "413", "414", "415", "417", "419", "423", "424", "425", "430", "432", "434", "435",
    "440", "443", "469", "478", "479", "480", "484", "501", "502", "503", "504", "505", "507", "508", "509",
    "510", "512", "513", "515", "516", "517", "518", "520", "530", "540", "541", "551", "559", "561", "562",
    "563", "567", "570", "571", "573", "574", "575", "580", "585", "586", "601", "602", "603", "605", "606",
    "607", "608", "609", "610", "612", "614", "615", "616", "617", "618", "619", "620", "623", "626", "630",
    "631", "636", "641", "646", "650", "651", "660", "661", "662", "678", "682", "701", "702", "703", "704",
    "706", "707", "708", "712", "713", "714", "715", "716", "717", "718", "719", "720", "724", "727", "731",
    "732", "734", "740", "754", "757", "760", "763", "765", "770", "772", "773", "774", "775", "781", "785",
    "786", "801", "802", "803", "804", "805", "806", "808", "810", "812", "813", "814", "815", "816", "817",
    "818", "828", "830", "831", "832", "843", "845", "847", "848", "850", "856", "857", "858", "859", "860",
    "862", "863", "864", "865", "870", "878", "901", "903", "904", "906", "907", "908", "909", "910", "912",
    "913", "914", "915", "916", "917", "918", "919", "920", "925", "928", "931", "936", "937", "940", "941",
    "947", "949", "951", "952", "954", "956", "970", "971", "972", "973", "978", "979", "980", "985", "989",
    "204", "226", "236", "249", "250", "289", "306", "343", "365", "403", "416", "418", "431", "437", "438",
    "450", "506", "514", "519", "548", "579", "581", "587", "604", "613", "639", "647", "705", "709", "778",
    "780", "782", "807", "819", "825", "867", "873", "902", "905"
)
NANP_STYLES = ("({a}) {b}-{c}", "{a}-{b}-{c}", "{a}.{b}.{c}", "{a}{b}{c}", "1-{a}-{b}-{c}", "+1 {a} {b} {c}",
               "+1{a}{b}{c}", "+1 ({a}) {b}-{c}", "1 {a} {b} {c}")
FOREIGN = ("+44 20 7{:03d} {:04d}", "+44 7400 {:06d}", "+49 30 {:04d}{:04d}",
           "+33 1 {:02d} {:02d} {:02d} {:02d}", "+61 2 {:04d} {:04d}", "+52 55 {:04d} {:04d}",
           "+34 91 {:03d} {:02d} {:02d}", "+91 98{:03d} {:05d}")
_WIDTH = re.compile(r"\{:0(\d)d\}")
INVALID = ("12345", "555-0100", "not known", "+1 123 456 7890", "000-000-0000", "+999 1234 5678", "n/a",
           "(212) 555-01", "+44 12", "")
FIRST = (
    "Ava", "Liam", "Olivia", "Noah", "Emma", "Oliver", "Sophia", "Elijah", "Isabella", "James", "Mia", "William",
    "Amelia", "Zoë", "José", "Renée"
)
LAST = (
    "Smith", "Johnson", "Brown", "Taylor", "Wilson", "Martin", "Lee", "Walker", "Hall", "Young", "Allen", "King",
    "García", "Nguyen", "Müller"
)
CITIES = (
    "Springfield", "Riverside", "Franklin", "Greenville", "Bristol", "Clinton", "Fairview", "Salem", "Madison",
    "Georgetown"
)


def _nanp(rnd: random.Random) -> tuple[str, str]:
    a = rnd.choice(AREA_CODES)
    b = f"{rnd.randint(2, 9)}{rnd.randint(0, 9)}{rnd.randint(0, 9)}"
    if b[1:] == "11":
        b = b[0] + "21"
    c = f"{rnd.randint(0, 9999):04d}"
    return a + b + c, rnd.choice(NANP_STYLES).format(a=a, b=b, c=c)


def _foreign(rnd: random.Random) -> str:
    pattern = rnd.choice(FOREIGN)
    return pattern.format(*(rnd.randrange(10 ** int(width)) for width in _WIDTH.findall(pattern)))


def generate(path: Path, rows: int, seed: int = 1124) -> None:
    """Write the benchmark CSV: ~88% NANP, ~10% foreign, ~2% invalid, ~1% repeats."""
    rnd = random.Random(seed)
    recent: list[str] = []
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Phone", "First Name", "Last Name", "Email", "City", "Account"])
        for i in range(rows):
            roll = rnd.random()
            if roll < 0.02:
                phone = rnd.choice(INVALID)
            elif roll < 0.03 and recent:
                phone = rnd.choice(recent)
            elif roll < 0.13:
                phone = _foreign(rnd)
            else:
                phone = _nanp(rnd)[1]
            if len(recent) < 5000:
                recent.append(phone)
            else:
                recent[rnd.randrange(5000)] = phone
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            writer.writerow([phone, first, last, f"{first.lower()}.{last.lower()}{i}@example.com",
                             rnd.choice(CITIES), f"AC-{i:08d}"])
    tmp.rename(path)


def time_raw_copy(path: Path) -> float:
    """Seconds to COPY the file's bytes into a scratch table of text columns (no index)."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy_scratch")
        cursor.execute("CREATE TABLE bench_copy_scratch (phone text, first_name text, last_name text, email text, "
                       "city text, account text)")
        started = time.perf_counter()
        with cursor.copy("COPY bench_copy_scratch FROM STDIN (FORMAT csv, HEADER true)") as copy, \
                path.open("rb") as fh:
            while block := fh.read(1 << 20):
                copy.write(block)
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy_scratch")
    return elapsed


def time_contacts_insert(campaign: Campaign, job_id: int) -> float:
    """Seconds to insert the contacts just imported again, into a scratch campaign, and commit; then undo."""
    other = Campaign.objects.create(name=f"{campaign.name}-floor", agent=campaign.agent, trunk=campaign.trunk)
    columns = ("phone_e164, name, time_zones, variables, status, priority, attempts, last_disposition, outcome, "
               "outcome_fields, import_job_id, created_at, updated_at")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO campaigns_contact (campaign_id, {columns}) "  # noqa: S608 (constant columns)
                       f"SELECT %s, {columns} FROM campaigns_contact WHERE campaign_id = %s", [other.pk, campaign.pk])
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM campaigns_contact WHERE campaign_id = %s", [other.pk])
    other.delete()
    return elapsed


def python_floor_seconds(path: Path) -> tuple[float, int]:
    """CPU seconds to read, check and normalise every row of the file in one process, and the rows read (the
    whole file, not a sample scaled up: the figure is measured, not extrapolated)."""
    source = open_csv(path)
    rules = import_pipeline.row_rules(source, contact_import.detect_mapping(source), "US")
    import_pipeline._known_zones()
    started, done = time.process_time(), 0
    for chunk in source.record_chunks(5000):
        done += import_pipeline._check_chunk(chunk, rules).rows
    return time.process_time() - started, done


def backend_cpu_seconds() -> float | None:
    """CPU seconds used so far by this connection's PostgreSQL backend, when it runs on this machine."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _process_cpu() -> tuple[float, float]:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark campaign and its contacts.")
    parser.add_argument("--floor", action="store_true",
                        help="Also time re-inserting the imported contacts into another campaign in one statement "
                             "(the table's own cost: indexes, constraints, foreign-key checks at commit).")
    args = parser.parse_args()

    path = ROOT / "var" / "bench" / f"contacts-{args.rows}.csv"
    if not path.exists():
        started = time.perf_counter()
        generate(path, args.rows)
        print(f"generated {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f}s")

    trunk, _ = Trunk.objects.get_or_create(name="bench-trunk", defaults={"host": "127.0.0.1", "port": 5080})
    agent, _ = AgentProfile.objects.get_or_create(name="bench-agent", defaults={"prompt_template": "Hello {{name}}."})
    campaign = Campaign.objects.create(name=f"bench-import-{int(time.time())}", agent=agent, trunk=trunk)
    last = [0.0]

    def progress(done: int, total: int | None) -> None:
        now = time.perf_counter()
        if now - last[0] > 5:
            last[0] = now
            print(f"  {done} rows", flush=True)

    timings = ImportTimings()
    db_cpu_before, (main_before, workers_before) = backend_cpu_seconds(), _process_cpu()
    started = time.perf_counter()
    job = import_contacts_file(campaign, path, progress=progress, timings=timings)
    seconds = time.perf_counter() - started
    db_cpu_after, (main_after, workers_after) = backend_cpu_seconds(), _process_cpu()
    print(f"import job {job.pk}: {job.status} {job.summary} rows={job.rows_done}")
    # parse = waiting for checked rows that the database work did not hide; the rest are database phases.
    print(f"breakdown_seconds: {timings.summary()}")
    db_cpu = (f"{db_cpu_after - db_cpu_before:.2f}" if db_cpu_before is not None and db_cpu_after is not None
              else "n/a")
    print(f"cpu_seconds: main={main_after - main_before:.2f} workers={workers_after - workers_before:.2f} "
          f"db={db_cpu}")
    floor_cpu, floor_rows = python_floor_seconds(path)
    if floor_rows != job.rows_done:
        print(f"note: the floor read {floor_rows} rows, the import {job.rows_done}")
    print(f"python_floor_seconds={floor_cpu:.2f} (one process) {floor_cpu / (os.cpu_count() or 1):.2f} "
          f"(divided over {os.cpu_count()} cores)")

    copy_seconds = time_raw_copy(path)
    if args.floor:
        floor_seconds = time_contacts_insert(campaign, job.pk)
        print(f"contacts_insert_floor_seconds={floor_seconds:.2f} (one INSERT ... SELECT of the imported contacts "
              f"into another campaign, with its commit)")
    main_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"import_seconds={seconds:.2f} raw_copy_seconds={copy_seconds:.2f} "
          f"main_peak_rss_mb={main_rss:.0f} worker_peak_rss_mb={worker_rss:.0f} cpus={os.cpu_count()}")

    if not args.keep:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM campaigns_contact WHERE campaign_id = %s", [campaign.pk])
            cursor.execute("VACUUM ANALYZE campaigns_contact")
        job.file.delete(save=False)
        if job.error_report:
            job.error_report.delete(save=False)
        Campaign.objects.filter(pk=campaign.pk).delete()

    print(f"rows={job.rows_done} seconds={seconds:.2f} rows_per_s={job.rows_done / seconds:.0f} "
          f"peak_rss_mb={max(main_rss, worker_rss):.0f} ratio_vs_copy={seconds / copy_seconds:.2f}")


if __name__ == "__main__":
    main()

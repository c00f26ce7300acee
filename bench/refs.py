"""Before and after in one run: a benchmark command run alternately in a checkout of a git ref and in this
working tree, on the same machine at the same time, with the ratio of a figure it prints.

    .venv/bin/python bench/refs.py --ref c4a902f^ --metric rows_per_s --rounds 3 -- \\
        .venv/bin/python bench/import_contacts.py --rows 200000

The command must print the figure as ``name=value`` (the last one printed counts). Each side gets its own
database: ``DATABASE_URL``'s name with ``_ref`` or ``_tree`` added (each benchmark then adds its own suffix), so
the two sides' migrations never meet. The order alternates between rounds (ref first, then the tree first), and
the reported ratio is the median of the per-round ratios, so both sides of each ratio saw the same machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _side_url(base_url: str, suffix: str) -> str:
    head, name = base_url.rsplit("/", 1)
    return f"{head}/{name}{suffix}"


def _prepare(cwd: Path, db_url: str) -> None:
    """Create the side's database if missing and migrate it with that side's code (benchmarks that use the
    configured database directly, such as the import, expect it migrated)."""
    import psycopg

    head, name = db_url.rsplit("/", 1)
    with psycopg.connect(f"{head}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": db_url}
    subprocess.run([str(ROOT / ".venv/bin/python"), "manage.py", "migrate", "-v0"], cwd=cwd, env=env, check=True)


def _run(command: list[str], cwd: Path, db_url: str, metric: str, log: Path) -> float:
    env = {**os.environ, "DATABASE_URL": db_url}
    started = time.monotonic()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    log.write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{command} in {cwd} failed ({done.returncode}); output in {log}")
    found = re.findall(rf"\b{re.escape(metric)}=([-+0-9.eE]+)", done.stdout)
    if not found:
        raise SystemExit(f"{command} in {cwd} printed no {metric}=...; output in {log}")
    print(f"  {cwd.name if cwd != ROOT else 'tree'}: {metric}={found[-1]} ({time.monotonic() - started:.0f} s)",
          flush=True)
    return float(found[-1])


def main() -> None:
    """Parse the arguments, make the ref's checkout, alternate the runs, print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", required=True, help="the git ref to compare against (the baseline)")
    parser.add_argument("--metric", required=True, help="the figure's name in the command's output (name=value)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lower-is-better", action="store_true", help="for times (the ratio is then ref / tree)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the benchmark command")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the benchmark command after --")
    command = [str(ROOT / c) if c.startswith(".venv/") else c for c in command]  # one interpreter for both
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/callengine")

    workdir = Path(tempfile.mkdtemp(prefix="bench-refs-"))
    checkout = workdir / "ref"  # (the ref's checkout is named so that logs say which side ran)
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(checkout), args.ref],
                   check=True)
    sha = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], check=True,
                         capture_output=True, text=True).stdout.strip()
    print(f"ref {args.ref} = {sha}; tree = {ROOT}; logs in {workdir}", flush=True)
    for name, cwd in (("ref", checkout), ("tree", ROOT)):
        _prepare(cwd, _side_url(base_url, f"_{name}"))
    ref_values: list[float] = []
    tree_values: list[float] = []
    ratios: list[float] = []
    try:
        for round_no in range(args.rounds):
            print(f"round {round_no + 1}", flush=True)
            sides = [("ref", checkout), ("tree", ROOT)]
            if round_no % 2:
                sides.reverse()
            values = {}
            for name, cwd in sides:
                values[name] = _run(command, cwd, _side_url(base_url, f"_{name}"), args.metric,
                                    workdir / f"{name}-{round_no + 1}.log")
            ref_values.append(values["ref"])
            tree_values.append(values["tree"])
            ratio = values["ref"] / values["tree"] if args.lower_is_better else values["tree"] / values["ref"]
            ratios.append(ratio)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)],
                       check=False)
    print(f"{args.metric}: ref median {statistics.median(ref_values):g}, tree median "
          f"{statistics.median(tree_values):g}")
    print(f"ratio_tree_vs_ref={statistics.median(ratios):.2f} (above 1: the tree is better; rounds: "
          f"{' '.join(f'{r:.2f}' for r in ratios)})")
    if os.environ.get("BENCH_REFS_KEEP_LOGS") != "1":
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Mutation testing of the pure rule modules (`make mutation`): run mutmut, print the score per module, gate on it.

The modules and the tests that exercise them are in ``[tool.mutmut]`` of pyproject.toml. A run starts from an
empty ``mutants/`` (mutmut's work folder, ignored by git), so its score never leans on results of an older
run; ``--rerun-survivors`` keeps the folder and re-tests only the mutants that were not killed last time (for
the loop of writing a test against a survivor). The score of a module is the share of its mutants that a test
killed (a time-out counts as killed: the mutant hung the code); a mutant no test reaches counts as survived.
Every survivor is listed with its diff. Exits 1 when a module or the whole scores below ``--threshold``.

See docs/testing.md, "Mutation testing".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "mutants"
MUTMUT = Path(sys.executable).parent / "mutmut"
# mutmut's exit codes of a mutant's test run (mutmut.stats.status_by_exit_code), as this report names them.
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout",
          -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", 37: "caught by type check",
          None: "not checked"}
DETECTED = frozenset({"killed", "timeout", "caught by type check"})


@dataclass
class ModuleScore:
    """The verdicts of one module's mutants."""

    path: str
    statuses: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.statuses)

    @property
    def detected(self) -> int:
        return sum(1 for s in self.statuses.values() if s in DETECTED)

    @property
    def score(self) -> float:
        return 100.0 * self.detected / self.total if self.total else 100.0

    def undetected(self) -> list[tuple[str, str]]:
        return sorted((name, s) for name, s in self.statuses.items() if s not in DETECTED)


def modules() -> list[str]:
    """The files mutmut mutates (``only_mutate``)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(config["only_mutate"])


def read_scores() -> list[ModuleScore]:
    """Each module's verdicts from mutmut's per-file results (``mutants/<path>.meta``)."""
    scores = []
    for path in modules():
        meta = WORK / f"{path}.meta"
        if not meta.exists():
            raise SystemExit(f"mutation: no results for {path} ({meta} is missing): did mutmut run?")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        scores.append(ModuleScore(path, {name: STATUS.get(code, f"suspicious (exit {code})")
                                         for name, code in codes.items()}))
    return scores


def run_mutmut(names: list[str], max_children: int) -> int:
    """Run ``mutmut run`` (on ``names`` only when given); its progress goes to the terminal or to a log."""
    command = [str(MUTMUT), "run", "--max-children", str(max_children), *names]
    if sys.stdout.isatty():
        return subprocess.run(command, cwd=ROOT, check=False).returncode  # noqa: S603 (our own venv's mutmut)
    WORK.mkdir(exist_ok=True)
    log = WORK / "mutmut-run.log"
    with log.open("w") as out:
        code = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False).returncode  # noqa: S603
    if code != 0:
        print(log.read_text()[-4000:])
    return code


def show(name: str) -> str:
    """The diff of one mutant (what ``mutmut show`` prints, without starting mutmut once per mutant)."""
    try:
        from mutmut.__main__ import find_mutant, get_diff_for_mutant
    except ImportError:  # another mutmut than the pinned one: ask its command line
        out = subprocess.run([str(MUTMUT), "show", name], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
        return "\n".join(out.stdout.strip().splitlines()[1:])
    return str(get_diff_for_mutant(name, path=find_mutant(name).path)).strip()


def report(scores: list[ModuleScore], threshold: float, *, diffs: bool) -> bool:
    """Print the table and the survivors; True when every module and the whole reach ``threshold``."""
    width = max(len(s.path) for s in scores)
    print(f"\n{'module':<{width}}  {'mutants':>7}  {'killed':>6}  {'survived':>8}  {'score':>6}")
    for s in scores:
        print(f"{s.path:<{width}}  {s.total:>7}  {s.detected:>6}  {s.total - s.detected:>8}  {s.score:>5.1f}%")
    total = sum(s.total for s in scores)
    detected = sum(s.detected for s in scores)
    overall = 100.0 * detected / total if total else 100.0
    print(f"{'overall':<{width}}  {total:>7}  {detected:>6}  {total - detected:>8}  {overall:>5.1f}%")
    survivors = [(name, status) for s in scores for name, status in s.undetected()]
    if survivors:
        counts = Counter(status for _, status in survivors)
        print(f"\nNot killed ({', '.join(f'{n} {status}' for status, n in sorted(counts.items()))}):")
        for name, status in survivors:
            print(f"  {status:<9} {name}")
            if diffs:
                print("\n".join("            " + line for line in show(name).splitlines()))
    low = [s.path for s in scores if s.score < threshold]
    if low or overall < threshold:
        print(f"\nmutation: below {threshold:.0f}% ({', '.join(low) or 'overall'})")
        return False
    print(f"\nmutation: every module at or above {threshold:.0f}%")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=85.0, help="minimum score per module and overall (%%)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    parser.add_argument("--rerun-survivors", action="store_true",
                        help="keep mutants/ and re-test only the mutants not killed by the last run")
    parser.add_argument("--no-diffs", action="store_true", help="list the survivors without their diffs")
    parser.add_argument("--report-only", action="store_true", help="print the last run's scores, run nothing")
    args = parser.parse_args()

    os.chdir(ROOT)  # mutmut reads its configuration from the working directory
    started = time.monotonic()
    if not args.report_only:
        names: list[str] = []
        if args.rerun_survivors:
            names = [name for s in read_scores() for name, _ in s.undetected()]
            if not names:
                print("mutation: no survivors to re-test")
        else:
            shutil.rmtree(WORK, ignore_errors=True)
        if names or not args.rerun_survivors:
            code = run_mutmut(names, args.max_children)
            if code != 0:
                print(f"mutation: mutmut failed (exit {code})")
                return code
    scores = read_scores()
    unchecked = [name for s in scores for name, status in s.statuses.items() if status == "not checked"]
    ok = report(scores, args.threshold, diffs=not args.no_diffs)
    if not args.report_only:
        print(f"mutation: {time.monotonic() - started:.0f} s")
    if unchecked:
        print(f"mutation: {len(unchecked)} mutants were not checked (an interrupted run?)")
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

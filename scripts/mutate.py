#!/usr/bin/env python3
"""Mutation check: does the test suite notice when a security rule is broken?

Reads the list of one-line breakages in scripts/mutations.toml, makes one private copy of the project
(the working tree is never modified), and for each mutant: replaces the original snippet in the copy,
runs the mutant's tests against the copy's code, and puts the file back. Each mutant is reported as

  KILLED          a selected test failed with the breakage in place (good)
  SURVIVED        every selected test passed although the rule was broken (a missing test)
  NOT-APPLICABLE  the original snippet is not in the file (the code moved; update the entry), or
                  it occurs more than once (make the snippet more distinctive)
  ERROR           pytest could not run the tests (collection or usage error, timeout): look at it
  BASELINE-FAILED (with --baseline) the selected tests already fail without any breakage

Exit status: 0 when every mutant was killed, 1 when any survived, could not be applied or errored,
2 when the check itself could not run. Standard library only.

    .venv/bin/python scripts/mutate.py                   # every mutant, each with its own tests
    .venv/bin/python scripts/mutate.py --only d-pragma   # one mutant (repeat or comma-separate)
    .venv/bin/python scripts/mutate.py --tests "tests -x -q"   # one selection for all mutants
    .venv/bin/python scripts/mutate.py --list            # show the mutants, run nothing
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LIST = ROOT / "scripts" / "mutations.toml"
DEFAULT_TESTS = "tests -x -q"
# Ignored directories that tests use but that are not worth copying (linked into the copy instead).
LINKED = ("tests/js/node_modules",)
SKIPPED_PARTS = {".git", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis",
                 "node_modules", "credo-data", "test-artifacts"}

GUARD = '''"""Loaded by scripts/mutate.py: refuse to run unless the code under test is the mutated copy."""
import os

import credo


def pytest_configure(config):
    copy = os.path.realpath(os.environ["CREDO_MUTATION_COPY"])
    where = os.path.realpath(credo.__file__)
    if not where.startswith(copy + os.sep):
        raise RuntimeError(f"mutation check: credo imported from {where}, not from the copy {copy}")
'''


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    original: str
    replacement: str
    description: str
    tests: str | None


@dataclass
class Outcome:
    mutant: Mutant
    status: str
    seconds: float = 0.0
    detail: str = ""


def load(path: Path) -> list[Mutant]:
    with path.open("rb") as f:
        data = tomllib.load(f)
    mutants: list[Mutant] = []
    seen: set[str] = set()
    for i, entry in enumerate(data.get("mutant", [])):
        missing = [k for k in ("id", "file", "original", "replacement", "description") if k not in entry]
        if missing:
            raise SystemExit(f"{path}: mutant #{i + 1} lacks {', '.join(missing)}")
        if entry["id"] in seen:
            raise SystemExit(f"{path}: duplicate mutant id {entry['id']!r}")
        if entry["original"] == entry["replacement"]:
            raise SystemExit(f"{path}: mutant {entry['id']!r} changes nothing")
        seen.add(entry["id"])
        tests = entry.get("tests")
        if isinstance(tests, list):
            tests = " ".join(shlex.quote(t) for t in tests)
        mutants.append(Mutant(entry["id"], entry["file"], entry["original"], entry["replacement"],
                              entry["description"], tests))
    return mutants


def project_files(root: Path) -> list[Path]:
    """Tracked and untracked-but-not-ignored files (so new tests take part), or a plain walk without git."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,  # noqa: S607 (git from PATH)
                             check=True, capture_output=True).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    return [Path(n) for n in names if not SKIPPED_PARTS & set(Path(n).parts) and (root / n).is_file()]


def make_copy(root: Path) -> Path:
    copy = Path(tempfile.mkdtemp(prefix="credo-mutation-"))
    for rel in project_files(root):
        target = copy / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    for rel in LINKED:
        if (root / rel).exists() and not (copy / rel).exists():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            (copy / rel).symlink_to(root / rel)
    (copy / "_mutation_guard.py").write_text(GUARD)
    return copy


def environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy / "src"), str(copy)] +
                                        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutated file of the same size and mtime must not reuse a .pyc
    env["CREDO_MUTATION_COPY"] = str(copy)
    return env


def check_import(python: str, copy: Path, env: dict[str, str]) -> None:
    """Fail loudly unless `import credo` in the test environment loads the copy."""
    where = subprocess.run([python, "-c", "import credo, os; print(os.path.realpath(credo.__file__))"],  # noqa: S603
                           cwd=copy, env=env, capture_output=True, text=True)
    path = where.stdout.strip()
    if where.returncode != 0 or not path.startswith(str(copy.resolve()) + os.sep):
        raise SystemExit(f"mutation check: `import credo` does not load the copy in {copy} "
                         f"(got {path or where.stderr.strip()!r}); refusing to report on the wrong code")


def run_tests(python: str, copy: Path, env: dict[str, str], selection: str, timeout: float) -> tuple[str, float, str]:
    """('pass' | 'fail' | 'error', seconds, a line about it)."""
    # One process (the project's addopts run workers; with -x they end in "interrupted", exit 2): the
    # selections are small, and a failure then reads as a failure.
    args = [python, "-m", "pytest", "-p", "no:cacheprovider", "-p", "_mutation_guard", "-o", "addopts=",
            *shlex.split(selection)]
    start = time.monotonic()
    try:
        done = subprocess.run(args, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)  # noqa: S603
    except subprocess.TimeoutExpired:
        return "error", time.monotonic() - start, f"timed out after {timeout:.0f}s"
    seconds = time.monotonic() - start
    output = done.stdout + done.stderr
    if "mutation check: credo imported from" in output:
        raise SystemExit("mutation check: " + output.split("mutation check: ", 1)[1].splitlines()[0])
    if done.returncode == 0:
        return "pass", seconds, _summary(output)
    if done.returncode == 1:
        failed = re.findall(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", output, re.MULTILINE)
        return "fail", seconds, (failed[0] if failed else _summary(output))
    tail = [line for line in output.strip().splitlines() if line.strip()][-3:]
    return "error", seconds, f"pytest exit {done.returncode}: " + " | ".join(tail)


def _summary(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1].strip("= ") if lines else ""


def apply(copy: Path, mutant: Mutant) -> str | None:
    """The file's original text after putting the breakage in; None (and a reason) when not applicable."""
    path = copy / mutant.file
    if not path.is_file():
        return None
    text = path.read_text()
    if text.count(mutant.original) != 1:
        return None
    path.write_text(text.replace(mutant.original, mutant.replacement, 1))
    return text


def not_applicable_reason(copy: Path, mutant: Mutant) -> str:
    path = copy / mutant.file
    if not path.is_file():
        return f"{mutant.file} does not exist (moved or renamed?)"
    count = path.read_text().count(mutant.original)
    if count == 0:
        return f"original text not found in {mutant.file}: the code moved; update the entry"
    return f"original text occurs {count} times in {mutant.file}: make the snippet distinctive"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list-file", type=Path, default=DEFAULT_LIST, help="the mutants (TOML)")
    parser.add_argument("--only", action="append", default=[], metavar="ID",
                        help="run only these mutants (repeat or comma-separate)")
    parser.add_argument("--tests", help=f"pytest arguments for every mutant (default: the mutant's own "
                                        f"`tests`, else {DEFAULT_TESTS!r})")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per pytest run")
    parser.add_argument("--baseline", action="store_true",
                        help="first run each distinct selection once without any breakage (a failing "
                             "baseline makes its mutants BASELINE-FAILED)")
    parser.add_argument("--keep", action="store_true", help="keep the copy (its path is printed)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--check", action="store_true",
                        help="only check that every original snippet occurs once (no tests run)")
    parser.add_argument("--python", default=None, help="interpreter with the test dependencies "
                                                       "(default: .venv/bin/python, else this one)")
    args = parser.parse_args(argv)

    mutants = load(args.list_file)
    wanted = {i for item in args.only for i in item.split(",") if i}
    unknown = wanted - {m.id for m in mutants}
    if unknown:
        print(f"unknown mutant id(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if wanted:
        mutants = [m for m in mutants if m.id in wanted]
    if args.list:
        for m in mutants:
            print(f"{m.id:32} {m.file}\n{'':32} {m.description}\n{'':32} tests: {m.tests or DEFAULT_TESTS}")
        return 0

    if args.check:
        bad = 0
        for m in mutants:
            path = ROOT / m.file
            ok = path.is_file() and path.read_text().count(m.original) == 1
            bad += not ok
            print(f"{'ok' if ok else 'NOT-APPLICABLE':15} {m.id:32} {'' if ok else not_applicable_reason(ROOT, m)}")
        return 1 if bad else 0

    venv = ROOT / ".venv" / "bin" / "python"
    python = args.python or (str(venv) if venv.exists() else sys.executable)
    copy = make_copy(ROOT)
    env = environment(copy)
    outcomes: list[Outcome] = []
    try:
        check_import(python, copy, env)
        print(f"mutation check: {len(mutants)} mutant(s); copy of the project in {copy}", flush=True)
        baseline: dict[str, tuple[str, str]] = {}
        for m in mutants:
            selection = args.tests or m.tests or DEFAULT_TESTS
            if args.baseline and selection not in baseline:
                result, seconds, line = run_tests(python, copy, env, selection, args.timeout)
                baseline[selection] = (result, line)
                if result != "pass":
                    print(f"  baseline of {selection!r} does not pass ({seconds:.0f}s): {line}", flush=True)
            if args.baseline and baseline[selection][0] != "pass":
                outcome = Outcome(m, "BASELINE-FAILED", 0.0, baseline[selection][1])
            else:
                original = apply(copy, m)
                if original is None:
                    outcome = Outcome(m, "NOT-APPLICABLE", 0.0, not_applicable_reason(copy, m))
                else:
                    try:
                        result, seconds, line = run_tests(python, copy, env, selection, args.timeout)
                    finally:
                        (copy / m.file).write_text(original)
                    status = {"fail": "KILLED", "pass": "SURVIVED", "error": "ERROR"}[result]
                    outcome = Outcome(m, status, seconds, line)
            outcomes.append(outcome)
            print(f"{outcome.status:15} {m.id:32} {outcome.seconds:6.1f}s  {outcome.detail}", flush=True)
    finally:
        if args.keep:
            print(f"copy kept in {copy}")
        else:
            shutil.rmtree(copy, ignore_errors=True)

    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    print("\nsummary: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    for o in outcomes:
        if o.status != "KILLED":
            print(f"  {o.status}: {o.mutant.id} ({o.mutant.file}): {o.mutant.description}")
    return 0 if all(o.status == "KILLED" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())

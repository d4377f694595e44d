"""Run every benchmark, one after the other, each in its own process.

    python -m bench [--quick] [--only NAME ...] [--write docs/benchmarks.md]

Each `bench/<name>.py` in BENCHMARKS that exists is run as `python -m bench.<name>` (a missing one is
skipped with a note, so modules added by other branches slot in). `--quick` is passed on to modules
that take it (and BENCH_QUICK=1 is set for all). Each module prints its own markdown section: a table,
then one line per target saying whether it was met. `--write` saves the machine's description, the
exact command and every section to a markdown file.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

from bench._common import REPO, machine_markdown

# In the order they run. Modules that do not exist (yet) are skipped.
BENCHMARKS = [
    "local_answer",
    "cloud_overhead",
    "throughput",
    "memory",
    "privacy",
    "complexity",
    "routing",
    "answer_checks",
    "prefill",
    "faults",
    "soak",
]
MODULE_TIMEOUT_S = 900


def _run_one(name: str, quick: bool) -> tuple[str, float]:
    path = REPO / "bench" / f"{name}.py"
    cmd = [sys.executable, "-m", f"bench.{name}"]
    if quick and "--quick" in path.read_text():
        cmd.append("--quick")
    env = {**os.environ, "BENCH_QUICK": "1" if quick else "0"}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=MODULE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"## {name}\n\nDid not finish within {MODULE_TIMEOUT_S} s.\n", time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    out = proc.stdout.strip()
    if proc.returncode != 0:
        err = proc.stderr.strip()[-2000:]
        out += f"\n\n`python -m bench.{name}` failed (exit {proc.returncode}):\n\n```\n{err}\n```"
    return out + "\n", seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run every benchmark in bench/ and print the results.")
    p.add_argument("--quick", action="store_true", help="shrunk counts (development; noisier numbers)")
    p.add_argument("--only", nargs="+", metavar="NAME", help=f"run only these, of: {' '.join(BENCHMARKS)}")
    p.add_argument("--write", type=Path, metavar="FILE", help="also write the report to FILE (markdown)")
    args = p.parse_args(argv)
    names = args.only or BENCHMARKS
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; choose from {BENCHMARKS}")
    command = (
        "python -m bench"
        + (" --quick" if args.quick else "")
        + (" --only " + " ".join(args.only) if args.only else "")
    )
    started = datetime.datetime.now(datetime.UTC)
    header = (
        f"Run {started:%Y-%m-%d %H:%M} UTC with `{command}` "
        f"(`make bench` runs `python -m bench`).\n\nMachine:\n\n{machine_markdown()}\n"
    )
    print(header, flush=True)
    sections = []
    timings = []
    for name in names:
        if not (REPO / "bench" / f"{name}.py").exists():
            note = f"(bench/{name}.py is not in this checkout: skipped)"
            print(note + "\n", flush=True)
            timings.append(f"{name}: skipped (missing)")
            continue
        print(f"... running bench.{name}", file=sys.stderr, flush=True)
        text, seconds = _run_one(name, args.quick)
        print(text, flush=True)
        sections.append(text)
        timings.append(f"{name}: {seconds:.0f} s")
    total = (datetime.datetime.now(datetime.UTC) - started).total_seconds()
    footer = f"Wall time {total:.0f} s ({'; '.join(timings)})."
    print(footer)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text("# Benchmarks\n\n" + header + "\n" + "\n".join(sections) + "\n" + footer + "\n")
        print(f"wrote {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

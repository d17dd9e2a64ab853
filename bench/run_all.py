"""Every benchmark with short settings, one after another, and one summary.

    python bench/run_all.py [--only NAME ...] [--skip NAME ...] [--list]

Each script runs as its own process with the arguments below (short versions of its
defaults), under a time limit; a failing script is reported and the others still run.
Writes bench/results/run_all-<time>.md (each script's command, status, time and output
tables) and a .json with the same, plus the JSON files the scripts wrote themselves.
Exit status 1 if any script failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib.results import REPO_ROOT, RESULTS_DIR, describe_machine, machine_info

BENCH_DIR = REPO_ROOT / "bench"
OUTPUT_TAIL_LINES = 40


@dataclass(frozen=True)
class Bench:
    name: str
    args: tuple[str, ...]
    timeout: float
    """Seconds before the script is stopped and counted as failed."""


BENCHES = (
    Bench("http_vs_nginx", ("--seconds", "3", "--runs", "3"), 600),
    Bench("origin_wrk", ("--seconds", "2", "--runs", "3"), 600),
    Bench("edge_hits", ("--seconds", "2", "--runs", "3"), 600),
    Bench("origin_store_compare", ("--seconds", "2", "--runs", "3"), 600),
    Bench("pages_wrk", ("--seconds", "2"), 300),
    Bench("players", ("--players", "30", "--seconds", "10", "--runs", "2"), 600),
    Bench("upload", ("--size-mib", "200"), 300),
    Bench("tus_upload", ("--size-mib", "128"), 300),
    Bench("serve_internal_link", ("--rounds", "2", "--seconds", "2"), 600),
    Bench("transcode_overhead", ("--runs", "1"), 600),
    Bench(
        "scale_out",
        ("--seconds", "48", "--chunk", "12", "--workers", "1,2", "--threads", "1"),
        900,
    ),
    Bench("s3_client_choice", ("--requests", "200"), 600),
    Bench("cache_conformance", ("--quiet",), 900),
)


@dataclass
class Outcome:
    bench: Bench
    command: list[str]
    returncode: int | None
    seconds: float
    stdout: str
    stderr: str
    results: list[str]

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(bench: Bench) -> Outcome:
    command = [sys.executable, str(BENCH_DIR / f"{bench.name}.py"), *bench.args]
    before = set(RESULTS_DIR.glob("*.json")) if RESULTS_DIR.exists() else set()
    started = time.monotonic()
    print(f"== {bench.name}: {' '.join(command[1:])}", flush=True)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=bench.timeout, cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )  # fmt: skip
        code: int | None = done.returncode
        stdout, stderr = done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code = None
        stdout = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        stderr = f"stopped after {bench.timeout:g} s"
    seconds = time.monotonic() - started
    after = set(RESULTS_DIR.glob("*.json")) if RESULTS_DIR.exists() else set()
    results = sorted(str(path.relative_to(REPO_ROOT)) for path in after - before)
    outcome = Outcome(bench, command, code, seconds, stdout, stderr, results)
    print(f"   {'ok' if outcome.ok else 'FAILED'} in {seconds:.0f} s", flush=True)
    return outcome


def tail(text: str, lines: int = OUTPUT_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def markdown(outcomes: list[Outcome], machine: dict[str, object]) -> str:
    parts = [
        "# Benchmarks (short settings)",
        "",
        describe_machine(machine),
        f"load average after: {machine.get('load_average_after')}",
        "",
        "| benchmark | status | time |",
        "|---|---|---|",
    ]
    for outcome in outcomes:
        status = "ok" if outcome.ok else f"FAILED ({outcome.returncode})"
        parts.append(f"| {outcome.bench.name} | {status} | {outcome.seconds:.0f} s |")
    for outcome in outcomes:
        parts += ["", f"## {outcome.bench.name}", "", "```", " ".join(outcome.command[1:]), "```"]
        parts += ["", "```", tail(outcome.stdout) or "(no output)", "```"]
        if not outcome.ok:
            parts += ["", "stderr:", "```", tail(outcome.stderr, 20), "```"]
        if outcome.results:
            parts += ["", "results: " + ", ".join(outcome.results)]
    return "\n".join(parts) + "\n"


def main() -> int:
    names = [bench.name for bench in BENCHES]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME")
    parser.add_argument("--skip", nargs="+", choices=names, metavar="NAME", default=[])
    parser.add_argument("--list", action="store_true", help="print the benchmarks and exit")
    args = parser.parse_args()
    if args.list:
        for bench in BENCHES:
            print(f"{bench.name:20} {' '.join(bench.args)}")
        return 0
    chosen = [b for b in BENCHES if (not args.only or b.name in args.only)
              and b.name not in args.skip]  # fmt: skip
    machine = machine_info()
    print(describe_machine(machine), flush=True)
    outcomes = [run(bench) for bench in chosen]
    machine["load_average_after"] = machine_info()["load_average"]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    summary = RESULTS_DIR / f"run_all-{stamp}.md"
    summary.write_text(markdown(outcomes, machine))
    (RESULTS_DIR / f"run_all-{stamp}.json").write_text(json.dumps({
        "machine": machine,
        "benchmarks": [
            {"name": o.bench.name, "command": o.command, "returncode": o.returncode,
             "seconds": round(o.seconds, 1), "stdout": o.stdout, "stderr": tail(o.stderr, 50),
             "results": o.results}
            for o in outcomes
        ],
    }, indent=2) + "\n")  # fmt: skip
    failed = [o.bench.name for o in outcomes if not o.ok]
    print(f"\nsummary: {summary}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Machine facts for a benchmark's record, and its JSON file in `bench/results/`."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.lib.nginx import nginx_version

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = Path(os.environ.get("VODSTACK_BENCH_RESULTS") or REPO_ROOT / "bench" / "results")
"""Where results go (git-ignored); VODSTACK_BENCH_RESULTS moves it (tests use a temp dir)."""


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def _wrk_version() -> str | None:
    if shutil.which("wrk") is None:
        return None
    result = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"wrk (\S+)", result.stdout + result.stderr)
    return match.group(1) if match else None


def _git_commit() -> str | None:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
        cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    return result.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    import aiohttp

    return {
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in load_average()],
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "aiohttp": aiohttp.__version__,
        "nginx": nginx_version(),
        "wrk": _wrk_version(),
        "commit": _git_commit(),
    }


def describe_machine(info: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.2f}" for x in info["load_average"])
    return (
        f"{info['cpus']} CPUs, load average {load}; Python {info['python']}, "
        f"aiohttp {info['aiohttp']}, nginx {info['nginx']}, wrk {info['wrk']}, "
        f"commit {info['commit']}"
    )


def write_results(name: str, data: dict[str, Any], directory: Path = RESULTS_DIR) -> Path:
    """`bench/results/<name>-<UTC time>.json` (the directory is git-ignored)."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    path = directory / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path

"""vodstack services as subprocesses on free loopback ports, for benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Protocol

from tests.support.processes import REPO_ROOT, VodstackProcess

QUIET = {"VODSTACK_LOG_LEVEL": "warning"}


class ServiceError(RuntimeError):
    pass


class Stoppable(Protocol):
    """A server a bench started (a vodstack process, nginx)."""

    def stop(self) -> object: ...


def start_origin(data_dir: Path, *, log_dir: Path, extra: tuple[str, ...] = ()) -> VodstackProcess:
    """`vodstack origin` over the local store in `data_dir/store`."""
    return VodstackProcess(
        ["origin", "--data-dir", str(data_dir), "--port", "0", *extra],
        log_path=log_dir / "origin.log", env=QUIET,
    )  # fmt: skip


def edge_process_flag() -> str | None:
    """The option that runs the edge in several processes, if this version has one."""
    text = edge_flags()
    for flag in ("--processes", "--workers"):
        if flag in text:
            return flag
    return None


def edge_flags() -> str:
    """`vodstack edge --help` (to see which options this version has)."""
    return subprocess.run(
        [sys.executable, "-m", "vodstack", "edge", "--help"],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    ).stdout  # fmt: skip


def start_edge(
    upstream: str,
    *,
    log_dir: Path,
    processes: int | None = None,
    cache_size: str = "1GiB",
    extra: tuple[str, ...] = (),
    name: str = "edge",
) -> VodstackProcess:
    """`vodstack edge` in front of `upstream`, in `processes` processes (None: the edge's
    default; more than 1 needs a version with a multi-process option). Access logs are off
    where the edge has them, as for the nginx peers."""
    args = ["edge", "--upstream", upstream, "--port", "0", "--cache-size", cache_size, *extra]
    if processes is not None:
        flag = edge_process_flag()
        if flag is None and processes > 1:
            raise ServiceError("this `vodstack edge` runs in one process only (no --processes)")
        if flag is not None:
            args += [flag, str(processes)]
    if "--access-log" in edge_flags() and "--access-log" not in extra:
        args += ["--access-log", "false"]
    return VodstackProcess(args, log_path=log_dir / f"{name}.log", env=QUIET)


def start_serve(
    data_dir: Path, *, log_dir: Path, env: dict[str, str] | None = None
) -> VodstackProcess:
    """`vodstack serve` (upload API, worker and origin in one process)."""
    return VodstackProcess(
        ["serve", "--data-dir", str(data_dir), "--port", "0"],
        log_path=log_dir / "serve.log", env={**QUIET, **(env or {})},
    )  # fmt: skip

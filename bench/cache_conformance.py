"""Run the public HTTP caching test suite (npm `http-cache-tests`, cache-tests.fyi) on the edge.

    python bench/cache_conformance.py                 # install if needed, run, print counts
    python bench/cache_conformance.py --id vary-match # one test, with its request/response dump

The suite's own test server is the edge's upstream; its command-line client talks to the
edge. Results are counted the way the suite's results page does: a test whose dependencies
did not pass counts as a dependency failure, not as passed or failed. Everything runs on
127.0.0.1; the suite is installed outside the repository (in --cache-dir).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SUITE_VERSION = "0.4.5"
DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vodstack"

EXPORT_JS = (
    "import tests from './tests/index.mjs';"
    "import surrogate from './tests/surrogate-control.mjs';"
    "tests.push(surrogate);"
    "console.log(JSON.stringify(tests));"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install(cache_dir: Path) -> Path:
    package = cache_dir / "node_modules" / "http-cache-tests"
    manifest = package / "package.json"
    if manifest.exists() and json.loads(manifest.read_text())["version"] == SUITE_VERSION:
        return package
    cache_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache_dir),
         f"http-cache-tests@{SUITE_VERSION}"],
        check=True,
    )
    return package


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def load_suite(package: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["node", "--no-warnings", "--input-type=module", "-e", EXPORT_JS],
        cwd=package, check=True, capture_output=True, text=True,
    )
    return list(json.loads(out.stdout))


def verdict(tests: dict[str, dict[str, Any]], results: dict[str, Any], test_id: str) -> str:
    """The result symbol of lib/display.mjs determineTestResult, dependencies honoured."""
    test = tests[test_id]
    result = results.get(test_id)
    if result is None:
        return "untested"
    for dependency in test.get("depends_on", []):
        if verdict(tests, results, dependency) not in ("pass", "yes"):
            return "dependency_fail"
    if isinstance(result, list) and result and result[0] == "Setup":
        return "retry" if result[1] == "retry" else "setup_fail"
    kind = test.get("kind", "required")
    if kind == "check":
        return "yes" if result is True else "no"
    if result is True:
        return "pass"
    return "fail" if kind == "required" else "optional_fail"


def summarise(
    suite: list[dict[str, Any]], results: dict[str, Any], verbose: bool
) -> dict[str, Any]:
    tests = {
        test["id"]: test
        for group in suite
        for test in group["tests"]
        if not test.get("browser_only")
    }
    counts: dict[str, Counter[str]] = {}
    problems: list[str] = []
    for test_id, test in tests.items():
        raw_kind = test.get("kind", "required")
        kind = "informational" if raw_kind == "check" else raw_kind
        symbol = verdict(tests, results, test_id)
        counts.setdefault(kind, Counter())[symbol] += 1
        if kind != "informational" and symbol not in ("pass", "untested"):
            detail = results.get(test_id)
            message = detail[1] if isinstance(detail, list) and len(detail) > 1 else ""
            problems.append(f"  {kind:<9} {symbol:<15} {test_id}: {message}")
    print("\nkind           total  passed  failed  dependency-failed  other")
    for kind in ("required", "optimal", "informational"):
        c = counts.get(kind, Counter())
        total = sum(c.values())
        passed = c["pass"] + c["yes"]
        failed = c["fail"] + c["optional_fail"] + c["no"]
        dep = c["dependency_fail"]
        other = total - passed - failed - dep
        label = "informational (yes)" if kind == "informational" else kind
        print(f"{label:<14} {total:>5}  {passed:>6}  {failed:>6}  {dep:>17}  {other:>5}")
    if verbose and problems:
        print("\nrequired and optimal tests not passed:")
        print("\n".join(sorted(problems)))
    return {kind: dict(c) for kind, c in counts.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR / "http-cache-tests")
    parser.add_argument("--id", default="", help="run one test and show its exchange")
    parser.add_argument("--results", type=Path, help="write the raw results JSON here")
    parser.add_argument("--quiet", action="store_true", help="counts only, no list of failures")
    parser.add_argument("edge_args", nargs="*", help="extra flags for `vodstack edge` (after --)")
    args = parser.parse_args()

    package = install(args.cache_dir)
    server_port, edge_port = free_port(), free_port()
    logs = args.cache_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    server_env = {
        **os.environ,
        "npm_config_port": str(server_port),
        "npm_config_protocol": "http",
        "npm_config_pidfile": str(logs / "server.pid"),
    }
    edge_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "VODSTACK_LOG_LEVEL": "warning"}
    started: list[subprocess.Popen[bytes]] = []
    try:
        with (
            open(logs / "server.log", "wb") as server_log,
            open(logs / "edge.log", "wb") as edge_log,
        ):
            started.append(subprocess.Popen(
                ["node", "server/server.mjs"], cwd=package, env=server_env,
                stdout=server_log, stderr=subprocess.STDOUT,
            ))
            wait_for(f"http://127.0.0.1:{server_port}/")
            started.append(subprocess.Popen(
                [sys.executable, "-m", "vodstack", "edge",
                 "--upstream", f"http://127.0.0.1:{server_port}",
                 "--host", "127.0.0.1", "--port", str(edge_port), *args.edge_args],
                cwd=REPO_ROOT, env=edge_env, stdout=edge_log, stderr=subprocess.STDOUT,
            ))
            wait_for(f"http://127.0.0.1:{edge_port}/healthz")
            client_env = {
                **os.environ,
                "npm_config_base": f"http://127.0.0.1:{edge_port}",
                "npm_config_id": args.id,
                "npm_package_config_id": args.id,
                "npm_package_config_base": f"http://127.0.0.1:{edge_port}",
            }
            began = time.monotonic()
            run = subprocess.run(
                ["node", "--no-warnings", "cli.mjs"], cwd=package, env=client_env,
                capture_output=True, text=True, timeout=900,
            )
            elapsed = time.monotonic() - began
    finally:
        for proc in reversed(started):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    if args.id:
        print(run.stdout)
        print(run.stderr, file=sys.stderr)
        return 0
    try:
        results = json.loads(run.stdout)
    except ValueError:
        print(run.stdout[-2000:], run.stderr[-2000:], sep="\n", file=sys.stderr)
        return 1
    if args.results:
        args.results.write_text(json.dumps(results, indent=2))
    print(f"http-cache-tests {SUITE_VERSION}: {len(results)} tests run in {elapsed:.0f}s "
          f"against vodstack edge (upstream: the suite's server)")
    summarise(load_suite(package), results, verbose=not args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`vodstack check`: exit 0 when the local service is ready, 1 when not (container health checks).

By default it asks `/readyz` of the service these settings describe (VODSTACK_HOST and
VODSTACK_PORT, as in the container's environment); `--url` names another, `--live` asks
`/healthz` instead. One line of output either way, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from vodstack.commands.common import add_settings_arguments, settings_from_args
from vodstack.settings import Settings, SettingsError

EXIT_READY = 0
EXIT_NOT_READY = 1
DEFAULT_TIMEOUT = 3.0
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help="exit 0 if the local service is ready, 1 if not (for health checks)",
        description="GET /readyz (or /healthz with --live) of a vodstack service with a short "
        "timeout. Exit status 0 when it answers 200, 1 otherwise, with one line saying why.",
    )
    parser.add_argument(
        "--url",
        help="service base URL, or a full URL to GET (default: http://HOST:PORT from the "
        "settings below)",
    )
    parser.add_argument(
        "--live", action="store_true", help="check liveness (/healthz) instead of readiness"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for the answer (default {DEFAULT_TIMEOUT:g})",
    )
    add_settings_arguments(parser, only=("host", "port"))
    parser.set_defaults(func=main)


def check_url(base: str | None, settings: Settings, *, live: bool) -> str:
    """The URL to ask: `base` as given when it has a path, else its (or the settings')
    `/readyz` or `/healthz`. A wildcard listen address is asked on loopback."""
    path = "/healthz" if live else "/readyz"
    if base:
        if urlsplit(base).path not in ("", "/"):
            return base
        return base.rstrip("/") + path
    host = _WILDCARDS.get(settings.host, settings.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}{path}"


def probe(url: str, timeout: float) -> tuple[bool, str]:
    """(ready, what to print). Any failure is a reason, never an exception."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(urllib.request.Request(url), timeout=timeout) as response:
            return response.status == 200, f"ready: {url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"not ready: {url} answered {exc.code}{_problems(exc)}"
    except (TimeoutError, urllib.error.URLError, OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, TimeoutError | socket.timeout):
            reason = f"no answer within {timeout:g}s"
        return False, f"not ready: {url}: {reason}"


def _problems(exc: urllib.error.HTTPError) -> str:
    """The `problems` listed by a vodstack /readyz answer, if that is what it is."""
    try:
        body = json.loads(exc.read(64 * 1024) or b"null")
    except (ValueError, OSError):
        return ""
    problems = body.get("problems") if isinstance(body, dict) else None
    if isinstance(problems, list) and problems:
        return " (" + "; ".join(str(problem) for problem in problems) + ")"
    return ""


def main(args: argparse.Namespace) -> int:
    """Every problem, bad arguments included, is exit status 1: Docker reserves 2."""
    if not args.timeout > 0:
        return _not_ready("--timeout must be positive")
    try:
        settings = settings_from_args(args)
    except SettingsError as exc:
        return _not_ready(str(exc))
    if args.url is None and settings.port == 0:
        return _not_ready("the port is 0 (picked at start): give --url")
    url = check_url(args.url, settings, live=args.live)
    ready, message = probe(url, args.timeout)
    print(message if ready else f"vodstack: {message}", file=sys.stdout if ready else sys.stderr)
    return EXIT_READY if ready else EXIT_NOT_READY


def _not_ready(message: str) -> int:
    print(f"vodstack: {message}", file=sys.stderr)
    return EXIT_NOT_READY

"""nginx as the peer to compare against: a generated config in a temp dir, on loopback.

Two set-ups, both with the usual production tuning (sendfile, tcp_nopush, no access log,
one worker per core, long keep-alive):
- `static_config`: the local store's files served directly (what a plain file server
  does at best), with the Cache-Control and CORS headers the origin sends;
- `proxy_cache_config`: a caching reverse proxy in front of an upstream (keys zone, cache
  files in the temp dir, `proxy_cache_lock`, keep-alive to the upstream), honouring the
  upstream's Cache-Control, labelling answers with `X-Cache`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from vodstack import media

START_TIMEOUT = 15.0
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


class NginxError(RuntimeError):
    """nginx is missing, rejected its config, or did not start."""


@dataclass(frozen=True)
class NginxOptions:
    prefix: Path
    """Directory for the config, pid file, error log, temp and cache files."""
    port: int
    workers: int | str = "auto"
    """Worker processes: `auto` is one per core."""
    run_as_root: bool = False
    """Add `user root;` (only meaningful when started as root: files in the temp dir
    belong to root, and the default worker user could not read them)."""


def _main_section(options: NginxOptions) -> str:
    user = "user root;\n" if options.run_as_root else ""
    temp = "".join(
        f"  {name}_temp_path {options.prefix / name};\n" for name in TEMP_DIRS
    )
    return (
        f"{user}worker_processes {options.workers};\n"
        f"pid {options.prefix / 'nginx.pid'};\n"
        f"error_log {options.prefix / 'error.log'} warn;\n"
        "daemon off;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        "  access_log off;\n"
        "  sendfile on;\n"
        "  tcp_nopush on;\n"
        "  tcp_nodelay on;\n"
        "  keepalive_timeout 75s;\n"
        "  keepalive_requests 1000000;\n"
        "  server_tokens off;\n"
        f"{temp}"
    )


def static_config(options: NginxOptions, videos_dir: Path) -> str:
    """Serve `/v/<path>` from `videos_dir/<path>` (the store's data files)."""
    types = "".join(
        f"    {content_type} {extension.lstrip('.')};\n"
        for extension, content_type in (
            (".m3u8", media.PLAYLIST_TYPE), (".m4s", "video/iso.segment"),
            (".mp4", "video/mp4"), (".ts", "video/mp2t"), (".jpg", "image/jpeg"),
        )
    )  # fmt: skip
    return (
        _main_section(options)
        + "  types {\n" + types + "  }\n"
        "  default_type application/octet-stream;\n"
        "  open_file_cache max=10000 inactive=60s;\n"
        "  open_file_cache_valid 60s;\n"
        "  map $uri $vod_cache_control {\n"
        f'    ~\\.m3u8$ "{media.FINISHED_PLAYLIST}";\n'
        f'    default "{media.IMMUTABLE}";\n'
        "  }\n"
        "  server {\n"
        f"    listen 127.0.0.1:{options.port};\n"
        "    location /v/ {\n"
        f"      alias {videos_dir}/;\n"
        "      add_header Cache-Control $vod_cache_control;\n"
        "      add_header Access-Control-Allow-Origin *;\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


def proxy_cache_config(options: NginxOptions, upstream: str, cache_size: str = "1g") -> str:
    """A shared cache in front of `upstream` (`http://host:port`)."""
    match = re.fullmatch(r"http://([^/]+)/?", upstream)
    if not match:
        raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
    return (
        _main_section(options)
        + f"  proxy_cache_path {options.prefix / 'cache'} levels=1:2 keys_zone=vodstack:16m "
        f"max_size={cache_size} inactive=1h use_temp_path=off;\n"
        "  upstream vodstack_upstream {\n"
        f"    server {match.group(1)};\n"
        "    keepalive 64;\n"
        "  }\n"
        "  server {\n"
        f"    listen 127.0.0.1:{options.port};\n"
        "    location / {\n"
        "      proxy_pass http://vodstack_upstream;\n"
        "      proxy_http_version 1.1;\n"
        '      proxy_set_header Connection "";\n'
        "      proxy_set_header Host $http_host;\n"
        "      proxy_cache vodstack;\n"
        "      proxy_cache_lock on;\n"
        "      proxy_cache_revalidate on;\n"
        "      proxy_cache_background_update on;\n"
        "      proxy_cache_use_stale error timeout updating http_500 http_502 http_503 "
        "http_504;\n"
        # Only for answers without Cache-Control/Expires; the upstream's own headers win.
        "      proxy_cache_valid 200 206 10m;\n"
        "      add_header X-Cache $upstream_cache_status always;\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


def nginx_version() -> str | None:
    if shutil.which("nginx") is None:
        return None
    result = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False)
    return result.stderr.strip().removeprefix("nginx version: ")


class Nginx:
    """One nginx master (and its workers) from a config text; stopped by `stop()`."""

    def __init__(self, options: NginxOptions, config: str) -> None:
        if shutil.which("nginx") is None:
            raise NginxError(
                "nginx is not installed (Debian: apt-get install nginx-light; "
                "or scripts/install.sh --bench)"
            )
        self.options = options
        self.url = f"http://127.0.0.1:{options.port}"
        options.prefix.mkdir(parents=True, exist_ok=True)
        for name in TEMP_DIRS:
            (options.prefix / name).mkdir(exist_ok=True)
        self.conf = options.prefix / "nginx.conf"
        self.conf.write_text(config)
        base = ["nginx", "-p", str(options.prefix), "-e", str(options.prefix / "error.log"),
                "-c", str(self.conf)]  # fmt: skip
        check = subprocess.run([*base, "-t"], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise NginxError(f"nginx rejected {self.conf}:\n{check.stderr}")
        self._log = open(options.prefix / "stderr.log", "ab")  # noqa: SIM115 - closed in stop()
        # Its own process group: if the master will not stop, its workers go with it.
        self.proc = subprocess.Popen(
            base, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise NginxError(f"nginx exited with {self.proc.returncode}:\n{self.error_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.options.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise NginxError(f"nginx did not listen on port {self.options.port}:\n{self.error_log()}")

    def error_log(self) -> str:
        path = self.options.prefix / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGTERM to the master, which stops its workers)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()

    def __enter__(self) -> Nginx:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def running_as_root() -> bool:
    return os.geteuid() == 0

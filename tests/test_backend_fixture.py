"""The `backend` fixture other suites run under: both configurations open and work."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.backends import BackendConfig
from tests.support.processes import REPO_ROOT
from vodstack.backends import Backends
from vodstack.catalog import Video


async def test_backend_settings_open_working_backends(backend: BackendConfig) -> None:
    settings = backend.settings(visibility_timeout=5.0)
    assert settings.store_url.startswith("s3://" if backend.distributed else "file://")
    assert settings.queue_url.startswith("redis://" if backend.distributed else "sqlite://")
    backends = Backends.from_settings(settings)
    await backends.start()
    try:
        assert await backends.problems() == []
        await backends.store.put_bytes("uploads/vid-1/source", b"v", content_type="video/mp4")
        await backends.catalog.create(Video(id="vid-1"))
        await backends.queue.enqueue("vid-1", {}, max_attempts=1)
        job = await backends.queue.lease("w", settings.visibility_timeout, wait=0)
        assert job is not None and job.video_id == "vid-1"
        assert await backends.store.read("uploads/vid-1/source") == b"v"
    finally:
        await backends.close()


def test_backend_env_configures_a_subprocess(backend: BackendConfig) -> None:
    """`backend.env` is all a `vodstack` child process needs to find the same backends."""
    code = (
        "from vodstack.settings import load_settings; s = load_settings();"
        "print(s.store_url); print(s.queue_url); print(s.s3_access_key_id)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **backend.env}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
        check=True,
    ).stdout.split("\n")
    expected = backend.settings()
    assert out[:3] == [expected.store_url, expected.queue_url, str(expected.s3_access_key_id)]

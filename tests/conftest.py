"""Fixtures shared by the whole suite. Servers bind 127.0.0.1 and are stopped by their test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.clips import ClipSpec, generate_clip
from tests.support.processes import VodstackProcess


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def make_clip(clip_dir: Path) -> Callable[..., Path]:
    """`make_clip(duration=10, width=1280, height=720, ...)` → path of a generated clip."""

    def make(**kwargs: object) -> Path:
        return generate_clip(ClipSpec(**kwargs), clip_dir)  # type: ignore[arg-type]

    return make


@pytest.fixture
def start_vodstack(tmp_path: Path) -> Iterator[Callable[..., VodstackProcess]]:
    """Factory: `start_vodstack("serve", "--data-dir", d, env={...})`; all stopped at the end."""
    started: list[VodstackProcess] = []

    def start(
        *args: str, env: dict[str, str] | None = None, name: str | None = None
    ) -> VodstackProcess:
        log_name = name or f"{args[0]}-{len(started)}"
        proc = VodstackProcess(args, log_path=tmp_path / f"{log_name}.log", env=env)
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        proc.stop()

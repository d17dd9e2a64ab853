"""`EmbeddedStack` in the test's event loop, over each kind of private link (worker off)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from vodstack.embedded import EmbeddedStack, Link
from vodstack.settings import Settings

pytestmark = pytest.mark.timeout(60)


def _private_socket(path: Path) -> bool:
    return path.is_socket() and path.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("link", ["unix", "tcp"])
async def test_stack_answers_through_its_edge_and_cleans_up(tmp_path: Path, link: Link) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", port=0, worker_concurrency=0, health_check_interval=0.0
    ).validate()
    stack = EmbeddedStack(settings, link=link)
    url = await stack.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/readyz") as response:
                assert response.status == 200
            async with http.post(url + "/v1/videos?filename=a.mp4", data=b"bytes") as response:
                assert response.status == 201 and response.headers["X-Cache"] == "BYPASS"
                created = await response.json()
            assert created["status_url"].startswith(url + "/v1/videos/")
            async with http.get(created["playback_url"]) as response:
                assert response.status == 404  # not published (yet): a short negative cache
            async with http.get(created["playback_url"]) as response:
                assert response.status == 404 and response.headers["X-Cache"] == "HIT"
        if link == "unix":
            socket_path = Path(stack.internal_address)
            assert await asyncio.to_thread(_private_socket, socket_path)
    finally:
        await stack.stop()
    if link == "unix":
        assert not await asyncio.to_thread(socket_path.parent.exists)


async def test_readyz_names_what_is_wrong_behind_the_edge(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", port=0, worker_concurrency=0, health_check_interval=0.0
    ).validate()
    stack = EmbeddedStack(settings)
    url = await stack.start()
    try:
        # The internal app stops answering: the user-facing health endpoints say so.
        internal, stack.internal_runner = stack.internal_runner, None
        assert internal is not None
        await internal.cleanup()
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/healthz") as response:
                assert response.status == 503
                body = await response.json()
            assert body["status"] == "unavailable" and "not reachable" in body["problems"][0]
            async with http.get(url + "/readyz") as response:
                assert response.status == 503
    finally:
        await stack.stop()

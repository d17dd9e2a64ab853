"""API keys: the pure rules, the HTTP checks (401/403, reads public or key-only), the
`vodstack keys` commands and `serve` refusing to be open to the network without keys."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.security import tus
from tests.support.ingest_server import IngestServer, running_ingest
from tests.support.processes import REPO_ROOT
from vodstack import api_keys
from vodstack.auth import Access, access_for, key_required
from vodstack.exposure import exposure_notice, exposure_problem, is_loopback
from vodstack.settings import Settings

# -- pure rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "access"),
    [
        ("GET", "/v1/videos", Access.READ),
        ("HEAD", "/v1/videos/abc", Access.READ),
        ("POST", "/v1/videos", Access.WRITE),
        ("PATCH", "/v1/videos/abc", Access.WRITE),
        ("DELETE", "/v1/videos/abc", Access.WRITE),
        ("POST", "/v1/videos/abc/retry", Access.WRITE),
        ("HEAD", "/v1/uploads/abc", Access.WRITE),
        ("PATCH", "/v1/uploads/abc", Access.WRITE),
        ("GET", "/v1/webhooks/deliveries", Access.ADMIN),
        ("OPTIONS", "/v1/uploads", Access.OPEN),
        ("GET", "/v/abc/master.m3u8", Access.OPEN),
        ("GET", "/healthz", Access.OPEN),
        ("POST", "/anything/else", Access.WRITE),
        ("DELETE", "/_edge/cache", Access.WRITE),
    ],
)
def test_what_each_request_needs(method: str, path: str, access: Access) -> None:
    assert access_for(method, path) is access


def test_keys_are_needed_only_when_required_and_reads_follow_the_setting() -> None:
    off = Settings()
    on = Settings(require_api_key=True)
    closed = Settings(require_api_key=True, api_reads="key")
    assert not any(key_required(a, off) for a in Access)
    assert [key_required(a, on) for a in Access] == [False, False, True, True]
    assert [key_required(a, closed) for a in Access] == [False, True, True, True]


def test_a_key_is_random_stored_as_a_hash_and_checked_whole() -> None:
    made = api_keys.new_key("  laptop   of\nAda ")
    other = api_keys.new_key("x")
    assert made.key != other.key and made.record.id != other.record.id
    assert made.record.name == "laptop of Ada"
    assert made.key not in made.record.to_json()
    assert made.record.hash == api_keys.key_hash(made.key)
    assert api_keys.key_id_of(made.key) == made.record.id
    assert api_keys.matches(made.key, made.record)
    assert not api_keys.matches(made.key[:-1] + ("A" if made.key[-1] != "A" else "B"), made.record)
    assert not api_keys.matches(other.key, made.record)
    for junk in ("", "vsk_", "Bearer x", made.key + "x", made.key.replace("vsk", "abc")):
        assert api_keys.key_id_of(junk) is None


@pytest.mark.parametrize(
    ("header", "token"),
    [(None, None), ("", None), ("Basic abc", None), ("Bearer", None), ("Bearer  ", None),
     ("Bearer abc", "abc"), ("bearer  abc ", "abc")],
)
def test_bearer_tokens(header: str | None, token: str | None) -> None:
    assert api_keys.bearer_token(header) == token


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.5", False),
     ("example.com", False)],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_open_to_the_network_only_with_keys_or_on_purpose() -> None:
    assert exposure_problem(Settings(host="127.0.0.1")) is None
    problem = exposure_problem(Settings(host="0.0.0.0"))
    assert problem is not None and "VODSTACK_REQUIRE_API_KEY" in problem
    assert exposure_problem(Settings(host="0.0.0.0", require_api_key=True)) is None
    assert exposure_problem(Settings(host="0.0.0.0", insecure_open=True)) is None
    assert "loopback only" in exposure_notice(Settings())
    assert "required" in exposure_notice(Settings(host="0.0.0.0", require_api_key=True))
    assert exposure_notice(Settings(host="0.0.0.0", insecure_open=True)).startswith("WARNING")


# -- over HTTP -----------------------------------------------------------------------------


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[IngestServer]:
    settings = Settings(data_dir=tmp_path / "data", require_api_key=True).validate()
    async with running_ingest(settings) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


async def make_key(server: IngestServer, name: str = "test") -> str:
    made = api_keys.new_key(name)
    await server.catalog.api_keys.add_key(made.record)
    return made.key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def post_video(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tus.Answer:
    return await tus.send(
        http, "POST", f"{url}/v1/videos?filename=a.mp4", data=b"not really a video",
        headers={"Content-Type": "application/octet-stream", **headers},
    )


async def test_changes_without_a_key_are_401_with_a_bearer_challenge(
    guarded: IngestServer, http: aiohttp.ClientSession
) -> None:
    for method, path in [("POST", "/v1/videos"), ("DELETE", "/v1/videos/AAAAAAAAAAAAAAAA"),
                         ("PATCH", "/v1/videos/AAAAAAAAAAAAAAAA"), ("POST", "/v1/uploads"),
                         ("HEAD", "/v1/uploads/AAAAAAAAAAAAAAAA"),
                         ("GET", "/v1/webhooks/deliveries")]:
        answer = await tus.send(http, method, guarded.url + path, headers=tus.TUS)
        assert answer.status == 401, (method, path)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        if method != "HEAD":
            assert b'"unauthorized"' in answer.body
    videos, _ = await guarded.catalog.list()
    assert videos == []


async def test_a_wrong_unknown_or_revoked_key_is_403(
    guarded: IngestServer, http: aiohttp.ClientSession
) -> None:
    key = await make_key(guarded)
    unknown = api_keys.new_key("never stored").key
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    for bad in ("nonsense", unknown, forged):
        answer = await post_video(http, guarded.url, bearer(bad))
        assert answer.status == 403 and b'"invalid_api_key"' in answer.body, bad
        assert "invalid_token" in answer.headers["WWW-Authenticate"]
    assert (await post_video(http, guarded.url, bearer(key))).status == 201
    key_id = api_keys.key_id_of(key)
    assert key_id is not None
    assert await guarded.catalog.api_keys.revoke_key(key_id, 0.0)
    assert (await post_video(http, guarded.url, bearer(key))).status == 403


async def test_a_key_opens_tus_uploads(guarded: IngestServer, http: aiohttp.ClientSession) -> None:
    key = await make_key(guarded)
    location = await tus.upload_all(http, guarded.url, os.urandom(5000), 2000, headers=bearer(key))
    assert (await tus.head(http, location)).status == 401
    assert (await tus.head(http, location, bearer(key))).offset == 5000
    # Discovery and CORS preflight need no key (a preflight cannot carry one).
    assert (await tus.send(http, "OPTIONS", f"{guarded.url}/v1/uploads")).status == 204


async def test_reads_are_public_by_default(
    guarded: IngestServer, http: aiohttp.ClientSession
) -> None:
    assert (await tus.send(http, "GET", f"{guarded.url}/v1/videos")).status == 200
    assert (await tus.send(http, "GET", f"{guarded.url}/healthz")).status == 200


async def test_reads_can_be_key_only(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", require_api_key=True, api_reads="key"
    ).validate()
    async with running_ingest(settings) as server:
        key = await make_key(server)
        assert (await tus.send(http, "GET", f"{server.url}/v1/videos")).status == 401
        answer = await tus.send(http, "GET", f"{server.url}/v1/videos", headers=bearer(key))
        assert answer.status == 200
        assert (await tus.send(http, "GET", f"{server.url}/healthz")).status == 200


async def test_without_required_keys_everything_is_open(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_ingest(Settings(data_dir=tmp_path / "d").validate()) as server:
        assert (await post_video(http, server.url, {})).status == 201


async def test_expect_continue_without_a_key_is_refused_before_the_body(
    guarded: IngestServer,
) -> None:
    host, port = guarded.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /v1/videos HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100000000\r\n"
        "Content-Type: application/octet-stream\r\nExpect: 100-continue\r\n\r\n".encode()
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 401"), status_line


# -- the commands ------------------------------------------------------------------------


def vodstack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "vodstack", *args], capture_output=True, text=True,
        timeout=60, env=full_env, cwd=REPO_ROOT,
    )


async def test_keys_create_prints_a_working_key_list_and_revoke(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    data_dir = str(tmp_path / "data")
    created = await asyncio.to_thread(
        vodstack, "keys", "create", "--name", "ci", "--data-dir", data_dir
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    key_id = api_keys.key_id_of(key)
    assert key_id is not None and "shown only now" in created.stderr
    settings = Settings(data_dir=tmp_path / "data", require_api_key=True).validate()
    async with running_ingest(settings) as server:
        assert (await post_video(http, server.url, bearer(key))).status == 201
        listing = await asyncio.to_thread(vodstack, "keys", "list", "--data-dir", data_dir)
        assert listing.returncode == 0
        assert key_id in listing.stdout and "ci" in listing.stdout
        assert key not in listing.stdout and key.split("_")[2] not in listing.stdout
        revoked = await asyncio.to_thread(
            vodstack, "keys", "revoke", key_id, "--data-dir", data_dir
        )
        assert revoked.returncode == 0, revoked.stderr
        assert (await post_video(http, server.url, bearer(key))).status == 403
        unknown = await asyncio.to_thread(
            vodstack, "keys", "revoke", "0123456789ab", "--data-dir", data_dir
        )
        assert unknown.returncode == 1 and "no key" in unknown.stderr


async def test_the_cli_uploads_with_a_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", require_api_key=True).validate()
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(os.urandom(300_000))
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    async with running_ingest(settings) as server:
        key = await make_key(server)
        refused = await asyncio.to_thread(
            vodstack, "upload", str(clip), "--server", server.url, "--no-wait", env=env
        )
        assert refused.returncode == 1 and "401" in refused.stderr
        assert "Traceback" not in refused.stderr
        done = await asyncio.to_thread(
            vodstack, "upload", str(clip), "--server", server.url, "--no-wait", env={
                **env, "VODSTACK_API_KEY": key,
            }
        )
        assert done.returncode == 0, done.stderr
        videos, _ = await server.catalog.list()
        assert len(videos) == 1 and videos[0].size == 300_000


def test_serve_refuses_a_network_address_without_keys(tmp_path: Path) -> None:
    result = vodstack("serve", "--data-dir", str(tmp_path), "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2
    assert "refusing to listen on '0.0.0.0' without API keys" in result.stderr
    assert "--insecure-open" in result.stderr


def test_settings_hide_every_secret() -> None:
    settings = Settings(
        playback_secret="p" * 32, webhook_secret="w" * 32, purge_token="t" * 32,
        s3_secret_access_key="s" * 32,
    )
    text = repr(settings)
    for secret in ("p" * 32, "w" * 32, "t" * 32, "s" * 32):
        assert secret not in text
    assert dataclasses.replace(settings).playback_secret == "p" * 32

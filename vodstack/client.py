"""HTTP client of the upload API, as used by `vodstack upload | status | ls | rm`.

Every failure becomes a `ClientError` with one line a user can act on: the server is not
reachable, it timed out, or it answered an error (its code and message).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote

import aiohttp

DEFAULT_SERVER = "http://127.0.0.1:8080"
SERVER_ENV = "VODSTACK_SERVER"
API_KEY_ENV = "VODSTACK_API_KEY"
CHUNK_SIZE = 1024 * 1024
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
"""How long to wait for an answer once the request is sent."""
UPLOAD_ANSWER_TIMEOUT = 600.0
"""After the last byte of an upload, the server still flushes the file to disk."""

ProgressCallback = Callable[[int], None]


class ClientError(Exception):
    """A failure explained in one line."""


class ApiAnswerError(ClientError):
    """The server answered with an error status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message.rstrip('.')} (HTTP {status}, {code})")
        self.status = status
        self.code = code


def server_url(explicit: str | None, environ: dict[str, str] | None = None) -> str:
    """`--server`, else `VODSTACK_SERVER`, else the default local server."""
    env = os.environ if environ is None else environ
    url = (explicit or env.get(SERVER_ENV) or DEFAULT_SERVER).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ClientError(f"the server must be an http:// or https:// URL, got {url!r}")
    return url


async def _file_chunks(fh: IO[bytes], on_progress: ProgressCallback | None) -> AsyncIterator[bytes]:
    sent = 0
    while chunk := await asyncio.to_thread(fh.read, CHUNK_SIZE):
        sent += len(chunk)
        yield chunk
        if on_progress is not None:
            on_progress(sent)


def api_key(explicit: str | None, environ: dict[str, str] | None = None) -> str | None:
    """`--api-key`, else `VODSTACK_API_KEY`, else none."""
    env = os.environ if environ is None else environ
    return explicit or env.get(API_KEY_ENV) or None


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class VodstackClient:
    def __init__(self, server: str, api_key: str | None = None) -> None:
        self.server = server
        timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self._session = aiohttp.ClientSession(timeout=timeout, headers=headers)

    async def __aenter__(self) -> VodstackClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._session.close()

    def video_url(self, video_id: str) -> str:
        return f"{self.server}/v1/videos/{quote(video_id, safe='')}"

    async def upload(
        self,
        path: Path,
        *,
        title: str | None = None,
        idempotency_key: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """Stream a file as the raw request body; returns the `201 Created` answer."""
        try:
            fh = await asyncio.to_thread(open, path, "rb")
        except OSError as exc:
            raise ClientError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            size = (await asyncio.to_thread(os.fstat, fh.fileno())).st_size
            query = {"filename": path.name}
            if title:
                query["title"] = title
            headers = {
                "Content-Type": "application/octet-stream",
                # A declared length lets the server refuse an oversized file before it is sent.
                "Content-Length": str(size),
            }
            if idempotency_key:
                headers["Idempotency-Key"] = idempotency_key
            data = await self._call(
                "POST",
                f"{self.server}/v1/videos",
                params=query,
                data=_file_chunks(fh, on_progress),
                headers=headers,
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=CONNECT_TIMEOUT, sock_read=UPLOAD_ANSWER_TIMEOUT
                ),
            )
        finally:
            await asyncio.to_thread(fh.close)
        return data

    async def video(self, video_id: str) -> dict[str, Any]:
        return await self._call("GET", self.video_url(video_id))

    async def videos(
        self, *, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        query: dict[str, str] = {}
        if status:
            query["status"] = status
        if limit is not None:
            query["limit"] = str(limit)
        if cursor:
            query["cursor"] = cursor
        return await self._call("GET", f"{self.server}/v1/videos", params=query)

    async def delete(self, video_id: str) -> None:
        await self._call("DELETE", self.video_url(video_id))

    async def retry(self, video_id: str) -> dict[str, Any]:
        """Queue a failed video again (`POST /v1/videos/<id>/retry`)."""
        return await self._call("POST", self.video_url(video_id) + "/retry")

    async def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        answer = await self.send(method, url, **kwargs)
        if answer.status == 204:
            return {}
        return _answer(answer, url)

    async def send(self, method: str, url: str, **kwargs: Any) -> RawAnswer:
        """One request; connection failures become a ClientError, any status is returned."""
        try:
            async with self._session.request(method, url, **kwargs) as response:
                return RawAnswer(response.status, response.headers.copy(), await response.read())
        except aiohttp.InvalidURL:
            raise ClientError(f"not a valid server URL: {self.server}") from None
        except aiohttp.ClientConnectorError as exc:
            errno = exc.os_error.errno
            reason = os.strerror(errno) if errno else str(exc.os_error)
            raise ClientError(
                f"cannot connect to {self.server}: {reason.lower()}. Is vodstack running there? "
                f"(choose the server with --server or {SERVER_ENV})"
            ) from None
        except TimeoutError:
            raise ClientError(f"{self.server} did not answer in time") from None
        except aiohttp.ClientError as exc:
            raise ClientError(f"the connection to {self.server} failed: {exc}") from None


def raise_for_error(answer: RawAnswer) -> None:
    """ApiAnswerError with the server's code and message for a 4xx/5xx answer."""
    if answer.status < 400:
        return
    try:
        data = json.loads(answer.body) if answer.body else None
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and "message" in error:
        raise ApiAnswerError(answer.status, str(error.get("code")), str(error["message"]))
    raise ApiAnswerError(answer.status, "http_error", f"the server answered HTTP {answer.status}")


def _answer(answer: RawAnswer, url: str) -> dict[str, Any]:
    raise_for_error(answer)
    try:
        data = json.loads(answer.body) if answer.body else {}
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ClientError(f"{url} did not answer with JSON; is this a vodstack server?")
    return data

"""The tus client behind `vodstack upload`: resumable, and resumed when run again.

The upload URL of each file is remembered in a small JSON file under the user's cache
directory (`$XDG_CACHE_HOME/vodstack/uploads.json`, else `~/.cache/...`), keyed by a
fingerprint of the server, the file's absolute path, its size and its modification time.
Running `vodstack upload` again on the same unchanged file asks the server how far the
upload got (HEAD) and sends only the rest. Each chunk carries a SHA-1 `Upload-Checksum`,
so a corrupted chunk is refused (460) and sent again. Memory: one chunk.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import mimetypes
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from vodstack.client import ApiAnswerError, ClientError, RawAnswer, VodstackClient, raise_for_error

CHUNK_SIZE = 8 * 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
MAX_RETRIES = 5
RETRY_BASE = 0.5
RETRY_CAP = 8.0
FORGET_AFTER = 30 * 24 * 3600.0
RETRYABLE_STATUSES = frozenset({409, 423, 460, 500, 502, 503, 504})

ProgressCallback = Callable[[int], None]
NoticeCallback = Callable[[str], None]


def cache_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vodstack"


class ResumeState:
    """Upload URLs by file fingerprint, in one small JSON file (read and replaced whole)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def fingerprint(server: str, file: Path, size: int, mtime_ns: int) -> str:
        text = json.dumps([server, str(file.resolve()), size, mtime_ns])
        return hashlib.sha256(text.encode()).hexdigest()

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _store(self, data: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)

    def get(self, fingerprint: str) -> str | None:
        entry = self._load().get(fingerprint)
        url = entry.get("url") if isinstance(entry, dict) else None
        return url if isinstance(url, str) else None

    def put(self, fingerprint: str, url: str, file: Path) -> None:
        now = time.time()
        data = {
            fp: entry for fp, entry in self._load().items()
            if isinstance(entry, dict) and now - float(entry.get("at", 0)) < FORGET_AFTER
        }
        data[fingerprint] = {"url": url, "file": str(file), "at": now}
        self._store(data)

    def forget(self, fingerprint: str) -> None:
        data = self._load()
        if data.pop(fingerprint, None) is not None:
            self._store(data)


@dataclass(frozen=True)
class Uploaded:
    video_id: str
    url: str
    resumed_from: int


class TusUpload:
    def __init__(
        self,
        client: VodstackClient,
        state: ResumeState,
        *,
        chunk_size: int = CHUNK_SIZE,
        on_progress: ProgressCallback | None = None,
        on_notice: NoticeCallback | None = None,
    ) -> None:
        self.client = client
        self.state = state
        self.chunk_size = chunk_size
        self._on_progress = on_progress or (lambda sent: None)
        self._on_notice = on_notice or (lambda text: None)

    async def upload(self, path: Path, *, title: str | None = None) -> Uploaded:
        try:
            fh: IO[bytes] = await asyncio.to_thread(open, path, "rb")
        except OSError as exc:
            raise ClientError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            stat = await asyncio.to_thread(os.fstat, fh.fileno())
            fingerprint = ResumeState.fingerprint(
                self.client.server, path, stat.st_size, stat.st_mtime_ns
            )
            url, offset = await self._resume(fingerprint)
            resumed_from = offset
            if url is None:
                url = await self._create(path, stat.st_size, title)
                await asyncio.to_thread(self.state.put, fingerprint, url, path)
                offset = 0
            else:
                self._on_notice(f"resuming the upload at byte {offset} of {stat.st_size}")
            self._on_progress(offset)
            while offset < stat.st_size:
                offset = await self._send_chunk(fh, url, offset, stat.st_size)
                self._on_progress(offset)
            await asyncio.to_thread(self.state.forget, fingerprint)
        finally:
            await asyncio.to_thread(fh.close)
        return Uploaded(url.rstrip("/").rsplit("/", 1)[1], url, resumed_from)

    async def _resume(self, fingerprint: str) -> tuple[str | None, int]:
        url = await asyncio.to_thread(self.state.get, fingerprint)
        if url is None:
            return None, 0
        answer = await self.client.send("HEAD", url, headers=TUS)
        offset = answer.headers.get("Upload-Offset")
        if answer.status == 200 and offset is not None and offset.isdigit():
            return url, int(offset)
        if answer.status in {401, 403}:
            raise_for_error(answer)
        await asyncio.to_thread(self.state.forget, fingerprint)  # expired, or another server
        return None, 0

    async def _create(self, path: Path, size: int, title: str | None) -> str:
        metadata = {
            "filename": path.name,
            "filetype": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        }
        if title:
            metadata["title"] = title
        headers = {
            **TUS,
            "Upload-Length": str(size),
            "Upload-Metadata": ",".join(
                f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items()
            ),
        }
        answer = await self.client.send("POST", f"{self.client.server}/v1/uploads", headers=headers)
        raise_for_error(answer)
        location = answer.headers.get("Location")
        if answer.status != 201 or not location:
            raise ClientError(f"{self.client.server} did not create an upload; is it vodstack?")
        return location

    async def _send_chunk(self, fh: IO[bytes], url: str, offset: int, size: int) -> int:
        """PATCH one chunk from `offset`; returns the server's new offset, retrying blips."""
        for attempt in range(MAX_RETRIES + 1):
            length = min(self.chunk_size, size - offset)
            chunk = await asyncio.to_thread(_read_at, fh, offset, length)
            digest = base64.b64encode(hashlib.sha1(chunk).digest()).decode()
            headers = {
                **TUS,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Upload-Checksum": f"sha1 {digest}",
            }
            answer: RawAnswer | None = None
            try:
                answer = await self.client.send("PATCH", url, data=chunk, headers=headers)
            except ClientError:
                if attempt == MAX_RETRIES:
                    raise
            if answer is not None:
                new_offset = answer.headers.get("Upload-Offset")
                if answer.status == 204 and new_offset is not None and new_offset.isdigit():
                    return int(new_offset)
                if answer.status not in RETRYABLE_STATUSES or attempt == MAX_RETRIES:
                    raise_for_error(answer)
                    raise ClientError(f"unexpected answer {answer.status} to an upload chunk")
            await asyncio.sleep(random.uniform(0, min(RETRY_CAP, RETRY_BASE * 2**attempt)))
            with contextlib.suppress(ClientError, ApiAnswerError):
                offset = await self._offset(url)  # where the server really is now
        raise ClientError("the upload did not make progress")  # pragma: no cover

    async def _offset(self, url: str) -> int:
        answer = await self.client.send("HEAD", url, headers=TUS)
        raise_for_error(answer)
        value = answer.headers.get("Upload-Offset", "")
        if not value.isdigit():
            raise ClientError(f"{url} answered without an Upload-Offset")
        return int(value)


def _read_at(fh: IO[bytes], offset: int, length: int) -> bytes:
    fh.seek(offset)
    return fh.read(length)

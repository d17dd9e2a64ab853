"""The video catalogue: one record per video (status, progress, error, renditions)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from vodstack.catalog.apikeys import ApiKeyStore
from vodstack.catalog.outbox import WebhookOutbox
from vodstack.catalog.uploads import UploadSessions


class VideoStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    bandwidth: int
    """Peak segment bit rate, bits/s (what HLS BANDWIDTH means)."""
    average_bandwidth: int
    codecs: str
    frame_rate: float


@dataclass(frozen=True)
class Video:
    id: str
    status: VideoStatus = VideoStatus.QUEUED
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    filename: str | None = None
    title: str | None = None
    size: int = 0
    progress: float = 0.0
    error: str | None = None
    duration: float | None = None
    renditions: tuple[Rendition, ...] = ()
    version: str | None = None
    """Output version prefix of the published renditions."""
    attempts: int = 0
    ready_at: float | None = None
    request_id: str | None = None
    playable_at: float | None = None
    """When a master playlist players can use was first out (before `ready` when the video
    is published while it is transcoded); None while there is none."""

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = str(self.status)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Video:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = VideoStatus(values.get("status", VideoStatus.QUEUED))
        values["renditions"] = tuple(Rendition(**r) for r in values.get("renditions") or ())
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Video:
        return cls.from_dict(json.loads(text))


def encode_cursor(video: Video) -> str:
    raw = json.dumps([video.created_at, video.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """Inverse of encode_cursor; ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, video_id = json.loads(raw)
        return float(created_at), str(video_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError("invalid cursor") from exc


class Catalog(Protocol):
    @property
    def uploads(self) -> UploadSessions:
        """Resumable (tus) upload records."""

    @property
    def api_keys(self) -> ApiKeyStore: ...

    @property
    def outbox(self) -> WebhookOutbox:
        """Webhook deliveries, written by `update_and_notify`."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def check(self) -> None:
        """Raise QueueUnavailable unless the backend answers (for /readyz)."""

    async def create(self, video: Video) -> None:
        """Store a new video; ValueError if one with this id exists."""

    async def get(self, video_id: str) -> Video | None: ...

    async def update(self, video_id: str, **changes: Any) -> Video | None:
        """Apply changes atomically (updated_at is set); None if the video is gone."""

    async def update_and_notify(
        self, video_id: str, event: str, urls: Sequence[str], **changes: Any
    ) -> Video | None:
        """`update`, and in the same atomic step one webhook delivery of `event` (see
        `vodstack.webhooks.events`) per URL; with no URLs, just `update`."""

    async def update_if(
        self, video_id: str, expected: VideoStatus, **changes: Any
    ) -> Video | None:
        """`update`, only while the record's status is `expected` (atomically); None if the
        video is gone or in another status (e.g. a retry racing another retry)."""

    async def delete(self, video_id: str) -> bool: ...

    async def list(
        self, *, status: VideoStatus | None = None, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[Video], str | None]:
        """Newest first; returns a page and the cursor of the next page (None at the end)."""

    async def claim_idempotency_key(self, key: str, video_id: str, ttl: float) -> str | None:
        """Claim `key` for `video_id`; None if claimed, else the video id already holding it."""

    async def release_idempotency_key(self, key: str, video_id: str) -> None:
        """Drop a claim (the upload it guarded failed), only if `video_id` holds it."""

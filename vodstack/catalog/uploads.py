"""Resumable-upload records: what any ingest instance needs to continue a tus upload.

The record (length, offset, metadata, the store's resumable state, expiry) is changed only
by the holder of the upload's lock, a short lease renewed while a request writes; `save`
and `delete` succeed only for the current holder, so a request whose lease lapsed can never
overwrite a newer state.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class UploadRecord:
    id: str
    """Also the id of the video the upload becomes."""
    length: int | None
    """Total bytes, None while deferred (Upload-Defer-Length)."""
    offset: int = 0
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    expires_at: float = 0.0
    storage: dict[str, Any] | None = None
    """The store's `ResumableUpload.to_dict()`, once the store has begun the object."""
    request_id: str | None = None
    finished: bool = False
    """The source object, the video record and its job all exist."""
    job_id: str | None = None

    @property
    def complete(self) -> bool:
        """Every byte has arrived (the upload may still need finishing)."""
        return self.length is not None and self.offset == self.length

    def replace(self, **changes: Any) -> UploadRecord:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> UploadRecord:
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{name: value for name, value in data.items() if name in known})


class UploadSessions(Protocol):
    async def create_upload(self, record: UploadRecord) -> None:
        """Store a new record; ValueError if the id exists."""

    async def get_upload(self, upload_id: str) -> UploadRecord | None: ...

    async def save_upload(self, record: UploadRecord, lock: str) -> bool:
        """Replace the record, only while `lock` holds its lock; False otherwise."""

    async def delete_upload(self, upload_id: str, lock: str) -> bool:
        """Drop the record (and its lock), only while `lock` holds the lock."""

    async def lock_upload(self, upload_id: str, lock: str, ttl: float) -> bool:
        """Take the lock for `ttl` seconds, or renew it if `lock` holds it already."""

    async def unlock_upload(self, upload_id: str, lock: str) -> None: ...

    async def request_unlock(self, upload_id: str) -> None:
        """Ask the holder to let go (a newer request from the client has arrived)."""

    async def unlock_requested(self, upload_id: str) -> bool: ...

    async def expired_uploads(self, now: float, limit: int) -> list[str]:
        """Ids of records whose `expires_at` has passed, oldest first."""

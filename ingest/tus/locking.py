"""The per-upload lock every tus request that reads or writes an upload holds.

The lock is a lease in the catalogue (any ingest instance may hold it), renewed every
third of its TTL while held. A request that finds it taken asks the holder to let go
(a client that sends a new request has given up on its old one, whose connection may
not have noticed yet) and waits up to `LOCK_WAIT` before answering 423.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from vodstack.catalog.uploads import UploadSessions
from vodstack.errors import ApiError, ErrorCode, QueueUnavailable

log = logging.getLogger(__name__)

LOCK_TTL = 30.0
LOCK_WAIT = 10.0
RETRY_EVERY = 0.1


@dataclass
class UploadLock:
    upload_id: str
    token: str
    lost: bool = False


def not_found(upload_id: str) -> ApiError:
    return ApiError(ErrorCode.UPLOAD_NOT_FOUND, f"No resumable upload {upload_id[:64]!r}.")


@contextlib.asynccontextmanager
async def locked(
    sessions: UploadSessions, upload_id: str, *, wait: float = LOCK_WAIT, ttl: float = LOCK_TTL
) -> AsyncIterator[UploadLock]:
    lock = UploadLock(upload_id, secrets.token_hex(8))
    deadline = time.monotonic() + wait
    asked = False
    while not await sessions.lock_upload(upload_id, lock.token, ttl):
        if await sessions.get_upload(upload_id) is None:
            raise not_found(upload_id)
        if not asked:
            await sessions.request_unlock(upload_id)
            asked = True
        if time.monotonic() >= deadline:
            raise ApiError(ErrorCode.UPLOAD_LOCKED, headers={"Retry-After": "1"})
        await asyncio.sleep(RETRY_EVERY)
    renewer = asyncio.create_task(_renew(sessions, lock, ttl))
    try:
        yield lock
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        try:
            await asyncio.shield(sessions.unlock_upload(upload_id, lock.token))
        except QueueUnavailable as exc:  # it expires by itself
            log.warning("could not unlock upload %s: %s", upload_id, exc)


async def _renew(sessions: UploadSessions, lock: UploadLock, ttl: float) -> None:
    while True:
        await asyncio.sleep(ttl / 3)
        try:
            if not await sessions.lock_upload(lock.upload_id, lock.token, ttl):
                lock.lost = True
                return
        except QueueUnavailable as exc:
            log.warning("could not renew the lock of upload %s: %s", lock.upload_id, exc)

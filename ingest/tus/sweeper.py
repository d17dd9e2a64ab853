"""Removing expired resumable uploads (§ Expiration), with their stored pieces.

Every `upload_sweep_interval` each ingest process lists expired records, takes each one's
lock (an upload someone is writing to is skipped: its expiry is about to move), and
removes the store's pieces (S3 multipart parts and staging tails, or the local growing
file) and the record. An upload whose bytes all arrived but whose finishing failed (the
queue was down) is finished instead. Several processes sweeping at once take turns
through the locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator

from aiohttp import web

from ingest.tus.finish import finish_upload
from ingest.tus.locking import LOCK_TTL, UploadLock
from vodstack.backends import Backends
from vodstack.errors import ApiError, QueueUnavailable, StoreUnavailable
from vodstack.settings import Settings
from vodstack.store import ResumableUpload

log = logging.getLogger(__name__)

BATCH = 100
FIRST_SWEEP_DELAY = 5.0


async def sweep_once(backends: Backends, settings: Settings, now: float | None = None) -> int:
    """Remove what has expired by `now`; returns how many uploads were removed."""
    sessions = backends.catalog.uploads
    moment = time.time() if now is None else now
    removed = 0
    for upload_id in await sessions.expired_uploads(moment, BATCH):
        lock = UploadLock(upload_id, secrets.token_hex(8))
        if not await sessions.lock_upload(upload_id, lock.token, LOCK_TTL):
            continue
        try:
            record = await sessions.get_upload(upload_id)
            if record is None or record.expires_at > moment:
                continue
            if record.complete and not record.finished:
                await finish_upload(backends, settings, record, lock)
                continue
            if not record.finished and record.storage is not None:
                await backends.store.abort_resumable(ResumableUpload.from_dict(record.storage))
            if await sessions.delete_upload(upload_id, lock.token):
                removed += 1
                log.info(
                    "%s upload %s swept",
                    "finished" if record.finished else "expired", upload_id,
                )
        except (StoreUnavailable, QueueUnavailable, ApiError) as exc:
            log.warning("sweeping upload %s failed (next sweep retries): %s", upload_id, exc)
        finally:
            await sessions.unlock_upload(upload_id, lock.token)
    return removed


def attach_sweeper(app: web.Application, settings: Settings, backends: Backends) -> None:
    """Sweep while `app` runs (added after the backends' cleanup context)."""

    async def loop() -> None:
        delay = min(FIRST_SWEEP_DELAY, settings.upload_sweep_interval)
        while True:
            await asyncio.sleep(delay)
            delay = settings.upload_sweep_interval
            try:
                await sweep_once(backends, settings)
            except (StoreUnavailable, QueueUnavailable) as exc:
                log.warning("upload sweep failed: %s", exc)
            except Exception:
                log.exception("upload sweep crashed; trying again next time")

    async def sweeper_ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(loop(), name="upload-sweeper")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(sweeper_ctx)

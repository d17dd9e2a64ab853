"""Turning a complete upload into a video and its transcode job, exactly once.

Runs under the upload's lock, so racing requests (a retried final PATCH, a HEAD, the
sweeper, on any instance) take turns; each step is idempotent and the record says how
far it got:

1. the store makes the object from its pieces (again: the same object);
2. the video record is created (already there: fine);
3. the job is enqueued unless the record has a job id, and the record is saved with it
   and `finished` in one write.

The one gap: an instance that dies between 3's enqueue and its save leaves a job the
record does not know of, and the next attempt enqueues a second one. Transcoding is
idempotent (deterministic keys, master written last), so that costs a transcode, not
a wrong result.
"""

from __future__ import annotations

import logging
import time

from ingest import params
from ingest.tus.locking import UploadLock
from vodstack import keys
from vodstack.backends import Backends
from vodstack.catalog import Video
from vodstack.catalog.uploads import UploadRecord
from vodstack.errors import ApiError, ErrorCode
from vodstack.settings import Settings
from vodstack.store import ResumableUpload

log = logging.getLogger(__name__)


def video_for(record: UploadRecord, size: int) -> Video:
    """The catalogue record of a finished upload, labelled from its Upload-Metadata."""
    metadata = record.metadata
    filename = params.clean_filename(metadata.get("filename") or metadata.get("name"))
    try:
        title = params.optional_title(metadata.get("title"))
    except ApiError:
        title = None  # checked at creation; never fail a finished upload over a label
    return Video(
        id=record.id,
        filename=filename,
        title=title or params.default_title(filename),
        size=size,
        request_id=record.request_id,
    )


def lost_lock(record: UploadRecord) -> ApiError:
    return ApiError(
        ErrorCode.UPLOAD_LOCKED,
        f"Upload {record.id} was taken over by another request; retry shortly.",
        headers={"Retry-After": "1"},
    )


async def finish_upload(
    backends: Backends, settings: Settings, record: UploadRecord, lock: UploadLock
) -> UploadRecord:
    if record.finished or not record.complete or record.storage is None:
        return record
    info = await backends.store.finish_resumable(ResumableUpload.from_dict(record.storage))
    video = video_for(record, info.size)
    try:
        await backends.catalog.create(video)
    except ValueError:
        log.info("video %s already recorded by an earlier attempt", video.id)
    job_id = record.job_id
    if job_id is None:
        job_id = await backends.queue.enqueue(
            video.id,
            {
                "video_id": video.id,
                "source_key": keys.source_key(video.id),
                "request_id": record.request_id,
            },
            max_attempts=settings.max_attempts,
        )
    finished = record.replace(
        finished=True, job_id=job_id, expires_at=time.time() + settings.upload_expiry
    )
    if not await backends.catalog.uploads.save_upload(finished, lock.token):
        log.error("upload %s: job %s enqueued but the record was not saved", video.id, job_id)
        raise lost_lock(record)
    log.info(
        "video %s uploaded (resumable): %d bytes, file %r",
        video.id, info.size, video.filename,
        extra={"video_id": video.id, "request_id": record.request_id},
    )
    return finished

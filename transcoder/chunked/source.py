"""A local path of the upload for a plan or a part, as the single-job pipeline finds it:
the local store's own file read in place, else a download into the job's scratch space.

Every part downloads the whole upload from a remote store (ffmpeg then reads only its
chunk's range of it); on a local store nothing is copied.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import NoReturn

from transcoder.errors import PermanentJobError, VideoGone
from transcoder.scratch import ScratchSpace, scratch_needed
from vodstack.backends import Backends
from vodstack.store import ObjectNotFound

SOURCE_NAME = "source"


async def source_missing(backends: Backends, video_id: str) -> NoReturn:
    if await backends.catalog.get(video_id) is None:
        raise VideoGone(video_id)
    raise PermanentJobError("the uploaded file is no longer in the store; upload it again")


async def local_source(
    backends: Backends,
    video_id: str,
    source_key: str,
    scratch: Path,
    space: ScratchSpace | None,
) -> Path:
    store = backends.store
    local = store.local_path(source_key)
    if local is not None:
        if await asyncio.to_thread(local.is_file):
            return local
        await source_missing(backends, video_id)
    target = scratch / SOURCE_NAME
    try:
        if space is not None:
            size = (await store.head(source_key)).size
            await space.reserve(
                scratch_needed(duration=0, rungs=(), source_size=size), "the upload"
            )
        await store.download(source_key, target)
    except ObjectNotFound:
        await source_missing(backends, video_id)
    return target

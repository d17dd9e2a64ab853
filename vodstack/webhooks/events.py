"""Webhook events as pure functions of the video they describe.

    {"id": "evt_…", "type": "video.ready", "created_at": "2024-05-01T12:00:00.000Z",
     "data": {"video": {"id": …, "status": "ready", "title": …, "duration": 10.0, …}}}

The body is built once, when the event is written to the outbox, and sent unchanged on
every attempt, so a receiver may de-duplicate by `id` (or by the body's digest).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from vodstack.catalog.base import Video
from vodstack.catalog.outbox import Delivery

VIDEO_READY = "video.ready"
VIDEO_FAILED = "video.failed"
EVENT_TYPES = (VIDEO_READY, VIDEO_FAILED)


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def new_delivery_id() -> str:
    return "dlv_" + secrets.token_hex(12)


def iso8601(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def video_summary(video: Video) -> dict[str, Any]:
    """What a receiver needs without calling back: state, labels, outcome."""
    return {
        "id": video.id,
        "status": str(video.status),
        "title": video.title,
        "filename": video.filename,
        "size": video.size,
        "duration": video.duration,
        "error": video.error,
        "attempts": video.attempts,
        "renditions": [
            {"name": r.name, "width": r.width, "height": r.height, "bandwidth": r.bandwidth}
            for r in video.renditions
        ],
        "created_at": iso8601(video.created_at),
        "ready_at": iso8601(video.ready_at),
    }


def event_body(event_id: str, event_type: str, video: Video, created_at: float) -> str:
    payload = {
        "id": event_id,
        "type": event_type,
        "created_at": iso8601(created_at),
        "data": {"video": video_summary(video)},
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def new_deliveries(
    event_type: str, video: Video, urls: Sequence[str], now: float
) -> list[Delivery]:
    """One delivery per receiver URL, all of one event (same id, same body), due at once."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event {event_type!r}")
    event_id = new_event_id()
    body = event_body(event_id, event_type, video, now)
    return [
        Delivery(
            id=new_delivery_id(),
            event_id=event_id,
            event_type=event_type,
            video_id=video.id,
            url=url,
            body=body,
            created_at=now,
            next_attempt_at=now,
        )
        for url in dict.fromkeys(urls)
    ]

"""`GET /v1/webhooks/deliveries[?video_id=&limit=]`: webhook delivery attempts, newest first."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ingest import params
from vodstack.catalog.outbox import Delivery, DeliveryState
from vodstack.errors import ApiError, ErrorCode
from vodstack.keys import is_video_id
from vodstack.web import BACKENDS, json_response
from vodstack.webhooks.events import iso8601


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    last = delivery.history[-1] if delivery.history else None
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "video_id": delivery.video_id,
        "url": delivery.url,
        "state": str(delivery.state),
        "attempts": delivery.attempts,
        "created_at": iso8601(delivery.created_at),
        "delivered_at": iso8601(delivery.delivered_at),
        "next_attempt_at": (
            iso8601(delivery.next_attempt_at)
            if delivery.state is DeliveryState.PENDING else None
        ),
        "last_status": last.status if last else None,
        "last_error": last.error if last else None,
        "history": [
            {
                "at": iso8601(a.at),
                "status": a.status,
                "error": a.error,
                "duration": a.duration,
            }
            for a in delivery.history
        ],
    }


async def list_deliveries(request: web.Request) -> web.Response:
    video_id = request.query.get("video_id")
    if video_id is not None and not is_video_id(video_id):
        raise ApiError(ErrorCode.INVALID_PARAMETER, "video_id: not a video id")
    limit = params.parse_limit(request.query.get("limit"))
    deliveries = await request.app[BACKENDS].catalog.outbox.list_deliveries(
        video_id=video_id, limit=limit
    )
    return json_response({"deliveries": [delivery_json(d) for d in deliveries]})

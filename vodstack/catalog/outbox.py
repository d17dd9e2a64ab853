"""The webhook outbox: one delivery per (event, receiver URL), written in the same atomic
step that changes the video, then leased and sent by dispatchers (`vodstack.webhooks`).

A lease moves the delivery's next attempt past the lease's end, so a dispatcher that dies
mid-send simply lets it come due again (at-least-once); recording an attempt succeeds only
with the current lease token, so two dispatchers never both record one attempt.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

HISTORY_KEPT = 20


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class Attempt:
    at: float
    duration: float
    status: int | None = None
    """The receiver's HTTP status; None when it could not be reached."""
    error: str | None = None


@dataclass(frozen=True)
class Delivery:
    id: str
    event_id: str
    event_type: str
    video_id: str
    url: str
    body: str
    """The JSON payload, sent byte for byte the same on every attempt."""
    created_at: float
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    next_attempt_at: float = 0.0
    delivered_at: float | None = None
    history: tuple[Attempt, ...] = ()
    lease_token: str | None = field(default=None, compare=False)
    """Set on leased deliveries only; never stored in the record itself."""

    def after(self, attempt: Attempt, state: DeliveryState, next_attempt_at: float) -> Delivery:
        """This delivery with one more attempt recorded."""
        return dataclasses.replace(
            self,
            state=state,
            attempts=self.attempts + 1,
            next_attempt_at=next_attempt_at,
            delivered_at=attempt.at if state is DeliveryState.DELIVERED else self.delivered_at,
            history=(*self.history, attempt)[-HISTORY_KEPT:],
        )

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data.pop("lease_token")
        data["state"] = str(self.state)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes, lease_token: str | None = None) -> Delivery:
        data: dict[str, Any] = json.loads(text)
        data.pop("lease_token", None)
        data["state"] = DeliveryState(data.get("state", DeliveryState.PENDING))
        data["history"] = tuple(Attempt(**a) for a in data.get("history") or ())
        return cls(**data, lease_token=lease_token)


class WebhookOutbox(Protocol):
    async def lease_due(self, limit: int, lease_seconds: float) -> list[Delivery]:
        """Up to `limit` pending deliveries that are due, each leased for `lease_seconds`."""

    async def record_attempt(self, leased: Delivery, updated: Delivery, retry_in: float) -> bool:
        """Store `updated` (`leased.after(...)`) if the lease is still `leased`'s; a pending
        delivery comes due again in `retry_in` seconds."""

    async def list_deliveries(
        self, *, video_id: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        """Newest first, all or one video's."""

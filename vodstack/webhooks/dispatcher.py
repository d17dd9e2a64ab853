"""Sending webhook deliveries from the outbox: lease, POST, record, repeat.

Several dispatchers (every serve, ingest and worker process) share one outbox; a lease
keeps two from sending one delivery at the same time, and its length outlasts the send's
timeout. Delivery is at least once: a dispatcher that dies mid-send lets its lease lapse
and another sends again (receivers de-duplicate by the event id). Nothing here ever waits
on the transcoder: the worker only writes outbox rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

import aiohttp

from vodstack import __version__
from vodstack.catalog.outbox import Attempt, Delivery, DeliveryState, WebhookOutbox
from vodstack.errors import QueueUnavailable
from vodstack.settings import Settings
from vodstack.webhooks import signature
from vodstack.webhooks.policy import RetryPolicy, after_attempt

log = logging.getLogger(__name__)

BATCH = 16
IDLE_POLL = 1.0
LEASE_MARGIN = 30.0
MAX_RESPONSE_READ = 64 * 1024
USER_AGENT = f"vodstack-webhooks/{__version__}"
BACKEND_DOWN_BACKOFF = (1.0, 30.0)


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        outbox: WebhookOutbox,
        *,
        rng: random.Random | None = None,
        idle_poll: float = IDLE_POLL,
    ) -> None:
        if not settings.webhook_secret:
            raise ValueError("webhooks need a webhook_secret")
        self.secret = settings.webhook_secret
        self.outbox = outbox
        self.timeout = settings.webhook_timeout
        self.policy = RetryPolicy(
            base_delay=settings.webhook_retry_base_delay,
            max_delay=settings.webhook_retry_max_delay,
            retry_for=settings.webhook_retry_for,
        )
        self._rng = rng or random.Random()
        self._idle_poll = idle_poll
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._stopping.clear()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"User-Agent": USER_AGENT},
        )
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        """Stop leasing; sends in flight finish (within their timeout) and are recorded."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _run(self) -> None:
        backoff = BACKEND_DOWN_BACKOFF[0]
        while not self._stopping.is_set():
            try:
                leased = await self.outbox.lease_due(BATCH, self.timeout + LEASE_MARGIN)
            except QueueUnavailable as exc:
                log.warning("cannot read the webhook outbox (retrying in %.0fs): %s", backoff, exc)
                await self._pause(backoff)
                backoff = min(backoff * 2, BACKEND_DOWN_BACKOFF[1])
                continue
            backoff = BACKEND_DOWN_BACKOFF[0]
            if not leased:
                await self._pause(self._idle_poll)
                continue
            await asyncio.gather(*(self.deliver(delivery) for delivery in leased))

    async def deliver(self, leased: Delivery) -> Delivery:
        """One attempt at one delivery, recorded in the outbox; returns what was recorded."""
        attempt = await self._post(leased)
        updated, delay = after_attempt(leased, attempt, self.policy, self._rng)
        try:
            recorded = await self.outbox.record_attempt(leased, updated, delay)
        except QueueUnavailable as exc:  # the lease lapses and the delivery is sent again
            log.warning("could not record webhook delivery %s: %s", leased.id, exc)
            return updated
        level = logging.INFO if updated.state is DeliveryState.DELIVERED else logging.WARNING
        log.log(
            level,
            "webhook %s %s to %s: %s (attempt %d)%s%s",
            leased.event_type,
            leased.event_id,
            leased.url,
            attempt.status if attempt.status is not None else attempt.error,
            updated.attempts,
            f", next in {delay:.1f}s" if updated.state is DeliveryState.PENDING else "",
            "" if recorded else " (lease lost: not recorded)",
            extra={"video_id": leased.video_id, "event_id": leased.event_id},
        )
        return updated

    async def _post(self, delivery: Delivery) -> Attempt:
        assert self._session is not None
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "Vodstack-Event-Id": delivery.event_id,
            "Vodstack-Event-Type": delivery.event_type,
            "Vodstack-Delivery-Id": delivery.id,
            signature.HEADER: signature.header_value(self.secret, body),
        }
        started = time.time()
        clock = time.monotonic()
        try:
            async with self._session.post(
                delivery.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await response.content.read(MAX_RESPONSE_READ)
                status: int | None = response.status
                error = None if 200 <= response.status < 300 else f"HTTP {response.status}"
        except TimeoutError:
            status, error = None, f"no answer within {self.timeout:g}s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"[:300]
        return Attempt(at=started, duration=round(time.monotonic() - clock, 3), status=status,
                       error=error)

"""Object-store metrics: latency and failures of each operation, bytes stored."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from vodstack.errors import StoreUnavailable
from vodstack.metrics.loop import LoopCounter, LoopHistogram
from vodstack.store.base import ObjectNotFound, ObjectTooLarge

STORE_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    120.0,
)


def failure_kind(exc: BaseException) -> str | None:
    """How an operation failed, as a label value; None when the exception is an answer
    (no such object, upload over its limit) or a cancellation, not a store failure."""
    if isinstance(exc, ObjectNotFound | ObjectTooLarge | asyncio.CancelledError):
        return None
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, StoreUnavailable):
        return "unavailable"
    if isinstance(exc, OSError):
        return "os_error"
    if isinstance(exc, Exception):
        return "other"
    return None


class StoreMetrics:
    """The origin makes store calls for every request: plain numbers, as for HTTP."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = LoopHistogram(
            "vodstack_store_operation_duration_seconds",
            "Object-store calls by operation (for open: until the first byte can be read).",
            ("operation",),
            buckets=STORE_BUCKETS,
            registry=registry,
        )
        self.errors = LoopCounter(
            "vodstack_store_operation_errors_total",
            "Object-store calls that failed, by operation and kind "
            "(timeout, unavailable, os_error, other; a missing object is not a failure).",
            ("operation", "kind"),
            registry,
        )
        self.written = LoopCounter(
            "vodstack_store_written_bytes_total", "Bytes of objects stored.", (), registry
        )
        self.written.show(())

    def observe(self, operation: str, seconds: float, failure: BaseException | None) -> None:
        self.duration.observe((operation,), seconds)
        if failure is not None:
            kind = failure_kind(failure)
            if kind is not None:
                self.errors.inc((operation, kind))

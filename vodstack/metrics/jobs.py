"""Transcode job metrics, and the queue depth read from the queue at scrape time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from vodstack.errors import QueueUnavailable
from vodstack.queue import JobQueue

JOB_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0,
               3600.0, 7200.0)
WAIT_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
                7200.0, 21600.0)
SPEED_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
QUEUE_PROBE_TIMEOUT = 2.0
"""Longest a scrape waits for the queue's depth; past it the depth is left out."""

OUTCOMES = ("succeeded", "failed", "retried", "abandoned")


class JobMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.started = Counter(
            "vodstack_jobs_started_total", "Transcode attempts started.", registry=registry
        )
        self.finished = Counter(
            "vodstack_jobs_finished_total",
            "Transcode attempts ended, by outcome: succeeded; failed (for good: not a video, "
            "or out of attempts); retried (given back for a later attempt); abandoned (lease "
            "lost, video deleted or worker stopping).",
            ("outcome",),
            registry=registry,
        )
        self.duration = Histogram(
            "vodstack_job_duration_seconds",
            "Wall time of one transcode attempt, by outcome.",
            ("outcome",),
            buckets=JOB_BUCKETS,
            registry=registry,
        )
        self.running = Gauge(
            "vodstack_jobs_running", "Transcode attempts running now.", registry=registry
        )
        self.ffmpeg_speed = Histogram(
            "vodstack_ffmpeg_speed_ratio",
            "Seconds of video encoded per second of ffmpeg wall time (x realtime), all "
            "renditions at once.",
            buckets=SPEED_BUCKETS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            "vodstack_job_queue_wait_seconds",
            "From the upload's creation to the start of its first transcode attempt.",
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.upload_to_ready = Histogram(
            "vodstack_upload_to_ready_seconds",
            "From the upload's creation (created_at) to the video being ready (ready_at).",
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        for outcome in OUTCOMES:  # every outcome shows (as 0) from the first scrape
            self.finished.labels(outcome)

    def finish(self, outcome: str, seconds: float | None) -> None:
        self.finished.labels(outcome).inc()
        if seconds is not None:
            self.duration.labels(outcome).observe(seconds)


class QueueDepthCollector:
    """`vodstack_queue_depth` asked of the queue at each scrape (bounded by a timeout), and
    `vodstack_queue_reachable` saying whether it answered."""

    def __init__(self, queue: JobQueue, timeout: float = QUEUE_PROBE_TIMEOUT) -> None:
        self.queue = queue
        self.timeout = timeout
        self._depth: int | None = None

    async def refresh(self) -> None:
        self._depth = None
        with contextlib.suppress(TimeoutError, QueueUnavailable, OSError):
            self._depth = await asyncio.wait_for(self.queue.depth(), self.timeout)

    def describe(self) -> Iterable[Metric]:
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        return self._families(self._depth)

    @staticmethod
    def _families(depth: int | None) -> list[Metric]:
        reachable = GaugeMetricFamily(
            "vodstack_queue_reachable",
            "1 when the job queue answered the last scrape's depth query in time, else 0.",
        )
        families: list[Metric] = [reachable]
        reachable.add_metric([], 0.0 if depth is None else 1.0)
        queue_depth = GaugeMetricFamily(
            "vodstack_queue_depth", "Jobs waiting to run (queued or waiting for a retry)."
        )
        if depth is not None:
            queue_depth.add_metric([], float(depth))
        families.append(queue_depth)
        return families

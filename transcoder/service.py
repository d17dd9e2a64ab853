"""Running a worker inside an aiohttp application (embedded `serve`, `vodstack worker`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from edge_cache.fleet import EDGE_FLEET
from transcoder.worker import Worker
from vodstack.metrics import METRICS
from vodstack.metrics.jobs import JobMetrics
from vodstack.web import BACKENDS, ON_VIDEO_CHANGED, SETTINGS

WORKER: web.AppKey[Worker] = web.AppKey("worker", Worker)


def attach_worker(app: web.Application) -> Worker:
    """Run a Worker while `app` runs, on the app's settings and backends.

    Added after the backends' cleanup context, so it starts once they are open and stops
    (stop leasing, finish or release the job in progress) before they close. Stopping
    begins at the app's shutdown signal, so the worker takes no new job while the HTTP
    server drains its requests, and the grace period runs alongside that drain. Published
    videos are warmed on the app's edge fleet, if it has one (`attach_edge_fleet` first).
    """
    settings = app[SETTINGS]
    metrics = app.get(METRICS)
    job_metrics = metrics.group(JobMetrics) if metrics is not None else None
    if metrics is not None:
        metrics.disk.watch("scratch", settings.scratch_path)
    worker = Worker(
        settings, app[BACKENDS], edges=app.get(EDGE_FLEET), metrics=job_metrics,
        on_changed=app.setdefault(ON_VIDEO_CHANGED, []),
    )  # fmt: skip
    app[WORKER] = worker

    async def begin_stop(app: web.Application) -> None:
        worker.begin_stop()

    app.on_shutdown.append(begin_stop)

    async def worker_ctx(app: web.Application) -> AsyncIterator[None]:
        await worker.start()
        try:
            yield
        finally:
            await worker.stop()

    app.cleanup_ctx.append(worker_ctx)
    return worker

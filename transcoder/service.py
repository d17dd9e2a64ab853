"""Running a worker inside an aiohttp application (embedded `serve`, `vodstack worker`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from transcoder.worker import Worker
from vodstack.metrics import METRICS
from vodstack.metrics.jobs import JobMetrics
from vodstack.web import BACKENDS, SETTINGS

WORKER: web.AppKey[Worker] = web.AppKey("worker", Worker)


def attach_worker(app: web.Application) -> Worker:
    """Run a Worker while `app` runs, on the app's settings and backends.

    Added after the backends' cleanup context, so it starts once they are open and stops
    (stop leasing, kill ffmpeg, release the job in progress) before they close.
    """
    settings = app[SETTINGS]
    metrics = app.get(METRICS)
    job_metrics = metrics.group(JobMetrics) if metrics is not None else None
    if metrics is not None:
        metrics.disk.watch("scratch", settings.scratch_path)
    worker = Worker(settings, app[BACKENDS], metrics=job_metrics)
    app[WORKER] = worker

    async def worker_ctx(app: web.Application) -> AsyncIterator[None]:
        await worker.start()
        try:
            yield
        finally:
            await worker.stop()

    app.cleanup_ctx.append(worker_ctx)
    return worker

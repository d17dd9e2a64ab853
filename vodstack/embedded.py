"""The one-process stack behind `vodstack serve`: upload API, origin and worker together."""

from __future__ import annotations

from aiohttp import web

import ingest.app
import origin.app
import transcoder.service
from vodstack.backends import Backends
from vodstack.metrics import Metrics
from vodstack.settings import Settings
from vodstack.web import base_app


def build_embedded_app(settings: Settings, metrics: Metrics | None = None) -> web.Application:
    """`metrics`: a registry to share with other apps of the process (default: its own)."""
    backends = Backends.from_settings(settings)
    app = base_app(settings, backends, metrics=metrics)
    ingest.app.add_routes(app)
    origin.app.add_routes(app)
    if settings.worker_concurrency > 0:
        transcoder.service.attach_worker(app)
    return app

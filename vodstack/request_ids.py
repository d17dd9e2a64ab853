"""Request ids: which `X-Request-Id` to trust, and the id of the work in progress.

A request id follows one piece of work across services: the edge forwards it to the
origin, ingest stores it in the job payload, the worker logs it on every line of that job.
A caller's id is kept when it is short and plain (it ends up in log lines and headers), so
a hostile value can neither bloat nor forge log lines; anything else is replaced.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextvars import ContextVar

HEADER = "X-Request-Id"
MAX_LENGTH = 128
_SANE = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_LENGTH}}}")

current_request_id: ContextVar[str | None] = ContextVar("vodstack_request_id", default=None)
"""The id of the request or job this task works for (asyncio tasks inherit it)."""


def accepted(value: str | None) -> str | None:
    """The caller's id when it is 1-128 characters of `A-Z a-z 0-9 . _ : -`, else None."""
    if value and _SANE.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    """128 random bits as 32 hex digits (what a UUID4's hex form looks like, cheaper)."""
    return os.urandom(16).hex()


def request_id_from(value: str | None) -> str:
    """The caller's id when it is sane, else a fresh one."""
    return accepted(value) or new_request_id()


@contextlib.contextmanager
def bound(request_id: str | None) -> Iterator[None]:
    """Within the block (and tasks created in it), log lines carry `request_id`."""
    token = current_request_id.set(request_id)
    try:
        yield
    finally:
        current_request_id.reset(token)

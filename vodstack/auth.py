"""API keys on the HTTP API: who may do what, and the middleware that checks it.

    reads   GET/HEAD under /v1/ (list, status)      public, or key-only (`api_reads`)
    writes  any other method, and all of /v1/uploads  a key (when `require_api_key`)
    admin   /v1/webhooks/...                          a key (when `require_api_key`)
    open    everything else read-only (media, pages, health) and CORS preflights

Anything not known to be a read is a write, so a route added later is protected by
default. Without a key: 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3); with an
unknown, revoked or malformed one: 403.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from enum import Enum

from aiohttp import web

from vodstack import api_keys
from vodstack.catalog.apikeys import ApiKeyRecord, ApiKeyStore
from vodstack.errors import ApiError, ErrorCode, QueueUnavailable
from vodstack.settings import Settings
from vodstack.web import BACKENDS, SETTINGS, Handler

log = logging.getLogger(__name__)

API_KEY: web.RequestKey[ApiKeyRecord] = web.RequestKey("api_key", ApiKeyRecord)
REALM = "vodstack"
_SAFE = frozenset({"GET", "HEAD"})


class Access(Enum):
    OPEN = "open"
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


def access_for(method: str, path: str) -> Access:
    if method == "OPTIONS":
        return Access.OPEN  # a CORS preflight can never carry Authorization
    if method not in _SAFE:
        return Access.WRITE
    if path.startswith("/v1/webhooks"):
        return Access.ADMIN
    if path == "/v1/uploads" or path.startswith("/v1/uploads/"):
        return Access.WRITE
    if path.startswith("/v1/"):
        return Access.READ
    return Access.OPEN


def key_required(access: Access, settings: Settings) -> bool:
    if not settings.require_api_key or access is Access.OPEN:
        return False
    if access is Access.READ:
        return settings.api_reads == "key"
    return True


def missing_key() -> ApiError:
    return ApiError(
        ErrorCode.UNAUTHORIZED,
        "This needs an API key: send Authorization: Bearer <key> "
        "(create one with `vodstack keys create`).",
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
    )


def invalid_key() -> ApiError:
    return ApiError(
        ErrorCode.INVALID_API_KEY,
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'},
    )


async def authenticate(store: ApiKeyStore, authorization: str | None) -> ApiKeyRecord:
    """The active key record for an Authorization header; ApiError (401/403) otherwise."""
    token = api_keys.bearer_token(authorization)
    if token is None:
        raise missing_key()
    key_id = api_keys.key_id_of(token)
    record = await store.get_key(key_id) if key_id is not None else None
    if record is None or not api_keys.matches(token, record) or not record.active:
        raise invalid_key()
    return record


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if key_required(access_for(request.method, request.path), settings):
        catalog = request.app[BACKENDS].catalog
        request[API_KEY] = await authenticate(
            catalog.api_keys, request.headers.get("Authorization")
        )
    return await handler(request)


async def refusal(request: web.Request) -> ApiError | None:
    """The 401/403 this request gets, None if it may go on (for `Expect: 100-continue`
    handlers, which run before middlewares: a refused body is then never sent)."""
    try:
        if key_required(access_for(request.method, request.path), request.app[SETTINGS]):
            await authenticate(
                request.app[BACKENDS].catalog.api_keys, request.headers.get("Authorization")
            )
    except ApiError as exc:
        return exc
    return None


async def warn_without_keys(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: say at start-up when keys are required but none can be used yet."""
    if app[SETTINGS].require_api_key:
        try:
            keys = await app[BACKENDS].catalog.api_keys.list_keys()
        except QueueUnavailable as exc:
            log.warning("could not list API keys at start-up: %s", exc)
        else:
            if not any(key.active for key in keys):
                log.warning(
                    "API keys are required but none exists yet: every upload will be refused "
                    "until one is made with `vodstack keys create`"
                )
    yield

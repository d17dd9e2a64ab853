"""Turning S3 client failures into the store contract's two errors, with readable messages.

Missing object → ObjectNotFound. Anything that means "the store did not do it"
(refused connection, timeout, 5xx, throttling, bad credentials, missing bucket) →
StoreUnavailable, whose message says what to check.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import aiohttp
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from vodstack.errors import StoreUnavailable
from vodstack.store.base import ObjectNotFound

NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
CREDENTIAL_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and error_code(exc) in NOT_FOUND_CODES


def unavailable_message(what: str, where: str, exc: BaseException, timeout: float) -> str:
    """One line a person can act on."""
    if isinstance(exc, TimeoutError):
        return f"S3 {what}: no answer from {where} within {timeout:g}s"
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return (
            f"S3 {what}: no credentials for {where}; set VODSTACK_S3_ACCESS_KEY_ID and "
            "VODSTACK_S3_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code == "NoSuchBucket":
            return f"S3 {what}: the bucket of {where} does not exist"
        if code in CREDENTIAL_CODES:
            return f"S3 {what}: {where} refused the credentials ({code}); check the access keys"
        return f"S3 {what}: {where} answered {http_status(exc) or ''} {code}".rstrip()
    return f"S3 {what}: cannot reach {where}: {exc}"


@contextlib.contextmanager
def translated(what: str, where: str, timeout: float, key: str | None = None) -> Iterator[None]:
    """Map client exceptions raised inside the block to ObjectNotFound / StoreUnavailable."""
    try:
        yield
    except ClientError as exc:
        if key is not None and is_not_found(exc):
            raise ObjectNotFound(key) from None
        raise StoreUnavailable(unavailable_message(what, where, exc, timeout)) from exc
    except ParamValidationError:
        raise
    except (TimeoutError, BotoCoreError, aiohttp.ClientError, OSError) as exc:
        raise StoreUnavailable(unavailable_message(what, where, exc, timeout)) from exc

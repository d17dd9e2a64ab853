"""How S3 client failures are reported: pure translation, no server."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
)

from vodstack.errors import StoreUnavailable
from vodstack.store.base import ObjectNotFound
from vodstack.store.s3_errors import translated

WHERE = "s3://media/ at http://minio:9000"


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "…"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


def raised_by(exc: BaseException, key: str | None = "videos/a/master.m3u8") -> BaseException:
    with pytest.raises(Exception) as caught, translated("get", WHERE, 10.0, key):
        raise exc
    return caught.value


@pytest.mark.parametrize(("code", "status"), [("NoSuchKey", 404), ("404", 404)])
def test_missing_object_is_object_not_found(code: str, status: int) -> None:
    error = raised_by(client_error(code, status))
    assert isinstance(error, ObjectNotFound)
    assert str(error) == "no object 'videos/a/master.m3u8'"


def test_a_404_without_a_key_is_not_an_object_error() -> None:
    assert isinstance(raised_by(client_error("404", 404), key=None), StoreUnavailable)


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (client_error("ServiceUnavailable", 503), "answered 503 ServiceUnavailable"),
        (client_error("SlowDown", 503), "answered 503 SlowDown"),
        (client_error("InternalError", 500), "answered 500 InternalError"),
        (client_error("NoSuchBucket", 404), "the bucket of s3://media/ at http://minio:9000 does"),
        (client_error("SignatureDoesNotMatch", 403), "refused the credentials"),
        (client_error("InvalidAccessKeyId", 403), "refused the credentials"),
        (EndpointConnectionError(endpoint_url="http://minio:9000"), "cannot reach"),
        (TimeoutError(), "no answer from s3://media/ at http://minio:9000 within 10s"),
        (ConnectionResetError("reset by peer"), "cannot reach"),
        (NoCredentialsError(), "VODSTACK_S3_ACCESS_KEY_ID"),
    ],
)
def test_unavailability_is_explained(exc: BaseException, message: str) -> None:
    error = raised_by(exc)
    assert isinstance(error, StoreUnavailable)
    assert message in str(error)
    assert str(error).startswith("S3 get: ")


def test_programming_errors_are_not_disguised() -> None:
    assert isinstance(raised_by(ParamValidationError(report="bad")), ParamValidationError)

"""Settings of the distributed backends."""

from __future__ import annotations

import pytest

from vodstack.settings import SettingsError, load_settings


def test_s3_and_redis_settings_from_the_environment() -> None:
    settings = load_settings(
        {
            "VODSTACK_STORE": "s3://media?endpoint=http://minio:9000",
            "VODSTACK_QUEUE": "redis://redis:6379/0",
            "VODSTACK_S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "VODSTACK_S3_SECRET_ACCESS_KEY": "very-secret",
            "VODSTACK_S3_REGION": "eu-central-1",
            "VODSTACK_S3_MAX_CONNECTIONS": "64",
            "VODSTACK_REDIS_TIMEOUT": "2s",
        }
    )
    assert settings.s3_access_key_id == "AKIAEXAMPLE"
    assert settings.s3_secret_access_key == "very-secret"
    assert (settings.s3_region, settings.s3_max_connections) == ("eu-central-1", 64)
    assert settings.redis_timeout == 2.0


def test_the_secret_key_never_appears_in_the_settings_repr() -> None:
    settings = load_settings({"VODSTACK_S3_SECRET_ACCESS_KEY": "very-secret"})
    assert "very-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"), [("VODSTACK_S3_MAX_CONNECTIONS", "0"), ("VODSTACK_REDIS_TIMEOUT", "0")]
)
def test_invalid_values_are_reported(name: str, value: str) -> None:
    with pytest.raises(SettingsError):
        load_settings({name: value})

"""Settings from the environment and flags: parsing, validation, one name per setting."""

from pathlib import Path

import pytest

from vodstack.settings import (
    SettingsError,
    env_names,
    load_settings,
    parse_duration,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1048576", 1048576), ("10GiB", 10 * 1024**3), ("500MB", 500_000_000), ("2g", 2_000_000_000),
     ("1.5KiB", 1536)],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "ten", "10 parsecs", "-5", "1e9"])
def test_parse_size_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"), [("30", 30.0), ("250ms", 0.25), ("5m", 300.0), ("1h", 3600.0)]
)
def test_parse_duration(text: str, expected: float) -> None:
    assert parse_duration(text) == expected


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = load_settings(environ={"VODSTACK_DATA_DIR": str(tmp_path)})
    assert settings.store_url == f"file://{tmp_path.resolve() / 'store'}"
    assert settings.queue_url == f"sqlite://{tmp_path.resolve() / 'vodstack.db'}"
    assert settings.max_upload_size == 10 * 1024**3
    assert settings.worker_concurrency == 1


def test_flags_override_environment() -> None:
    settings = load_settings(environ={"VODSTACK_PORT": "9000"}, overrides={"port": "9001"})
    assert settings.port == 9001


def test_errors_name_the_setting() -> None:
    with pytest.raises(SettingsError, match="VODSTACK_MAX_UPLOAD_SIZE / --max-upload-size"):
        load_settings(environ={"VODSTACK_MAX_UPLOAD_SIZE": "lots"})


def test_choices_are_enforced() -> None:
    with pytest.raises(SettingsError, match=r"SEGMENT_FORMAT"):
        load_settings(environ={"VODSTACK_SEGMENT_FORMAT": "webm"})


def test_validation_lists_every_problem() -> None:
    with pytest.raises(SettingsError) as excinfo:
        load_settings(environ={"VODSTACK_TOP_RUNG": "4320", "VODSTACK_PORT": "70000"})
    assert "top_rung" in str(excinfo.value) and "port" in str(excinfo.value)


def test_unknown_backend_scheme_is_rejected() -> None:
    with pytest.raises(SettingsError, match="store must be"):
        load_settings(environ={"VODSTACK_STORE": "ftp://example"})


def test_every_setting_has_a_prefixed_env_name() -> None:
    names = env_names()
    assert "VODSTACK_DATA_DIR" in names and "VODSTACK_QUEUE" in names
    assert all(name.startswith("VODSTACK_") and name.isupper() for name in names)

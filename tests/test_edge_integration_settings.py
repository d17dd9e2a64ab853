"""Settings of the edge integration: `edges`, `warm_segments`, serve's own defaults."""

from __future__ import annotations

import pytest

from vodstack.cli import build_parser, main
from vodstack.commands.common import settings_from_args
from vodstack.commands.serve import SERVE_DEFAULTS
from vodstack.settings import SettingsError, load_settings

MiB = 1024**2


def test_edges_need_the_purge_token_and_http_urls() -> None:
    with pytest.raises(SettingsError, match="purge_token"):
        load_settings({}, {"edges": "http://edge1:8080,http://edge2:8080"})
    with pytest.raises(SettingsError, match="edges must be http"):
        load_settings({}, {"edges": "edge1:8080", "purge_token": "t"})
    settings = load_settings(
        {"VODSTACK_EDGES": "http://edge1:8080 http://edge2:8080", "VODSTACK_PURGE_TOKEN": "t"}
    )
    assert settings.edges == ("http://edge1:8080", "http://edge2:8080")
    assert settings.warm_segments == 2
    with pytest.raises(SettingsError, match="warm_segments"):
        load_settings({}, {"warm_segments": "-1"})


def test_serve_keeps_a_smaller_cache_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VODSTACK_CACHE_SIZE", raising=False)
    parser = build_parser()
    serve = settings_from_args(parser.parse_args(["serve"]), defaults=SERVE_DEFAULTS)
    assert serve.cache_size == 512 * MiB
    edge = settings_from_args(parser.parse_args(["edge", "--upstream", "http://o:1"]))
    assert edge.cache_size == 1024 * MiB
    flagged = settings_from_args(
        parser.parse_args(["serve", "--cache-size", "2GiB"]), defaults=SERVE_DEFAULTS
    )
    assert flagged.cache_size == 2048 * MiB
    monkeypatch.setenv("VODSTACK_CACHE_SIZE", "64MiB")
    from_env = settings_from_args(parser.parse_args(["serve"]), defaults=SERVE_DEFAULTS)
    assert from_env.cache_size == 64 * MiB


def test_serve_help_shows_its_own_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "default: 512MiB" in " ".join(capsys.readouterr().out.split())


def test_serve_refuses_an_upstream(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--upstream", "http://origin:8080"]) == 2
    assert "vodstack edge --upstream" in capsys.readouterr().err


def test_compose_points_the_api_and_workers_at_its_edge() -> None:
    from tests.support.compose import load_compose
    from tests.support.processes import REPO_ROOT

    secrets = {"MINIO_ROOT_PASSWORD": "compose-secret", "VODSTACK_PURGE_TOKEN": "purge-secret"}
    compose = load_compose(REPO_ROOT / "compose.yaml", secrets)
    edge = compose.services["edge"]
    assert edge.environment["VODSTACK_PURGE_TOKEN"] == "purge-secret"
    for name in ("ingest", "worker"):
        env = compose.services[name].environment
        assert env["VODSTACK_EDGES"] == "http://edge:8080"  # the edge's in-network address
        assert env["VODSTACK_PURGE_TOKEN"] == "purge-secret"
        settings = load_settings(env)
        assert settings.edges == ("http://edge:8080",) and settings.purge_token

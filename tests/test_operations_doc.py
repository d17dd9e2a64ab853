"""docs/OPERATIONS.md and the Prometheus files name exactly the metrics the code exports."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from edge_cache.app import create_app as create_edge_app
from vodstack.embedded import build_embedded_app
from vodstack.metrics import Metrics
from vodstack.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"
PROMETHEUS = ROOT / "deploy" / "prometheus"
NAME = re.compile(r"\bvodstack_[a-z_]+[a-z]")
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_info")


def exported_families(tmp_path: Path) -> dict[str, str]:
    """Family name → type, from every part a vodstack process can run (serve + an edge)."""
    metrics = Metrics()
    settings = Settings(data_dir=tmp_path, upstream=("http://127.0.0.1:9",))
    build_embedded_app(settings, metrics=metrics)
    create_edge_app(settings, metrics=metrics)
    body, _ = asyncio.run(metrics.render())
    return {
        family.name: family.type
        for family in text_string_to_metric_families(body.decode())
        if family.name.startswith("vodstack_")
    }


def family_of(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_every_exported_metric_is_documented(tmp_path: Path) -> None:
    documented = set(NAME.findall(OPERATIONS.read_text()))
    missing = []
    for family, kind in exported_families(tmp_path).items():
        shown = f"{family}_total" if kind == "counter" else family
        if kind == "info":
            shown = f"{family}_info"
        if shown not in documented:
            missing.append(shown)
    assert missing == []


def test_docs_and_alerts_name_only_exported_metrics(tmp_path: Path) -> None:
    families = exported_families(tmp_path)
    texts = [OPERATIONS.read_text(), (PROMETHEUS / "alerts.yml").read_text()]
    unknown = {
        name for text in texts for name in NAME.findall(text)
        if name not in families and family_of(name) not in families
    }
    assert unknown == set()


def test_alert_rules_and_scrape_config_are_well_formed() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    names = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert {"alert", "expr", "annotations"} <= set(rule), rule
            assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
            names.append(rule["alert"])
    assert len(names) == len(set(names)) >= 15
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"ingest", "worker", "origin", "edge"} <= jobs
    documented = OPERATIONS.read_text()
    for name in names:
        assert name.removeprefix("Vodstack").lower() in documented.replace(" ", "").lower(), name


def test_prometheus_scrapes_every_compose_service_where_it_listens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.support.compose import (
        dockerfile_env,
        dockerfile_instructions,
        dockerfile_stages,
        load_compose,
    )
    from tests.test_compose import SECRETS, service_settings

    compose = load_compose(ROOT / "compose.yaml", SECRETS)
    image_env = dockerfile_env(
        dockerfile_stages(dockerfile_instructions(ROOT / "Dockerfile"))[-1].instructions
    )
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    scraped: dict[str, int] = {}
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", ()):
            for name in sd["names"]:
                scraped[name] = sd["port"]
    services = {name for name, s in compose.services.items() if s.builds_here}
    assert set(scraped) == services
    for name in services:
        settings = service_settings(compose.services[name], image_env, monkeypatch)
        assert scraped[name] == settings.port, name

    prometheus = compose.services["prometheus"]
    assert prometheus.raw["profiles"] == ["monitoring"]
    mounts = dict(v.split(":")[:2] for v in prometheus.raw["volumes"])
    assert mounts["./deploy/prometheus"] == "/etc/prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus.command

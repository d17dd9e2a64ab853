"""Scraping `/metrics` and reading it with prometheus_client's own parser."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


@dataclass
class Scrape:
    samples: list[Sample]
    families: dict[str, str]
    """Family name → type (counter, gauge, histogram, ...)."""

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples: list[Sample] = []
        families: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            families[family.name] = family.type
            samples.extend(family.samples)
        return cls(samples, families)

    def matching(self, name: str, **labels: str) -> list[Sample]:
        return [
            s for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum over every series of `name` whose labels include `labels` (0 if none)."""
        return sum(s.value for s in self.matching(name, **labels))

    def label_values(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if s.name == name and label in s.labels}

    def series(self, name: str) -> list[Mapping[str, str]]:
        return [s.labels for s in self.samples if s.name == name]


async def scrape(base_url: str, session: aiohttp.ClientSession | None = None) -> Scrape:
    own = session is None
    http = session or aiohttp.ClientSession()
    try:
        async with http.get(base_url.rstrip("/") + "/metrics") as response:
            assert response.status == 200, await response.text()
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            return Scrape.parse(await response.text())
    finally:
        if own:
            await http.close()


def scrape_sync(base_url: str, timeout: float = 10.0) -> Scrape:
    import urllib.request

    with urllib.request.urlopen(base_url.rstrip("/") + "/metrics", timeout=timeout) as response:
        return Scrape.parse(response.read().decode())

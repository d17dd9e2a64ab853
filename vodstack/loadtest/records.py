"""What the players measured, aggregated as they go (pure)."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

from vodstack.loadtest.histogram import Histogram

MAX_PROBLEMS = 20


class ObjectKind(enum.StrEnum):
    MASTER = "master"
    MEDIA = "media"
    INIT = "init"
    SEGMENT = "segment"


@dataclass(frozen=True)
class Fetched:
    """One request as a player saw it."""

    kind: ObjectKind
    status: int | None
    """HTTP status, or None when no answer came (connection error, timeout)."""
    size: int
    """Body bytes received."""
    first_byte: float
    """Seconds from sending the request to the response headers."""
    seconds: float
    """Seconds from sending the request to the last body byte (or the failure)."""
    cache: str | None = None
    """The response's `X-Cache` (HIT, MISS, STALE, ...), first word, upper case."""
    error: str | None = None
    """Why the request failed without an answer (`timeout`, `connection`, ...)."""

    @property
    def failed(self) -> bool:
        return self.status is None or self.status >= 400


@dataclass
class KindStats:
    requests: int = 0
    errors: int = 0
    size: int = 0
    first_byte: Histogram = field(default_factory=Histogram)
    seconds: Histogram = field(default_factory=Histogram)


@dataclass
class SessionOutcome:
    """One viewing session of one player (from the master request until it stopped)."""

    startup: float | None
    """Seconds to the first frame, or None when playback never started."""
    stalls: int
    stall_seconds: float
    switches_up: int
    switches_down: int
    segments: int
    completed: bool
    """Played to the end (rather than stopped by the deadline or by errors)."""
    failed: bool = False
    """Abandoned after errors."""


@dataclass
class Recorder:
    """Everything the report needs, in bounded memory whatever the number of requests."""

    kinds: dict[ObjectKind, KindStats] = field(
        default_factory=lambda: {kind: KindStats() for kind in ObjectKind}
    )
    statuses: Counter[str] = field(default_factory=Counter)
    """Status codes (as text), and failure reasons for requests without an answer."""
    cache: Counter[str] = field(default_factory=Counter)
    rungs: Counter[int] = field(default_factory=Counter)
    """Segments fetched per rendition BANDWIDTH."""
    sessions: int = 0
    sessions_started: int = 0
    sessions_completed: int = 0
    sessions_failed: int = 0
    startup: Histogram = field(default_factory=Histogram)
    switches_up: int = 0
    switches_down: int = 0
    problems: Counter[str] = field(default_factory=Counter)
    """Why sessions failed other than by HTTP status (unusable playlists), a few kinds."""
    player_stalls: dict[int, int] = field(default_factory=dict)
    player_stall_seconds: dict[int, float] = field(default_factory=dict)

    def request(self, fetched: Fetched) -> None:
        stats = self.kinds[fetched.kind]
        stats.requests += 1
        stats.size += fetched.size
        if fetched.failed:
            stats.errors += 1
        if fetched.status is None:
            self.statuses[fetched.error or "error"] += 1
        else:
            self.statuses[str(fetched.status)] += 1
            stats.first_byte.add(fetched.first_byte)
            stats.seconds.add(fetched.seconds)
        if fetched.cache:
            self.cache[fetched.cache] += 1

    def problem(self, message: str) -> None:
        if message in self.problems or len(self.problems) < MAX_PROBLEMS:
            self.problems[message] += 1

    def segment(self, bandwidth: int) -> None:
        self.rungs[bandwidth] += 1

    def session(self, player: int, outcome: SessionOutcome) -> None:
        self.sessions += 1
        self.sessions_started += outcome.startup is not None
        self.sessions_completed += outcome.completed
        self.sessions_failed += outcome.failed
        if outcome.startup is not None:
            self.startup.add(outcome.startup)
        self.switches_up += outcome.switches_up
        self.switches_down += outcome.switches_down
        self.player_stalls[player] = self.player_stalls.get(player, 0) + outcome.stalls
        self.player_stall_seconds[player] = (
            self.player_stall_seconds.get(player, 0.0) + outcome.stall_seconds
        )

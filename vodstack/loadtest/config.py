"""What one load test does, validated before anything starts (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vodstack.loadtest.bandwidth import BandwidthSpec

MAX_PLAYERS = 2000
"""More players than this need `--force`: one client process is unlikely to keep up."""
MAX_DURATION = 3600.0
MAX_SPEED = 100.0
DEFAULT_BUFFER_TARGET = 30.0
"""Seconds a player buffers ahead (hls.js maxBufferLength)."""
DEFAULT_REQUEST_TIMEOUT = 20.0


class ConfigError(ValueError):
    """A load-test option is out of range; the message names it."""


@dataclass(frozen=True)
class LoadTestConfig:
    targets: tuple[str, ...]
    """Master playlist URLs, or API bases to pick ready videos from."""
    players: int = 10
    duration: float = 30.0
    speed: float = 1.0
    """Media seconds played per wall second."""
    pace: bool = True
    """False: fetch every segment back to back, with no playback pacing and no bandwidth
    limit (stalls are then not measured)."""
    bandwidth: BandwidthSpec = field(default_factory=lambda: BandwidthSpec.parse("2M-20M"))
    buffer_target: float = DEFAULT_BUFFER_TARGET
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    ramp: float = 0.0
    """Seconds over which players start (evenly spread); 0 starts them all at once."""
    seed: int | None = None
    max_videos: int = 100
    """At most this many ready videos are taken from an API listing."""
    force: bool = False
    api_key: str | None = field(default=None, repr=False)
    """Sent with the video listing when the server requires a key for reads."""

    def validate(self) -> LoadTestConfig:
        problems = []
        if not self.targets:
            problems.append("give at least one URL")
        for target in self.targets:
            if not target.startswith(("http://", "https://")):
                problems.append(f"{target!r} is not an http:// or https:// URL")
        if self.players < 1:
            problems.append("--players must be at least 1")
        elif self.players > MAX_PLAYERS and not self.force:
            problems.append(
                f"--players {self.players} is over {MAX_PLAYERS}; one client process would "
                "measure itself more than the server (run several, or add --force)"
            )
        if not 0 < self.duration <= MAX_DURATION and not (self.force and self.duration > 0):
            problems.append(f"--duration must be above 0 and at most {MAX_DURATION:g} s")
        if not 0 < self.speed <= MAX_SPEED:
            problems.append(f"--speed must be above 0 and at most {MAX_SPEED:g}")
        if self.buffer_target <= 0:
            problems.append("--buffer must be above 0 seconds")
        if self.request_timeout <= 0:
            problems.append("--timeout must be above 0 seconds")
        if not 0 <= self.ramp < self.duration:
            problems.append("--ramp must be at least 0 and shorter than --duration")
        if not 1 <= self.max_videos <= 10_000:
            problems.append("--max-videos must be from 1 to 10000")
        if problems:
            raise ConfigError("; ".join(problems))
        return self

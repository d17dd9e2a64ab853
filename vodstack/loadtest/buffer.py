"""A player's forward buffer on a simulated clock (pure).

Playback starts once `start_after` seconds of media are buffered, then consumes media at
`speed` seconds per second of wall time. When the buffer runs empty before the last
segment arrived, playback stalls until `start_after` seconds are buffered again (a
rebuffer, counted with its duration). Running out after the last segment is the end.
Times are wall-clock seconds from any monotonic clock; the model never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PlaybackBuffer:
    start_after: float
    """Seconds of media buffered before playback starts (and resumes after a stall)."""
    opened_at: float
    """When the session started (the master playlist was requested)."""
    speed: float = 1.0
    buffered_until: float = 0.0
    """Media time downloaded so far."""
    position: float = 0.0
    """Media time played so far."""
    complete: bool = False
    """Every segment has been downloaded."""
    playing: bool = False
    started_at: float | None = None
    stalls: int = 0
    stall_seconds: float = 0.0
    stalled_since: float | None = None
    ended_at: float | None = None
    _clock: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if self.start_after < 0 or self.speed <= 0:
            raise ValueError("start_after must be >= 0 and speed > 0")
        self._clock = self.opened_at

    @property
    def startup_seconds(self) -> float | None:
        """Time from opening the session to the first frame played."""
        return None if self.started_at is None else self.started_at - self.opened_at

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def advance(self, now: float) -> None:
        """Play from the last update until `now`."""
        if now < self._clock:
            raise ValueError("time went backwards")
        if self.playing:
            ahead = self.buffered_until - self.position
            elapsed = now - self._clock
            if elapsed * self.speed < ahead:
                self.position += elapsed * self.speed
            else:
                ran_out_at = self._clock + ahead / self.speed
                self.position = self.buffered_until
                self.playing = False
                if self.complete:
                    self.ended_at = ran_out_at
                else:
                    self.stalls += 1
                    self.stalled_since = ran_out_at
        self._clock = now

    def level(self, now: float) -> float:
        """Seconds of media buffered ahead of the play position at `now`."""
        self.advance(now)
        return self.buffered_until - self.position

    def append(self, now: float, duration: float, *, last: bool = False) -> None:
        """A segment of `duration` media seconds finished downloading at `now`."""
        self.advance(now)
        self.buffered_until += duration
        self.complete = self.complete or last
        if self.playing or self.ended:
            return
        if self.buffered_until - self.position + 1e-9 >= self.start_after or self.complete:
            self.playing = True
            if self.started_at is None:
                self.started_at = now
            if self.stalled_since is not None:
                self.stall_seconds += now - self.stalled_since
                self.stalled_since = None

    def seconds_until_level(self, now: float, target: float) -> float:
        """Wall seconds until the buffer drains to `target` (0 if it already has)."""
        level = self.level(now)
        if not self.playing or level <= target:
            return 0.0
        return (level - target) / self.speed

    def seconds_until_end(self, now: float) -> float:
        """Wall seconds until everything downloaded has been played."""
        return self.seconds_until_level(now, 0.0)

    def close(self, now: float) -> None:
        """The session stops at `now` (or at the last update, if later): a stall in progress
        counts up to then."""
        now = max(now, self._clock)
        self.advance(now)
        if self.stalled_since is not None:
            self.stall_seconds += now - self.stalled_since
            self.stalled_since = None

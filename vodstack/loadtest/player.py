"""One simulated HLS player: sessions of master → media playlist → init → segments."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from vodstack.loadtest.abr import BandwidthEstimator, choose_variant
from vodstack.loadtest.buffer import PlaybackBuffer
from vodstack.loadtest.clock import Deadline
from vodstack.loadtest.config import LoadTestConfig
from vodstack.loadtest.fetch import Fetcher
from vodstack.loadtest.playlists import (
    MediaPlaylist,
    PlaylistError,
    Variant,
    parse_master,
    parse_media,
)
from vodstack.loadtest.records import ObjectKind, Recorder, SessionOutcome

RETRY_DELAY = 1.0
"""Pause after a failed request before trying again (hls.js waits about as long)."""
SEGMENT_ATTEMPTS = 3
"""Tries per segment before the session is given up."""


def segment_index_at(media: MediaPlaylist, media_time: float) -> int:
    """Index of the segment that starts at (or covers) `media_time`, after a switch.

    Renditions of one video share segment boundaries, so this is usually the index the
    previous rendition had reached.
    """
    start = 0.0
    for index, segment in enumerate(media.segments):
        if media_time < start + segment.duration - 1e-6:
            return index
        start += segment.duration
    return len(media.segments)


@dataclass
class _Session:
    variants: list[Variant]
    media: dict[int, MediaPlaylist] = field(default_factory=dict)
    init_fetched: set[int] = field(default_factory=set)
    switches_up: int = 0
    switches_down: int = 0
    segments: int = 0


class Player:
    def __init__(
        self,
        index: int,
        fetcher: Fetcher,
        recorder: Recorder,
        config: LoadTestConfig,
        masters: list[str],
        deadline: Deadline,
        rng: random.Random,
    ) -> None:
        self.index = index
        self.fetcher = fetcher
        self.recorder = recorder
        self.config = config
        self.masters = masters
        self.deadline = deadline
        self.rng = rng
        self.bandwidth = config.bandwidth.draw(rng) if config.pace else None
        """This player's simulated network in bits/s (None: unlimited)."""

    @property
    def link_bps(self) -> float | None:
        """The bandwidth in wall-clock terms: playing F times faster needs F times more."""
        return None if self.bandwidth is None else self.bandwidth * self.config.speed

    def note(self, problem: str) -> None:
        self.recorder.problem(problem)

    async def run(self) -> None:
        while not self.deadline.passed:
            outcome = await self.session(self.rng.choice(self.masters))
            self.recorder.session(self.index, outcome)
            if outcome.failed:
                await self.deadline.sleep_until(self.deadline.now() + RETRY_DELAY)

    async def _playlist(self, url: str, kind: ObjectKind) -> str | None:
        fetched, body = await self.fetcher.get(url, kind, keep_body=True, link_bps=self.link_bps)
        if fetched.failed:
            return None
        return body.decode("utf-8", errors="replace")

    async def _media(self, session: _Session, index: int) -> MediaPlaylist | None:
        """The rendition's media playlist and init segment (each fetched once a session)."""
        if index not in session.media:
            if self.deadline.passed:
                return None
            variant = session.variants[index]
            text = await self._playlist(variant.uri, ObjectKind.MEDIA)
            if text is None:
                return None
            try:
                session.media[index] = parse_media(text, variant.uri)
            except PlaylistError as exc:
                self.note(str(exc))
                return None
        media = session.media[index]
        if media.init is not None and index not in session.init_fetched:
            if self.deadline.passed:
                return None
            fetched, _ = await self.fetcher.get(
                media.init.uri, ObjectKind.INIT, link_bps=self.link_bps,
                byterange=media.init.byterange,
            )  # fmt: skip
            if fetched.failed:
                return None
            session.init_fetched.add(index)
        return media

    def _failed(self, buffer: PlaybackBuffer | None, session: _Session | None) -> SessionOutcome:
        if buffer is not None:
            buffer.close(min(self.deadline.now(), self.deadline.at))
        return SessionOutcome(
            startup=buffer.startup_seconds if buffer else None,
            stalls=buffer.stalls if buffer and self.config.pace else 0,
            stall_seconds=buffer.stall_seconds if buffer and self.config.pace else 0.0,
            switches_up=session.switches_up if session else 0,
            switches_down=session.switches_down if session else 0,
            segments=session.segments if session else 0,
            completed=False,
            failed=True,
        )

    def _stopped(self, session: _Session) -> SessionOutcome:
        """The deadline came before playback could start (not a failure)."""
        return SessionOutcome(
            startup=None, stalls=0, stall_seconds=0.0, switches_up=session.switches_up,
            switches_down=session.switches_down, segments=0, completed=False,
        )  # fmt: skip

    async def session(self, master_url: str) -> SessionOutcome:
        """Play one video from its master playlist until it ends or the deadline."""
        config = self.config
        opened = self.deadline.now()
        text = await self._playlist(master_url, ObjectKind.MASTER)
        if text is None:
            return self._failed(None, None)
        try:
            variants = parse_master(text, master_url)
        except PlaylistError as exc:
            self.note(str(exc))
            return self._failed(None, None)
        session = _Session(variants)
        bandwidths = [variant.bandwidth for variant in variants]
        estimator = BandwidthEstimator()
        if self.link_bps is not None:
            estimator.default = self.link_bps

        def estimate() -> float:
            return estimator.estimate() / config.speed

        current = choose_variant(bandwidths, estimate(), None)
        media = await self._media(session, current)
        if media is None:
            return self._stopped(session) if self.deadline.passed else self._failed(None, session)
        buffer = PlaybackBuffer(
            start_after=media.segments[0].duration, opened_at=opened, speed=config.speed
        )
        index = 0
        failures = 0
        while index < len(media.segments):
            if config.pace:
                wait = buffer.seconds_until_level(self.deadline.now(), config.buffer_target)
                if wait > 0:
                    await self.deadline.sleep_until(self.deadline.now() + wait)
            if self.deadline.passed:
                break
            wanted = choose_variant(bandwidths, estimate(), current)
            if wanted != current:
                switched = await self._media(session, wanted)
                if switched is not None:
                    if wanted > current:
                        session.switches_up += 1
                    else:
                        session.switches_down += 1
                    current, media = wanted, switched
                    index = segment_index_at(media, buffer.buffered_until)
                    if index >= len(media.segments):
                        break
                if self.deadline.passed:
                    break
            segment = media.segments[index]
            fetched, _ = await self.fetcher.get(
                segment.uri, ObjectKind.SEGMENT, link_bps=self.link_bps,
                byterange=segment.byterange,
            )  # fmt: skip
            if fetched.failed:
                failures += 1
                if failures >= SEGMENT_ATTEMPTS:
                    return self._failed(buffer, session)
                await self.deadline.sleep_until(self.deadline.now() + RETRY_DELAY)
                continue
            failures = 0
            session.segments += 1
            self.recorder.segment(variants[current].bandwidth)
            estimator.sample(fetched.seconds, fetched.size)
            last = index == len(media.segments) - 1
            buffer.append(self.deadline.now(), segment.duration, last=last)
            index += 1
        downloaded = index >= len(media.segments)
        if config.pace and downloaded:
            await self.deadline.sleep_until(
                self.deadline.now() + buffer.seconds_until_end(self.deadline.now())
            )
        buffer.close(min(self.deadline.now(), self.deadline.at))
        return SessionOutcome(
            startup=buffer.startup_seconds,
            stalls=buffer.stalls if config.pace else 0,
            stall_seconds=buffer.stall_seconds if config.pace else 0.0,
            switches_up=session.switches_up,
            switches_down=session.switches_down,
            segments=session.segments,
            completed=buffer.ended if config.pace else downloaded,
        )

"""The upstream servers: one pooled client session, health checks, breakers, balancing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from yarl import URL

from edge_cache.balancer import Balancer, Target
from edge_cache.breaker import Breaker, State

log = logging.getLogger(__name__)


class UpstreamError(Exception):
    """No usable answer from any upstream."""

    def __init__(self, message: str, *, timeout: bool = False, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.retry_after = retry_after


class NoUpstreamAvailable(UpstreamError):
    """Every upstream is unhealthy or its breaker is open: fail fast."""


class UpstreamObserver(Protocol):
    """Told about every upstream request (for metrics); `upstream` is its label."""

    def upstream_answered(self, upstream: str, seconds: float) -> None:
        """A response header arrived `seconds` after the request was sent."""

    def upstream_failed(self, upstream: str, kind: str) -> None:
        """No usable answer: kind is `connect`, `timeout` or `broken`."""


class _Unobserved:
    def upstream_answered(self, upstream: str, seconds: float) -> None:
        pass

    def upstream_failed(self, upstream: str, kind: str) -> None:
        pass


def parse_upstream(text: str) -> tuple[URL, int]:
    """`http://host:port[/base]` with an optional `#weight=N`."""
    url = URL(text)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"upstream must be an http:// or https:// URL, got {text!r}")
    weight = 1
    if url.fragment:
        name, _, value = url.fragment.partition("=")
        if name != "weight" or not value.isdigit() or int(value) < 1:
            raise ValueError(f"upstream {text!r}: the only fragment allowed is #weight=N (N ≥ 1)")
        weight = int(value)
    return url.with_fragment(None), weight


@dataclass(eq=False)
class Upstream(Target):
    url: URL = field(default_factory=URL)
    breaker: Breaker = field(default_factory=lambda: Breaker(5, 10.0))
    healthy: bool = True
    requests: int = 0
    failures: int = 0
    label: str = ""
    """The URL without credentials, as shown in metrics."""

    def target(self, path_qs: str) -> URL:
        base = str(self.url).rstrip("/")
        return URL(base + path_qs, encoded=True)

    def status(self, now: float) -> dict[str, Any]:
        return {
            "url": str(self.url),
            "weight": self.weight,
            "healthy": self.healthy,
            "breaker": self.breaker.state.value,
            "active": self.active,
            "requests": self.requests,
            "failures": self.failures,
        }


@dataclass(frozen=True)
class PoolConfig:
    connect_timeout: float = 3.0
    read_timeout: float = 30.0
    breaker_threshold: int = 5
    breaker_cooldown: float = 10.0
    health_interval: float = 5.0
    health_path: str = "/healthz"
    policy: str = "least-connections"
    connections: int = 256
    unix_socket: str | None = None
    """Reach every upstream through this unix socket (the URLs then only name the Host)."""


class UpstreamPool:
    """Sends requests to the upstreams, spreading them and keeping score of their health.

    Passive checks: connection failures and timeouts count against the upstream's breaker
    (a 5xx answer or a broken response fails that request only); an open breaker takes
    the upstream out of rotation until a probe succeeds.
    Active checks: `GET health_path` every `health_interval` seconds; a server that does not
    answer (or answers 5xx) leaves rotation until it answers again.
    """

    def __init__(
        self,
        urls: list[str],
        config: PoolConfig,
        clock: Any = time.monotonic,
        observer: UpstreamObserver | None = None,
    ) -> None:
        if not urls:
            raise ValueError("at least one upstream URL is needed")
        self.config = config
        self.clock = clock
        self.observer: UpstreamObserver = observer or _Unobserved()
        self.upstreams = []
        for text in urls:
            url, weight = parse_upstream(text)
            self.upstreams.append(Upstream(
                name=str(url), weight=weight, url=url,
                breaker=Breaker(config.breaker_threshold, config.breaker_cooldown),
                label=str(url.with_user(None)),
            ))
        self.balancer = Balancer(config.policy)
        self._session: aiohttp.ClientSession | None = None
        self._health_task: asyncio.Task[None] | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the upstream pool is not started")
        return self._session

    async def start(self) -> None:
        connector: aiohttp.BaseConnector
        # Below the shortest common upstream idle timeout (Node.js closes idle
        # connections after 5 s): reusing a connection the upstream has just closed
        # fails a request that carries a body, which cannot be replayed.
        keepalive = 4.0
        if self.config.unix_socket is not None:
            connector = aiohttp.UnixConnector(
                self.config.unix_socket,
                limit=self.config.connections,
                limit_per_host=0,
                keepalive_timeout=keepalive,
            )
        else:
            connector = aiohttp.TCPConnector(
                limit=self.config.connections,
                limit_per_host=0,
                keepalive_timeout=keepalive,
                ttl_dns_cache=300,
                enable_cleanup_closed=True,
            )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
            timeout=aiohttp.ClientTimeout(
                total=None,
                sock_connect=self.config.connect_timeout,
                sock_read=self.config.read_timeout,
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )
        if self.config.health_interval > 0:
            self._health_task = asyncio.create_task(self._health_loop())

    async def close(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        if self._session is not None:
            await self._session.close()

    def any_available(self) -> bool:
        now = self.clock()
        return any(u.healthy and u.breaker.available(now) for u in self.upstreams)

    def retry_after(self) -> float:
        now = self.clock()
        waits = [u.breaker.retry_after(now) for u in self.upstreams]
        return min(waits) if waits else 0.0

    def _choose(self, exclude: set[Upstream]) -> Upstream:
        now = self.clock()
        candidates = [
            u for u in self.upstreams
            if u not in exclude and u.healthy and u.breaker.state is State.CLOSED
        ]
        while candidates:
            chosen = self.balancer.choose(candidates)
            assert isinstance(chosen, Upstream)
            if chosen.breaker.acquire(now):
                return chosen
            candidates.remove(chosen)
        # Nothing closed: let one request probe an upstream whose cooldown is over.
        for upstream in self.upstreams:
            if upstream not in exclude and upstream.breaker.acquire(now):
                return upstream
        raise NoUpstreamAvailable(
            "no upstream is available (all unhealthy or failing)",
            retry_after=max(1.0, self.retry_after()),
        )

    @contextlib.asynccontextmanager
    async def request(
        self,
        method: str,
        path_qs: str,
        headers: Mapping[str, str] | list[tuple[str, str]],
        *,
        data: Any = None,
        retry: bool = True,
        expect_continue: bool = False,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send one request; the response is released when the block ends.

        A connection that cannot be opened is retried once on another upstream (the request
        never reached the first one, so this is safe for any method). With
        `expect_continue` the body is sent only once the upstream answers 100 Continue
        (RFC 9110 §10.1.1).
        """
        tried: set[Upstream] = set()
        while True:
            upstream = self._choose(tried)
            tried.add(upstream)
            upstream.active += 1
            upstream.requests += 1
            verdict: bool | None = None
            observer = self.observer
            try:
                sent = time.perf_counter()
                try:
                    response = await self.session.request(
                        method, upstream.target(path_qs), headers=headers, data=data,
                        allow_redirects=False, expect100=expect_continue,
                    )
                except aiohttp.ClientConnectorError as exc:
                    verdict = False
                    observer.upstream_failed(upstream.label, "connect")
                    if retry and len(tried) < len(self.upstreams) and data is None:
                        log.warning("upstream %s unreachable (%s); next one", upstream.url, exc)
                        continue
                    raise UpstreamError(f"upstream {upstream.url} unreachable: {exc}") from exc
                except TimeoutError as exc:
                    verdict = False
                    observer.upstream_failed(upstream.label, "timeout")
                    raise UpstreamError(
                        f"upstream {upstream.url} did not answer in time", timeout=True
                    ) from exc
                except (aiohttp.ClientError, OSError) as exc:
                    # A malformed answer or a dropped connection is this request's failure;
                    # only unreachable or silent servers count against the breaker.
                    observer.upstream_failed(upstream.label, "broken")
                    raise UpstreamError(f"upstream {upstream.url} failed: {exc}") from exc
                observer.upstream_answered(upstream.label, time.perf_counter() - sent)
                # Any HTTP answer, 5xx included, shows the server is there: an origin may
                # answer 503 for one URL and be fine for the rest (nginx's max_fails counts
                # the same way). Connection failures and timeouts are what trip the breaker.
                verdict = True
                try:
                    yield response
                except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as exc:
                    observer.upstream_failed(upstream.label, "broken")
                    raise UpstreamError(f"upstream {upstream.url} broke off: {exc}") from exc
                except TimeoutError as exc:
                    verdict = False
                    observer.upstream_failed(upstream.label, "timeout")
                    raise UpstreamError(
                        f"upstream {upstream.url} stalled while sending", timeout=True
                    ) from exc
                finally:
                    response.release()
                return
            finally:
                upstream.active -= 1
                if verdict is True:
                    upstream.breaker.success()
                elif verdict is False:
                    upstream.failures += 1
                    upstream.breaker.failure(self.clock())
                else:
                    upstream.breaker.release()

    async def check_health(self) -> None:
        """One round of active health checks, all upstreams in parallel."""
        await asyncio.gather(*(self._check(upstream) for upstream in self.upstreams))

    async def _check(self, upstream: Upstream) -> None:
        timeout = aiohttp.ClientTimeout(total=max(1.0, self.config.connect_timeout * 2))
        try:
            async with self.session.get(
                upstream.target(self.config.health_path), timeout=timeout, allow_redirects=False
            ) as response:
                await response.read()
                ok = response.status < 500
        except (aiohttp.ClientError, OSError, TimeoutError):
            ok = False
        if ok and not upstream.healthy:
            log.info("upstream %s is healthy again", upstream.url)
        elif not ok and upstream.healthy:
            log.warning("upstream %s failed its health check; out of rotation", upstream.url)
        upstream.healthy = ok
        if ok and upstream.breaker.state is not State.CLOSED:
            upstream.breaker.success()

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.health_interval)
            try:
                await self.check_health()
            except Exception:
                log.exception("health check round failed")

    def status(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [upstream.status(now) for upstream in self.upstreams]

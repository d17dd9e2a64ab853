"""Settings: one dataclass, filled from `VODSTACK_*` environment variables and CLI flags.

Every field is declared once with its environment variable, its flag and a parser, so the
CLI, the environment and `compose.yaml` can never disagree about what a setting is called.
Validation happens at start-up and reports every problem at once, in plain words.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "VODSTACK_"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which and why."""


_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3,
    "t": 1000**4, "tb": 1000**4, "tib": 1024**4,
}
_DURATION_UNITS = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_size(text: str) -> int:
    """Parse `10GiB`, `500MB`, `2g` or a plain byte count."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 1048576, 500MB, 10GiB)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def parse_duration(text: str) -> float:
    """Parse `30s`, `5m`, `250ms`, `1h` or plain seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _DURATION_UNITS:
        raise ValueError(f"not a duration: {text!r} (examples: 30, 30s, 5m, 250ms)")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {text!r} (use true or false)")


def parse_list(text: str) -> tuple[str, ...]:
    """Comma- or whitespace-separated list."""
    return tuple(part for part in re.split(r"[,\s]+", text.strip()) if part)


def _opt_str(text: str) -> str | None:
    return text or None


def setting(
    default: Any,
    help: str,
    parse: Callable[[str], Any] = str,
    *,
    choices: tuple[str, ...] | None = None,
    repeatable: bool = False,
    secret: bool = False,
) -> Any:
    """Declare a settings field: its default, help text and how to parse its text form.

    A `secret` field is left out of the settings' repr, so it never reaches a log line.
    """
    factory_default: dict[str, Any] = (
        {"default_factory": lambda: default} if isinstance(default, (list, tuple)) else
        {"default": default}
    )
    return field(
        metadata={"help": help, "parse": parse, "choices": choices, "repeatable": repeatable},
        repr=not secret,
        **factory_default,
    )


@dataclass(frozen=True)
class Settings:
    """All of vodstack's settings. Each field `foo_bar` is `VODSTACK_FOO_BAR` / `--foo-bar`."""

    # Where and how to run.
    data_dir: Path = setting(
        Path("vodstack-data"),
        "Directory for the embedded store, queue and scratch space.",
        Path,
    )
    host: str = setting("127.0.0.1", "Address to listen on.")
    port: int = setting(8080, "Port to listen on (0 picks a free one).", int)
    public_url: str | None = setting(
        None,
        "Base URL users reach vodstack at (for links in API answers); "
        "default: taken from each request.",
        _opt_str,
    )
    store: str | None = setting(
        None,
        "Object store URL: file:///path or s3://bucket?endpoint=http://host:9000 "
        "(default: file://DATA_DIR/store).",
        _opt_str,
    )
    queue: str | None = setting(
        None,
        "Job queue and catalogue URL: sqlite:///path/to.db or redis://host:6379/0 "
        "(default: sqlite://DATA_DIR/vodstack.db).",
        _opt_str,
    )
    log_level: str = setting(
        "info", "Log level.", str, choices=("debug", "info", "warning", "error")
    )
    log_format: str = setting("text", "Log line format.", str, choices=("text", "json"))

    # Uploads.
    max_upload_size: int = setting(
        10 * 1024**3, "Largest accepted upload (e.g. 10GiB).", parse_size
    )
    keep_source: bool = setting(True, "Keep the uploaded original after transcoding.", parse_bool)

    # Transcoding.
    worker_concurrency: int = setting(1, "Jobs one worker process runs at once.", int)
    ffmpeg_path: str = setting("ffmpeg", "ffmpeg binary.")
    ffprobe_path: str = setting("ffprobe", "ffprobe binary.")
    ffmpeg_threads: int = setting(0, "Threads per ffmpeg run (0: ffmpeg decides).", int)
    job_timeout: float = setting(
        3600.0, "Longest one transcode may run before it is killed.", parse_duration
    )
    top_rung: int = setting(
        1080, "Tallest rendition (short side, pixels): 240 to 2160.", int
    )
    segment_duration: float = setting(4.0, "Target HLS segment length in seconds.", parse_duration)
    keyframe_interval: float = setting(
        2.0, "Seconds between keyframes (aligned across renditions).", parse_duration
    )
    segment_format: str = setting(
        "fmp4", "HLS segment container.", str, choices=("fmp4", "ts")
    )
    x264_preset: str = setting("veryfast", "libx264 preset for every rendition.")
    scratch_dir: Path | None = setting(
        None, "Scratch space for transcodes (default: DATA_DIR/scratch).", Path
    )

    # Jobs.
    visibility_timeout: float = setting(
        60.0, "How long a leased job stays invisible without a heartbeat.", parse_duration
    )
    max_attempts: int = setting(5, "Attempts before a job is failed for good.", int)
    retry_base_delay: float = setting(
        2.0, "First retry delay; doubles each attempt (with full jitter).", parse_duration
    )
    retry_max_delay: float = setting(300.0, "Longest delay between retries.", parse_duration)

    # Store client.
    store_timeout: float = setting(
        10.0, "Timeout of one object-store call (connect + first byte).", parse_duration
    )

    # Distributed backends: S3 object store, Redis job queue and catalogue.
    s3_access_key_id: str | None = setting(
        None, "S3 access key id (default: AWS_ACCESS_KEY_ID).", _opt_str
    )
    s3_secret_access_key: str | None = setting(
        None, "S3 secret access key (default: AWS_SECRET_ACCESS_KEY).", _opt_str, secret=True
    )
    s3_region: str | None = setting(
        None,
        "S3 region when the store URL has no ?region= (default: AWS_REGION or us-east-1).",
        _opt_str,
    )
    s3_max_connections: int = setting(
        32, "Pooled HTTP connections to S3 per process.", int
    )
    redis_timeout: float = setting(
        5.0, "Timeout of one Redis call (connect or answer).", parse_duration
    )

    # Edge cache (`vodstack edge`).
    upstream: tuple[str, ...] = setting(
        (),
        "Upstream server the edge caches (repeat the flag, or comma-separate, for several; "
        "append #weight=N for weighted balancing).",
        parse_list,
        repeatable=True,
    )
    cache_size: int = setting(1024**3, "Bytes of responses the edge keeps (e.g. 2GiB).", parse_size)
    max_object_fraction: float = setting(
        0.1,
        "Largest response the edge stores, as a fraction of cache_size; larger ones stream "
        "through.",
        float,
    )
    purge_token: str | None = setting(
        None,
        "Bearer token for the edge's purge and warm endpoints (unset: both disabled).",
        _opt_str,
        secret=True,
    )
    lb_policy: str = setting(
        "least-connections",
        "How misses are spread over upstreams.",
        str,
        choices=("least-connections", "round-robin", "weighted"),
    )
    health_check_interval: float = setting(
        5.0, "Seconds between active upstream health checks (0: off).", parse_duration
    )
    health_check_path: str = setting("/healthz", "Path the edge polls on each upstream.")
    collapse_timeout: float = setting(
        10.0,
        "How long requests wait for a concurrent fetch of the same URL before fetching "
        "themselves.",
        parse_duration,
    )
    upstream_connect_timeout: float = setting(
        3.0, "Timeout for opening a connection to an upstream.", parse_duration
    )
    upstream_timeout: float = setting(
        30.0, "Longest wait for upstream bytes (first byte and between reads).", parse_duration
    )
    breaker_threshold: int = setting(
        5, "Consecutive failures that take an upstream out of rotation.", int
    )
    breaker_cooldown: float = setting(
        10.0, "Seconds before a failing upstream is probed again.", parse_duration
    )
    edge_stale_if_error: float = setting(
        60.0,
        "Seconds past expiry the edge may serve a stored response when the upstream fails "
        "and the response sets no stale-if-error itself.",
        parse_duration,
    )
    warm_max_bytes: int = setting(
        256 * 1024**2, "Most bytes one warm request may fetch from upstreams.", parse_size
    )
    warm_concurrency: int = setting(4, "Upstream fetches warming may run at once.", int)

    # Transcoder worker.
    max_video_dimension: int = setting(
        8192, "Largest accepted video width or height in pixels; larger uploads fail.", int
    )
    publish_concurrency: int = setting(
        8, "Rendition files a worker uploads to the store at once.", int
    )

    # Reliability: limits, watchdogs, graceful shutdown, store circuit breaker.
    max_duration: float = setting(
        6 * 3600.0, "Longest accepted video (e.g. 6h); longer uploads fail.", parse_duration
    )
    ffmpeg_stall_timeout: float = setting(
        120.0,
        "Kill ffmpeg when its output position has not advanced for this long (0: off).",
        parse_duration,
    )
    ffmpeg_nice: int = setting(
        10, "Niceness of ffmpeg/ffprobe (0-19): serving keeps the CPU first.", int
    )
    worker_shutdown_grace: float = setting(
        10.0,
        "On SIGTERM, how long a running job may take to finish (if its progress says it "
        "will) before ffmpeg is stopped and the job handed back.",
        parse_duration,
    )
    min_free_space: int = setting(
        1024**3,
        "Scratch space a worker leaves free beyond a job's estimated need (e.g. 1GiB); a job "
        "that does not fit is handed back for later.",
        parse_size,
    )
    store_breaker_threshold: int = setting(
        5, "Consecutive store failures after which the origin answers 503 at once.", int
    )
    store_breaker_cooldown: float = setting(
        5.0, "Seconds the origin waits before probing a failing store again.", parse_duration
    )
    upload_idle_timeout: float = setting(
        60.0,
        "An upload whose body stops arriving for this long is abandoned (408).",
        parse_duration,
    )

    # Web pages.
    hlsjs_path: Path | None = setting(
        None,
        "hls.js file the watch page loads (default: node_modules/hls.js/dist/hls.min.js "
        "of the source tree or the working directory, installed by `npm ci`).",
        Path,
    )

    # Distributed deployment.
    media_url: str | None = setting(
        None,
        "Base URL players fetch media from (e.g. the edge in front of the origins), for the "
        "playback and poster links in API answers; default: the API's own base URL.",
        _opt_str,
    )

    # Edge integration: the upload API purges edges on delete, workers warm them on publish.
    edges: tuple[str, ...] = setting(
        (),
        "Edge caches to purge when a video is deleted and to warm when one is published "
        "(base URLs; repeat the flag or comma-separate; needs purge_token).",
        parse_list,
        repeatable=True,
    )
    warm_segments: int = setting(
        2, "Media segments of each rendition warmed on the edges after publishing.", int
    )

    # Security: resumable uploads, API keys, signed playback URLs, webhooks.
    upload_expiry: float = setting(
        24 * 3600.0,
        "How long an unfinished resumable (tus) upload is kept after its last bytes arrived.",
        parse_duration,
    )
    upload_sweep_interval: float = setting(
        300.0, "Seconds between sweeps removing expired resumable uploads.", parse_duration
    )
    require_api_key: bool = setting(
        False,
        "Require `Authorization: Bearer <key>` for uploads, deletes and other changes "
        "(create keys with `vodstack keys create`).",
        parse_bool,
    )
    api_reads: str = setting(
        "public",
        "Who may read the API (list, status) when keys are required: anyone, or key holders.",
        str,
        choices=("public", "key"),
    )
    insecure_open: bool = setting(
        False,
        "Let `serve`/`ingest` listen on a non-loopback address without requiring API keys.",
        parse_bool,
    )
    playback_secret: str | None = setting(
        None,
        "Secret for signed playback URLs; when set, media needs a valid ?token= "
        "(give the origin and every edge the same secret).",
        _opt_str,
        secret=True,
    )
    playback_token_ttl: float = setting(
        6 * 3600.0, "How long a signed playback URL handed out by the API stays valid.",
        parse_duration,
    )
    webhook_urls: tuple[str, ...] = setting(
        (),
        "URLs that receive video.ready / video.failed events (repeat or comma-separate).",
        parse_list,
        repeatable=True,
    )
    webhook_secret: str | None = setting(
        None, "Secret that signs webhook deliveries (Vodstack-Signature).", _opt_str, secret=True
    )
    webhook_timeout: float = setting(
        10.0, "Longest wait for a webhook receiver to answer one delivery.", parse_duration
    )
    webhook_retry_for: float = setting(
        24 * 3600.0, "How long failed webhook deliveries keep being retried.", parse_duration
    )
    webhook_retry_base_delay: float = setting(
        5.0, "First webhook retry delay; doubles each attempt (with full jitter).",
        parse_duration,
    )
    webhook_retry_max_delay: float = setting(
        3600.0, "Longest delay between webhook retries.", parse_duration
    )

    # Observability: request logs (metrics are always served at /metrics).
    access_log: bool = setting(
        True, "Log one line per HTTP request (method, path, status, bytes, time, id).", parse_bool
    )

    # Origin performance: what each origin process remembers of objects (origin.objects).
    origin_cache_size: int = setting(
        64 * 1024**2,
        "Bytes of small objects (playlists, init segments, posters) each origin process "
        "keeps in memory (e.g. 64MiB; 0: none).",
        parse_size,
    )
    origin_cache_max_object: int = setting(
        512 * 1024,
        "Largest object the origin keeps in memory; larger ones are sent from open files "
        "(local store) or streamed (S3).",
        parse_size,
    )
    origin_open_files: int = setting(
        256, "Open files each origin process keeps for large local objects (0: none).", int
    )
    origin_recheck: float = setting(
        0.5,
        "How long the origin answers from what it remembers of a playlist (or any other "
        "object that may be replaced) before asking the store again.",
        parse_duration,
    )
    origin_recheck_immutable: float = setting(
        2.0,
        "The same for versioned segments, init segments and images, which only a deletion "
        "can change: how long a deleted video may still be served.",
        parse_duration,
    )
    # Edge performance: worker processes and the hit path.
    processes: int = setting(
        0,
        "Server processes of `vodstack edge` and `vodstack origin` sharing one port "
        "(SO_REUSEPORT); each edge process keeps an even part of cache_size less the extra "
        "processes' runtimes (0: one per CPU).",
        int,
    )
    edge_hit_path: bool = setting(
        True,
        "Answer fresh cache hits on the edge's own HTTP/1.1 path in front of aiohttp "
        "(false: every request goes through aiohttp).",
        parse_bool,
    )

    # Progressive publishing: playable while it is transcoded.
    progressive_publish: bool = setting(
        True,
        "Make a new video playable as soon as the first segment of every rendition is "
        "stored (growing EVENT playlists), instead of only when the transcode is complete.",
        parse_bool,
    )

    # Chunked transcoding: one long video split over several workers.
    chunk_duration: float = setting(
        0.0,
        "Split videos of at least two chunks into chunks of this many seconds, transcoded "
        "by any workers in parallel and joined without re-encoding (0: off). A multiple of "
        "segment_duration.",
        parse_duration,
    )

    @property
    def store_url(self) -> str:
        return self.store or f"file://{self.data_dir.resolve() / 'store'}"

    @property
    def queue_url(self) -> str:
        return self.queue or f"sqlite://{self.data_dir.resolve() / 'vodstack.db'}"

    @property
    def scratch_path(self) -> Path:
        return self.scratch_dir or self.data_dir / "scratch"

    def validate(self) -> Settings:
        """Raise SettingsError listing every inconsistent value."""
        problems: list[str] = []
        if not 0 <= self.port <= 65535:
            problems.append(f"port must be 0..65535, got {self.port}")
        if not 240 <= self.top_rung <= 2160:
            problems.append(f"top_rung must be between 240 and 2160, got {self.top_rung}")
        if self.worker_concurrency < 0:
            problems.append("worker_concurrency must be 0 or more")
        if self.max_upload_size <= 0:
            problems.append("max_upload_size must be positive")
        if self.segment_duration <= 0 or self.keyframe_interval <= 0:
            problems.append("segment_duration and keyframe_interval must be positive")
        elif self.segment_duration + 1e-9 < self.keyframe_interval:
            problems.append("segment_duration must be at least keyframe_interval")
        if self.visibility_timeout < 3:
            problems.append("visibility_timeout must be at least 3 seconds")
        if self.max_attempts < 1:
            problems.append("max_attempts must be at least 1")
        if self.s3_max_connections < 1:
            problems.append("s3_max_connections must be at least 1")
        if self.redis_timeout <= 0 or self.store_timeout <= 0:
            problems.append("redis_timeout and store_timeout must be positive")
        if not self.store_url.startswith(("file://", "s3://")):
            problems.append(f"store must be a file:// or s3:// URL, got {self.store_url!r}")
        if not self.queue_url.startswith(("sqlite://", "redis://", "rediss://")):
            problems.append(f"queue must be a sqlite:// or redis:// URL, got {self.queue_url!r}")
        if self.cache_size <= 0:
            problems.append("cache_size must be positive")
        if not 0 < self.max_object_fraction <= 1:
            problems.append("max_object_fraction must be in (0, 1]")
        if self.warm_concurrency < 1 or self.breaker_threshold < 1:
            problems.append("warm_concurrency and breaker_threshold must be at least 1")
        for url in self.upstream:
            if not url.startswith(("http://", "https://")):
                problems.append(f"upstream must be an http(s):// URL, got {url!r}")
        if self.max_video_dimension < 16:
            problems.append("max_video_dimension must be at least 16")
        if self.publish_concurrency < 1:
            problems.append("publish_concurrency must be at least 1")
        if self.max_duration <= 0 or self.upload_idle_timeout <= 0:
            problems.append("max_duration and upload_idle_timeout must be positive")
        if self.ffmpeg_stall_timeout < 0 or self.worker_shutdown_grace < 0:
            problems.append("ffmpeg_stall_timeout and worker_shutdown_grace must be 0 or more")
        if not 0 <= self.ffmpeg_nice <= 19:
            problems.append("ffmpeg_nice must be from 0 to 19")
        if self.min_free_space < 0:
            problems.append("min_free_space must be 0 or more")
        if self.store_breaker_threshold < 1 or self.store_breaker_cooldown <= 0:
            problems.append(
                "store_breaker_threshold must be at least 1 and store_breaker_cooldown positive"
            )
        if self.media_url is not None and not _is_base_url(self.media_url):
            problems.append(
                f"media_url must be an http(s):// URL with a host, got {self.media_url!r}"
            )
        for url in self.edges:
            if not url.startswith(("http://", "https://")):
                problems.append(f"edges must be http(s):// URLs, got {url!r}")
        if self.edges and not self.purge_token:
            problems.append("edges needs purge_token (the edges' --purge-token)")
        if not 0 <= self.warm_segments <= 1000:
            problems.append("warm_segments must be 0 to 1000")
        if not 0 <= self.processes <= 256:
            problems.append(f"processes must be 0 (one per CPU) to 256, got {self.processes}")
        problems += self._security_problems()
        problems += self._origin_problems()
        problems += self._chunking_problems()
        if problems:
            raise SettingsError("invalid settings:\n  - " + "\n  - ".join(problems))
        return self

    def _security_problems(self) -> list[str]:
        problems: list[str] = []
        if self.upload_expiry < 60:
            problems.append("upload_expiry must be at least 60 seconds")
        if self.upload_sweep_interval <= 0:
            problems.append("upload_sweep_interval must be positive")
        if self.playback_secret is not None and len(self.playback_secret) < 16:
            problems.append("playback_secret must be at least 16 characters")
        if self.playback_token_ttl < 1:
            problems.append("playback_token_ttl must be at least 1 second")
        for url in self.webhook_urls:
            if not url.startswith(("http://", "https://")):
                problems.append(f"webhook_urls must be http(s):// URLs, got {url!r}")
        if self.webhook_urls and not self.webhook_secret:
            problems.append("webhook_urls need a webhook_secret to sign deliveries")
        if self.webhook_secret is not None and len(self.webhook_secret) < 16:
            problems.append("webhook_secret must be at least 16 characters")
        if self.webhook_timeout <= 0 or self.webhook_retry_base_delay <= 0:
            problems.append("webhook_timeout and webhook_retry_base_delay must be positive")
        if self.webhook_retry_max_delay < self.webhook_retry_base_delay:
            problems.append("webhook_retry_max_delay must be at least webhook_retry_base_delay")
        return problems

    def _origin_problems(self) -> list[str]:
        problems: list[str] = []
        if self.origin_cache_size < 0 or self.origin_cache_max_object < 0:
            problems.append("origin_cache_size and origin_cache_max_object must be 0 or more")
        if self.origin_open_files < 0:
            problems.append("origin_open_files must be 0 or more")
        if self.origin_recheck < 0 or self.origin_recheck_immutable < 0:
            problems.append("origin_recheck and origin_recheck_immutable must be 0 or more")
        return problems

    def _chunking_problems(self) -> list[str]:
        if self.chunk_duration == 0 or self.segment_duration <= 0 or self.keyframe_interval <= 0:
            return []
        problems: list[str] = []
        if self.chunk_duration < 0:
            problems.append("chunk_duration must be 0 (off) or positive")
        elif not _is_multiple(self.chunk_duration, self.segment_duration):
            problems.append(
                f"chunk_duration ({self.chunk_duration:g}s) must be a multiple of "
                f"segment_duration ({self.segment_duration:g}s), so chunks are whole segments"
            )
        if not _is_multiple(self.segment_duration, self.keyframe_interval):
            problems.append(
                "with chunk_duration set, segment_duration must be a multiple of "
                "keyframe_interval, so every chunk starts on a keyframe"
            )
        return problems


def _is_multiple(value: float, unit: float) -> bool:
    ratio = value / unit
    return abs(ratio - round(ratio)) < 1e-6


def _is_base_url(text: str) -> bool:
    """`http(s)://host[:port][/path]`, with nothing after the path."""
    parts = urlsplit(text)
    return (
        parts.scheme in {"http", "https"}
        and bool(parts.hostname)
        and not parts.query
        and not parts.fragment
    )


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def setting_fields() -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(Settings)


def env_names() -> set[str]:
    """Every environment variable vodstack reads (used to check compose.yaml)."""
    return {env_name(f.name) for f in setting_fields()}


def parse_value(f: dataclasses.Field[Any], text: str) -> Any:
    """Parse the text form of one setting, with a message naming the setting on failure."""
    try:
        value = f.metadata["parse"](text)
    except ValueError as exc:
        raise SettingsError(f"{env_name(f.name)} / {flag_name(f.name)}: {exc}") from None
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise SettingsError(
            f"{env_name(f.name)} / {flag_name(f.name)}: "
            f"{value!r} is not one of {', '.join(choices)}"
        )
    return value


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from the environment, then text overrides (CLI flags) on top."""
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for f in setting_fields():
        text = overrides.get(f.name)
        if text is None:
            text = environ.get(env_name(f.name))
        if text is not None:
            values[f.name] = parse_value(f, text)
    return Settings(**values).validate()

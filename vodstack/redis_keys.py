"""Every Redis key and name vodstack uses, in one place (queue and catalogue).

All keys start with a prefix (default `vodstack:`, or `?prefix=` in the Redis URL), so
several deployments or test runs can share one Redis:

    {p}jobs:stream              stream of job ids, read by the consumer group `workers`
    {p}jobs:delayed             sorted set: job id → when a retry is due (ms, Redis clock)
    {p}job:<job_id>             hash: one job (state, attempts, lease token, stream entry)
    {p}video-jobs:<video_id>    set: live job ids of a video (for cancel)
    {p}video:<video_id>         string: the video record as JSON
    {p}videos:newest            sorted set (all scores 0): index members, newest first
    {p}videos:status:<status>   the same index, per status
    {p}idempotency:<key>        string: the video id holding an Idempotency-Key (with TTL)
    {p}video-idempotency:<id>   set: idempotency keys a video holds (cleaned on delete)
    {p}upload:<id>              string: a resumable (tus) upload record as JSON
    {p}upload-lock:<id>         string: the token holding the upload's lock (with TTL)
    {p}upload-unlock:<id>       string: "a newer request wants the lock" (with TTL)
    {p}uploads:expiry           sorted set: upload id → expires_at (seconds)
    {p}api-key:<id>             string: an API key record (hash only) as JSON
    {p}api-keys                 sorted set: key id → created_at
    {p}webhook:<id>             string: one webhook delivery as JSON
    {p}webhook-lease:<id>       string: the lease token of a delivery being sent
    {p}webhooks:due             sorted set: pending delivery id → next attempt (ms, Redis clock)
    {p}webhooks:newest          sorted set: delivery id → created_at (ms)
    {p}video-webhooks:<id>      sorted set: a video's delivery ids → created_at (ms)
    {p}chunked:<id>:<version>   hash: a chunked transcode's parts (progress, done) and join
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

DEFAULT_PREFIX = "vodstack:"
JOB_GROUP = "workers"
JOB_FIELD = "job"
"""The one field of a stream entry: the job id."""

PREFIX_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_MEMBER_SPLIT = 16  # hex digits of the sortable timestamp


@dataclass(frozen=True)
class RedisKeys:
    prefix: str = DEFAULT_PREFIX

    # -- job queue ---------------------------------------------------------------------

    @property
    def stream(self) -> str:
        return f"{self.prefix}jobs:stream"

    @property
    def delayed(self) -> str:
        return f"{self.prefix}jobs:delayed"

    @property
    def job_prefix(self) -> str:
        return f"{self.prefix}job:"

    def job(self, job_id: str) -> str:
        return self.job_prefix + job_id

    def video_jobs(self, video_id: str) -> str:
        return f"{self.prefix}video-jobs:{video_id}"

    # -- catalogue ---------------------------------------------------------------------

    @property
    def video_prefix(self) -> str:
        return f"{self.prefix}video:"

    def video(self, video_id: str) -> str:
        return self.video_prefix + video_id

    @property
    def newest(self) -> str:
        return f"{self.prefix}videos:newest"

    @property
    def status_prefix(self) -> str:
        return f"{self.prefix}videos:status:"

    def with_status(self, status: str) -> str:
        return self.status_prefix + status

    @property
    def idempotency_prefix(self) -> str:
        return f"{self.prefix}idempotency:"

    def idempotency(self, key: str) -> str:
        return self.idempotency_prefix + key

    def video_idempotency(self, video_id: str) -> str:
        return f"{self.prefix}video-idempotency:{video_id}"

    # -- resumable uploads, API keys, webhook outbox ------------------------------------

    def upload(self, upload_id: str) -> str:
        return f"{self.prefix}upload:{upload_id}"

    def upload_lock(self, upload_id: str) -> str:
        return f"{self.prefix}upload-lock:{upload_id}"

    def upload_unlock(self, upload_id: str) -> str:
        return f"{self.prefix}upload-unlock:{upload_id}"

    @property
    def uploads_expiry(self) -> str:
        return f"{self.prefix}uploads:expiry"

    def api_key(self, key_id: str) -> str:
        return f"{self.prefix}api-key:{key_id}"

    @property
    def api_keys(self) -> str:
        return f"{self.prefix}api-keys"

    @property
    def webhook_prefix(self) -> str:
        return f"{self.prefix}webhook:"

    def webhook(self, delivery_id: str) -> str:
        return self.webhook_prefix + delivery_id

    @property
    def webhook_lease_prefix(self) -> str:
        return f"{self.prefix}webhook-lease:"

    @property
    def webhooks_due(self) -> str:
        return f"{self.prefix}webhooks:due"

    @property
    def webhooks_newest(self) -> str:
        return f"{self.prefix}webhooks:newest"

    def video_webhooks(self, video_id: str) -> str:
        return f"{self.prefix}video-webhooks:{video_id}"

    # -- chunked transcoding -----------------------------------------------------------

    def chunked(self, video_id: str, version: str) -> str:
        return f"{self.prefix}chunked:{video_id}:{version}"


def sortable_float(value: float) -> str:
    """16 hex digits whose byte order is the numeric order of `value` (IEEE 754 trick)."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", value))
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | (1 << 63)
    return f"{bits:016x}"


def index_member(created_at: float, video_id: str) -> str:
    """Catalogue index member: ordered by creation time, ties by id (as the cursor is)."""
    return f"{sortable_float(created_at)}:{video_id}"


def member_video_id(member: str) -> str:
    return member[_MEMBER_SPLIT + 1:]

"""Redis key layout and URL parsing: pure functions, no server."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vodstack.redis_conn import parse_redis_url
from vodstack.redis_keys import RedisKeys, index_member, member_video_id, sortable_float
from vodstack.settings import SettingsError

finite = st.floats(allow_nan=False, allow_infinity=False)
video_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
                    min_size=1, max_size=16)


@given(finite, finite)
def test_sortable_float_orders_like_the_numbers(a: float, b: float) -> None:
    if a == b or (a == 0 and b == 0):
        return
    assert (sortable_float(a) < sortable_float(b)) == (a < b)


@given(st.tuples(finite, video_ids), st.tuples(finite, video_ids))
def test_index_members_order_like_the_catalogue_cursor(
    one: tuple[float, str], two: tuple[float, str]
) -> None:
    """Ordered by created_at, then id: the (created_at, id) order of `catalog.base` cursors."""
    if one[0] == two[0] and math.copysign(1, one[0]) != math.copysign(1, two[0]):
        return  # 0.0 and -0.0 are equal numbers with different bits
    member_one, member_two = index_member(*one), index_member(*two)
    assert (member_one < member_two) == (one < two)
    assert member_video_id(member_one) == one[1]


def test_every_key_carries_the_prefix() -> None:
    keys = RedisKeys("acme:")
    names = [
        keys.stream, keys.delayed, keys.job("j"), keys.video_jobs("v"), keys.video("v"),
        keys.newest, keys.with_status("ready"), keys.idempotency("k"),
        keys.video_idempotency("v"),
    ]
    assert all(name.startswith("acme:") for name in names)
    assert len(set(names)) == len(names)


def test_redis_url_prefix_and_database() -> None:
    target = parse_redis_url("redis://:s3cret@cache.internal:6380/2?prefix=prod:&ssl_cert_reqs=none")
    assert target.keys.prefix == "prod:"
    assert target.where == "cache.internal:6380/2"
    assert "prefix" not in target.url and "ssl_cert_reqs=none" in target.url
    assert "s3cret" not in target.where


def test_redis_url_defaults() -> None:
    target = parse_redis_url("redis://localhost")
    assert target.keys.prefix == "vodstack:"
    assert target.where == "localhost:6379/0"


@pytest.mark.parametrize(
    "url", ["http://localhost", "redis://", "redis://h/zero", "redis://h/0?prefix=bad prefix"]
)
def test_bad_redis_urls(url: str) -> None:
    with pytest.raises(SettingsError):
        parse_redis_url(url)

"""Rendition choice from measured throughput (hls.js-style EWMA), without a network."""

from __future__ import annotations

import pytest

from vodstack.loadtest.abr import (
    DEFAULT_ESTIMATE,
    BandwidthEstimator,
    Ewma,
    choose_variant,
)

LADDER = [400_000, 800_000, 1_400_000, 2_800_000, 5_000_000]


def test_ewma_of_a_constant_is_that_constant_from_the_first_sample() -> None:
    """The zero-start correction: one sample of 8 Mbit/s estimates 8 Mbit/s, not less."""
    ewma = Ewma(half_life=3.0)
    ewma.sample(0.2, 8e6)
    assert ewma.estimate() == pytest.approx(8e6)
    ewma.sample(5.0, 8e6)
    assert ewma.estimate() == pytest.approx(8e6)


def test_ewma_half_life_is_measured_in_download_seconds() -> None:
    ewma = Ewma(half_life=3.0)
    ewma.sample(100.0, 10e6)  # long history at 10 Mbit/s
    ewma.sample(3.0, 2e6)  # one half-life at 2 Mbit/s: half the weight moves to it
    assert ewma.estimate() == pytest.approx(6e6, rel=1e-6)


def test_estimator_uses_the_default_until_a_segment_is_measured() -> None:
    estimator = BandwidthEstimator()
    assert estimator.estimate() == DEFAULT_ESTIMATE
    estimator.sample(0.01, 2_000)  # a playlist-sized download says nothing about bandwidth
    assert estimator.estimate() == DEFAULT_ESTIMATE
    estimator.sample(1.0, 1_000_000)
    assert estimator.estimate() == pytest.approx(8e6)


def test_estimator_trusts_the_lower_of_fast_and_slow() -> None:
    """A sudden drop shows at once (fast average); a sudden rise only slowly (slow one)."""
    drop = BandwidthEstimator()
    for _ in range(10):
        drop.sample(1.0, 1_250_000)  # 10 Mbit/s
    drop.sample(2.0, 250_000)  # 1 Mbit/s for 2 s
    assert drop.estimate() == pytest.approx(drop.fast.estimate())
    assert drop.estimate() < 7e6

    rise = BandwidthEstimator()
    for _ in range(10):
        rise.sample(1.0, 125_000)  # 1 Mbit/s
    rise.sample(1.0, 1_250_000)  # 10 Mbit/s
    assert rise.estimate() == pytest.approx(rise.slow.estimate())
    assert rise.estimate() < rise.fast.estimate()


def test_first_choice_needs_headroom_like_any_switch_up() -> None:
    # 2.8 Mbit/s needs 4 Mbit/s at 70 %; 3.9 Mbit/s only affords 1.4 Mbit/s.
    assert choose_variant(LADDER, 4_000_000, None) == 3
    assert choose_variant(LADDER, 3_900_000, None) == 2


def test_keeps_the_current_rendition_within_95_percent() -> None:
    # At 3 Mbit/s the 2.8 Mbit/s rendition is kept (<= 2.85) but would not be switched to.
    assert choose_variant(LADDER, 3_000_000, 3) == 3
    assert choose_variant(LADDER, 3_000_000, 2) == 2


def test_drops_when_the_estimate_falls_below_the_current_rendition() -> None:
    assert choose_variant(LADDER, 1_000_000, 4) == 1


def test_lowest_when_nothing_fits_and_highest_when_everything_does() -> None:
    assert choose_variant(LADDER, 10_000, 2) == 0
    assert choose_variant(LADDER, 1e12, 0) == len(LADDER) - 1


def test_no_renditions_is_an_error() -> None:
    with pytest.raises(ValueError):
        choose_variant([], 1e6, None)

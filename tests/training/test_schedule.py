"""Learning-rate and crop-length schedules, checked at the steps where their shape changes."""
from __future__ import annotations

import math

import pytest

from foldlite.config import TrainConfig
from foldlite.training.schedule import crop_length, learning_rate

CONFIG = TrainConfig(learning_rate=1e-3, min_learning_rate=1e-4, warmup_steps=10, total_steps=110,
                     crop_start=64, crop_end=128, crop_growth_steps=100)


def test_learning_rate_warms_up_linearly():
    assert learning_rate(0, CONFIG) == pytest.approx(1e-4)  # (0 + 1) / 10 of the peak
    assert learning_rate(4, CONFIG) == pytest.approx(5e-4)
    assert learning_rate(9, CONFIG) == pytest.approx(1e-3)


def test_learning_rate_decays_on_a_cosine_to_the_floor_and_stays_there():
    assert learning_rate(10, CONFIG) == pytest.approx(1e-3)  # start of the decay: the peak
    midway = 1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi * 0.5))
    assert learning_rate(60, CONFIG) == pytest.approx(midway)  # halfway through: halfway down
    assert learning_rate(110, CONFIG) == pytest.approx(1e-4)
    assert learning_rate(10_000, CONFIG) == pytest.approx(1e-4)
    rates = [learning_rate(s, CONFIG) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))


def test_crop_length_grows_in_multiples_of_8_then_stays():
    assert crop_length(0, CONFIG) == 64
    assert crop_length(50, CONFIG) == 96
    assert crop_length(100, CONFIG) == 128 and crop_length(5000, CONFIG) == 128
    lengths = [crop_length(s, CONFIG) for s in range(0, 101)]
    assert all(n % 8 == 0 for n in lengths) and lengths == sorted(lengths)
    assert crop_length(13, CONFIG) == 72  # 64 + 0.13 * 64 = 72.3 -> 72


def test_decay_steps_hold_the_peak_then_decay_over_the_last_steps_only():
    config = TrainConfig(learning_rate=1e-3, min_learning_rate=1e-5, warmup_steps=10, total_steps=1000,
                         decay_steps=100)
    assert learning_rate(10, config) == pytest.approx(1e-3)
    assert learning_rate(900, config) == pytest.approx(1e-3)  # stable until total - decay
    midway = 1e-5 + (1e-3 - 1e-5) * 0.5
    assert learning_rate(950, config) == pytest.approx(midway)
    assert learning_rate(1000, config) == pytest.approx(1e-5)
    assert learning_rate(5000, config) == pytest.approx(1e-5)
    rates = [learning_rate(s, config) for s in range(10, 1001)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))


def test_a_decay_longer_than_the_schedule_starts_after_the_warm_up():
    config = TrainConfig(learning_rate=1e-3, min_learning_rate=1e-4, warmup_steps=10, total_steps=110,
                         decay_steps=500)
    assert [learning_rate(s, config) for s in (10, 60, 110)] == [learning_rate(s, CONFIG) for s in (10, 60, 110)]

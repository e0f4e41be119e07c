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

"""Training schedules: learning rate and crop length by step."""
from __future__ import annotations

import math

from ..config import TrainConfig


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to min_learning_rate at total_steps (flat afterwards).

    With decay_steps > 0 the schedule is warm-up, stable, decay: the peak holds until
    total_steps - decay_steps and the cosine runs over the last decay_steps only. A run can then go on
    at its peak for as long as compute allows, and a short decay branched off any checkpoint gives
    weights to ship (Hägele et al. 2024, "Scaling laws and compute-optimal training beyond fixed
    training durations").
    """
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    decay_start = max(config.warmup_steps, config.total_steps - config.decay_steps) if config.decay_steps \
        else config.warmup_steps
    progress = min(1.0, max(0.0, (step - decay_start) / max(1, config.total_steps - decay_start)))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return config.min_learning_rate + (config.learning_rate - config.min_learning_rate) * cosine


def crop_length(step: int, config: TrainConfig) -> int:
    """Crop size grows linearly from crop_start to crop_end (multiple of 8) over crop_growth_steps."""
    fraction = min(1.0, step / max(1, config.crop_growth_steps))
    return int(round((config.crop_start + fraction * (config.crop_end - config.crop_start)) / 8) * 8)

"""Training schedules: learning rate and crop length by step."""
from __future__ import annotations

import math

from ..config import TrainConfig


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to min_learning_rate at total_steps (flat afterwards)."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.total_steps - config.warmup_steps))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return config.min_learning_rate + (config.learning_rate - config.min_learning_rate) * cosine


def crop_length(step: int, config: TrainConfig) -> int:
    """Crop size grows linearly from crop_start to crop_end (multiple of 8) over crop_growth_steps."""
    fraction = min(1.0, step / max(1, config.crop_growth_steps))
    return int(round((config.crop_start + fraction * (config.crop_end - config.crop_start)) / 8) * 8)

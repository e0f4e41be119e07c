"""Run by tests/training/test_distributed.py under torchrun: a few training steps of the tiny test model.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/training/distributed_worker.py OUT DATA STEPS [resume]
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/: conftest's TINY_CONFIG

from conftest import TINY_CONFIG  # noqa: E402
from foldlite.config import TrainConfig  # noqa: E402
from foldlite.training.train import train  # noqa: E402

if __name__ == "__main__":
    out, data, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    resume = len(sys.argv) > 4 and sys.argv[4] == "resume"
    torch.set_num_threads(1)
    config = replace(TrainConfig(), batch_size=4, crop_start=32, crop_end=32, eval_every=2, eval_chains=2,
                     checkpoint_every=2, warmup_steps=1)
    train(out, data_path=data, max_steps=steps, resume=resume,
          model_config=None if resume else TINY_CONFIG, train_config=None if resume else config)

"""Shared fixtures: a tiny untrained model saved as a weights file (tests must not depend on training)."""
from __future__ import annotations

import pytest
import torch

from foldlite.checkpoint import FORMAT_VERSION, save_checkpoint
from foldlite.config import ModelConfig, PairConfig, TrunkConfig
from foldlite.model import FoldliteModel

torch.set_num_threads(min(2, torch.get_num_threads()))

TINY_CONFIG = ModelConfig(
    trunk=TrunkConfig(d_model=32, num_layers=2, num_heads=4, ffn_multiplier=2, max_relative_position=8,
                      dropout=0.0),
    pair=PairConfig(channels=16, bottleneck=8, num_blocks=2, dilations=(1, 2), max_relative_position=8))


@pytest.fixture(scope="session")
def tiny_model() -> FoldliteModel:
    torch.manual_seed(0)
    return FoldliteModel(TINY_CONFIG).eval()


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_model) -> str:
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    save_checkpoint({"format_version": FORMAT_VERSION, "config": TINY_CONFIG.to_dict(),
                     "state_dict": tiny_model.state_dict(),
                     "provenance": {"steps": 0, "wall_s": 0.0, "note": "untrained test model"}}, path)
    return str(path)

"""Shared fixtures: a tiny untrained model saved as a weights file (tests must not depend on training)."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import numpy as np
import pytest
import torch

from foldlite.model.checkpoint import FORMAT_VERSION, save_checkpoint
from foldlite.config import ModelConfig, PairConfig, TrunkConfig
from foldlite.model.network import FoldliteModel

torch.set_num_threads(min(2, torch.get_num_threads()))

# libraries are memory-mapped from a disk cache (foldlite.templates.mapped): the tests, and the
# processes they start, keep theirs in a folder of their own instead of the user's ~/.cache/foldlite
os.environ["FOLDLITE_CACHE_DIR"] = tempfile.mkdtemp(prefix="foldlite-test-cache-")
atexit.register(shutil.rmtree, os.environ["FOLDLITE_CACHE_DIR"], True)

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


@pytest.fixture(scope="session")
def model(tiny_weights):
    """The tiny weights loaded on torch (foldlite.load_model; tests/model/test_runtime.py covers the ONNX
    runtime that fold() takes by default on CPUs without native bf16)."""
    import foldlite

    return foldlite.load_model(tiny_weights, runtime="torch")


@pytest.fixture(scope="session")
def chainset():
    """The sample chain set shipped in data/ (valid and test chains only)."""
    from foldlite.data.chains import ChainSet, sample_chainset_path

    return ChainSet(sample_chainset_path())


@pytest.fixture(scope="session")
def library_path(tmp_path_factory):
    """A structure library built once from the sample chain set (shared by search and template tests)."""
    from foldlite.data.chains import sample_chainset_path
    from foldlite.templates.build import build_library

    path = tmp_path_factory.mktemp("library") / "sample_library.npz"
    build_library(sample_chainset_path(), path)
    return path


@pytest.fixture(scope="session")
def library(library_path):
    from foldlite.templates.library import load_library

    return load_library(library_path)


@pytest.fixture
def tiny_trainset(tmp_path):
    """The sample with its valid chains relabelled as train (the sample holds no train chains)."""
    from foldlite.data.chains import sample_chainset_path

    with np.load(sample_chainset_path()) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["split"] = np.where(arrays["split"] == 1, 0, 1).astype(np.int8)
    path = tmp_path / "trainset.npz"
    np.savez(path, **arrays)
    return str(path)

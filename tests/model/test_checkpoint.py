"""Shipped weights: load by default, safely and strictly, with provenance; damaged files are named."""
from __future__ import annotations

import pickle
import shutil

import pytest
import torch

from foldlite.model.checkpoint import (FORMAT_VERSION, WeightsError, default_weights_path, read_checkpoint,
                                 save_checkpoint)


class ForeignPayload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_shipped_weights_load_by_default_with_provenance():
    import foldlite

    model = foldlite.load_model(runtime="torch")
    assert model.path == default_weights_path()
    assert default_weights_path().stat().st_size < 25_000_000
    provenance = model.provenance
    for key in ("command", "steps", "wall_s", "cpu_hours", "data", "train_split", "seed", "valid"):
        assert key in provenance, key
    assert provenance["train_split"] == "train" and provenance["steps"] > 0
    assert not model.network.training


def test_checksum_catches_a_corrupted_copy(tmp_path):
    copy = tmp_path / "foldlite.pt"
    shutil.copy(default_weights_path(), copy)
    shutil.copy(str(default_weights_path()) + ".sha256", str(copy) + ".sha256")
    read_checkpoint(copy)  # an intact copy passes
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        read_checkpoint(copy)


def test_truncated_and_foreign_files_name_the_file_and_format(tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(default_weights_path().read_bytes()[:5000])
    with pytest.raises(WeightsError, match=r"truncated\.pt.*format version 1"):
        read_checkpoint(truncated)

    foreign = tmp_path / "foreign.pt"
    # a pickle that would call a function when loaded: weights_only=True must refuse it
    foreign.write_bytes(pickle.dumps(ForeignPayload()))
    with pytest.raises(WeightsError, match="foreign.pt"):
        read_checkpoint(foreign)

    other = tmp_path / "other.pt"
    torch.save({"model": torch.zeros(3)}, other)
    with pytest.raises(WeightsError, match="not a foldlite weights file"):
        read_checkpoint(other)


def test_wrong_version_and_mismatched_keys(tmp_path, tiny_model):
    from conftest import TINY_CONFIG
    from foldlite.model.checkpoint import model_from_checkpoint

    future = tmp_path / "future.pt"
    save_checkpoint({"format_version": FORMAT_VERSION + 1, "config": TINY_CONFIG.to_dict(),
                     "state_dict": tiny_model.state_dict()}, future)
    with pytest.raises(WeightsError, match="format version 2"):
        read_checkpoint(future)
    state = dict(tiny_model.state_dict())
    state.pop("ss3_head.bias")
    with pytest.raises(WeightsError, match="do not match"):
        model_from_checkpoint({"config": TINY_CONFIG.to_dict(), "state_dict": state}, "x.pt")

"""export: a training checkpoint becomes shippable weights and reads back the same."""
from __future__ import annotations

import torch

from foldlite.api import load_model
from foldlite.data.chains import sample_chainset_path
from foldlite.geometry.confidence import Calibration
from foldlite.model.checkpoint import read_checkpoint, save_checkpoint, sha256_of
from foldlite.training.export import KEEP_KEYS, export_weights


def test_export_round_trip(tmp_path, tiny_weights):
    training = dict(read_checkpoint(tiny_weights), optimizer={"state": {}}, step=3, rng={"torch": torch.zeros(2)})
    checkpoint, out = tmp_path / "last.pt", tmp_path / "shipped.pt"
    save_checkpoint(training, checkpoint)
    summary = export_weights(checkpoint, out, calibrate=True, data_path=sample_chainset_path(), num_chains=2,
                             max_length=60)
    shipped = read_checkpoint(out)
    assert set(shipped) == set(KEEP_KEYS) - {"train_config"} | {"calibration"}  # no optimiser, no RNG
    assert shipped["config"] == training["config"]
    assert shipped["state_dict"].keys() == training["state_dict"].keys()
    assert all(torch.equal(shipped["state_dict"][k], v) for k, v in training["state_dict"].items())
    assert shipped["provenance"]["calibration"]["chains"] == 2
    assert (tmp_path / "shipped.pt.sha256").read_text().split() == [sha256_of(out), "shipped.pt"]
    assert sha256_of(out)[:12] in summary
    loaded = load_model(out)  # checksum, format version and strict keys all pass
    assert loaded.calibration == Calibration.from_dict(shipped["calibration"])
    assert loaded.calibration.raw != Calibration().raw  # fitted, not the identity map

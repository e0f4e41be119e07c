"""export: a training checkpoint becomes shippable weights and reads back the same."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from foldlite.api import load_model
from foldlite.data.chains import sample_chainset_path
from foldlite.geometry.confidence import Calibration
from foldlite.geometry.pae import FAR_DISTANCE, PairCalibration, PairErrorSamples, calibrate_pae
from foldlite.model.checkpoint import WeightsError, read_checkpoint, save_checkpoint, sha256_of
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
    # the pairwise maps travel in the file too; two short chains are too few to fit them, so the
    # module's maps are kept and the summary says so
    assert loaded.calibration.pair == PairCalibration.from_dict(shipped["calibration"]["pair"])
    assert "too little data" in summary and shipped["provenance"]["calibration"]["pair"]["folds"] >= 2


def test_pair_calibration_fit_follows_the_observed_errors():
    """Folds whose built distances are off by a known amount: the fitted PAE map must report that
    amount (the raw PAE of an uninformative distogram is far from it), and the maps round-trip."""
    rng = np.random.default_rng(0)
    samples = PairErrorSamples()
    length = 60
    true_cb = np.cumsum(rng.normal(0, 2.2, (length, 3)), axis=0)  # [L, 3] Å, a compact-ish random coil
    distances = np.linalg.norm(true_cb[:, None] - true_cb[None], axis=-1)
    flat = np.full((length, length, 65), 1.0 / 65)  # an uninformative distogram: one raw PAE per pair
    for k in range(24):
        noise = 0.2 * (k + 1)  # Å of coordinate noise, more for later folds
        built = true_cb + rng.normal(0, noise, true_cb.shape)
        samples.add(flat, built, true_cb, tm=1.0 / (1.0 + k))
    pair, fitted = samples.fit()
    assert set(fitted) >= {"pae_near", "ptm"}
    # the near map gives errors of the size actually observed in these folds, not the raw values
    observed = samples.bins["near"][1].sum() / samples.bins["near"][0].sum()
    raw = samples.bins["near"][2].sum() / samples.bins["near"][0].sum()
    mapped = calibrate_pae(np.full((2, 2), raw), np.full((2, 2), 5.0), pair.pae_knots)[0, 1]
    assert abs(mapped - observed) < 0.35 * observed and abs(raw - observed) > 0.5
    assert distances.max() > FAR_DISTANCE
    back = PairCalibration.from_dict(pair.to_dict())
    assert back == pair


def test_export_can_ship_the_current_weights_instead_of_the_average(tmp_path, tiny_weights):
    training = read_checkpoint(tiny_weights)
    current = {k: v + 1.0 if v.is_floating_point() else v for k, v in training["state_dict"].items()}
    checkpoint = tmp_path / "last.pt"
    save_checkpoint(dict(training, train_state_dict=current, optimizer={"state": {}}, step=3), checkpoint)
    export_weights(checkpoint, tmp_path / "average.pt")
    summary = export_weights(checkpoint, tmp_path / "current.pt", current_weights=True)
    average, shipped = read_checkpoint(tmp_path / "average.pt"), read_checkpoint(tmp_path / "current.pt")
    assert all(torch.equal(average["state_dict"][k], v) for k, v in training["state_dict"].items())
    assert all(torch.equal(shipped["state_dict"][k], v) for k, v in current.items())
    assert "train_state_dict" not in shipped and shipped["provenance"]["weights"].startswith("current")
    assert "current weights" in summary
    load_model(tmp_path / "current.pt")


def test_export_of_current_weights_refuses_a_run_without_an_average(tmp_path, tiny_weights):
    with pytest.raises(WeightsError, match="no current weights"):
        export_weights(tiny_weights, tmp_path / "current.pt", current_weights=True)
    assert not (tmp_path / "current.pt").exists()

"""Chain sets (format, crops, targets) and the training loop (logs, checkpoints, resume)."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from foldlite.geometry.backbone import ideal_cb
from foldlite.data.chains import IGNORE_INDEX, ChainSet, make_example, sample_chainset_path
from foldlite.training.sampler import CropSampler
from foldlite.constants import distance_to_class


@pytest.fixture(scope="module")
def sample():
    return ChainSet(sample_chainset_path())


def _tiny_train_config(**changes):
    """A training config small enough for a test: batch 2, crops of 32, evaluation and checkpoint every 2 steps."""
    from dataclasses import replace

    from foldlite.config import TrainConfig

    return replace(TrainConfig(), batch_size=2, crop_start=32, crop_end=32, eval_every=2, eval_chains=2,
                   checkpoint_every=2, warmup_steps=2, **changes)


def _quiet(*_):
    pass


def test_sample_has_only_valid_and_test_chains_and_stays_compact(sample):
    assert set(np.unique(sample.split)) == {1, 2}
    assert sample.xyz.dtype == np.int16 and sample.seq.dtype == np.uint8
    assert sample_chainset_path().stat().st_size < 3_000_000
    assert len(sample) >= 200


def test_chain_coordinates_and_ideal_cb_are_realistic(sample):
    chain = sample.chain(0)
    ca = chain.backbone[:, 1]
    bonds = np.linalg.norm(np.diff(ca, axis=0), axis=1)
    assert np.median(bonds) == pytest.approx(3.80, abs=0.05)
    cb = chain.cb
    # the ideal-Cβ formula is linear in the N-CA-C vectors, so real bond-angle spread moves it a little
    ca_cb = np.linalg.norm(cb - ca, axis=1)
    assert np.median(ca_cb) == pytest.approx(1.52, abs=0.03) and np.all((ca_cb > 1.2) & (ca_cb < 1.9))


def test_example_targets_match_definitions(sample):
    chain = sample.chain(3)
    example = make_example(chain)
    length = len(chain.sequence)
    assert example.distogram.shape == (length, length)
    assert np.all(np.diag(example.distogram) == IGNORE_INDEX)
    cb = ideal_cb(chain.backbone[:, 0], chain.backbone[:, 1], chain.backbone[:, 2])
    i, j = 0, length - 1
    assert example.distogram[i, j] == distance_to_class(np.linalg.norm(cb[i] - cb[j]))
    assert example.ss3.max() <= 2 and example.phi[0] == IGNORE_INDEX and example.psi[-1] == IGNORE_INDEX
    assert example.ca_torsion[0] == IGNORE_INDEX and example.ca_torsion[1] != IGNORE_INDEX


def test_distance_classes_cover_the_range():
    assert distance_to_class(np.array([0.5, 2.0, 2.3, 21.99, 22.0, 40.0])).tolist() == [0, 0, 0, 63, 64, 64]


def test_crops_are_contiguous_and_seeded(sample):
    a = CropSampler(sample, "valid", seed=3)
    b = CropSampler(sample, "valid", seed=3)
    for _ in range(5):
        x, y = a.sample(48), b.sample(48)
        assert x.name == y.name and np.array_equal(x.tokens, y.tokens) and len(x.tokens) <= 48


def test_unknown_split_is_an_error(sample):
    with pytest.raises(ValueError, match="unknown split"):
        sample.indices("training")


def test_training_logs_checkpoints_and_resumes(tmp_path, tiny_trainset):
    from conftest import TINY_CONFIG
    from foldlite.model.checkpoint import read_checkpoint
    from foldlite.training.train import train

    config = _tiny_train_config()
    out = tmp_path / "run"
    quiet = _quiet
    train(out, data_path=tiny_trainset, max_steps=2, model_config=TINY_CONFIG, train_config=config, log=quiet)
    first = read_checkpoint(out / "last.pt")
    assert first["step"] == 2 and (out / "best.pt").exists()
    with pytest.raises(FileExistsError):
        train(out, data_path=tiny_trainset, max_steps=2, model_config=TINY_CONFIG, train_config=config, log=quiet)
    train(out, data_path=tiny_trainset, max_steps=4, resume=True, log=quiet)
    second = read_checkpoint(out / "last.pt")
    assert second["step"] == 4 and second["wall_s"] > first["wall_s"]
    assert not torch.equal(first["state_dict"]["trunk.embed.weight"], second["state_dict"]["trunk.embed.weight"])
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert all(r["valid_q3"] for r in rows)
    # measured training CPU time grows across the resume and excludes evaluations, so it stays below
    # the nominal wall x threads of the whole run
    # (the CSV rounds to 1e-4 hours = 0.36 s, too coarse for two tiny steps: compare the checkpoints')
    train_cpu = [float(r["train_cpu_hours"]) for r in rows]
    assert 0 < first["train_cpu_s"] < second["train_cpu_s"] and train_cpu[0] <= train_cpu[1]
    assert second["train_cpu_s"] == pytest.approx(train_cpu[1] * 3600, abs=2.0)
    provenance = second["provenance"]
    for key in ("command", "steps", "wall_s", "cpu_hours", "seed", "train_split", "valid"):
        assert key in provenance
    # last.pt records its own latest evaluation (not the best checkpoint's), with the step it was made at
    assert provenance["valid"]["valid_step"] == 4
    assert provenance["valid"]["valid_lr_precision"] == pytest.approx(float(rows[-1]["valid_lr_precision"]), abs=1e-4)


def test_training_continues_from_shipped_style_weights(tmp_path, tiny_trainset, tiny_weights):
    """--init-from: weights without optimiser state continue with their step count and clock."""
    from dataclasses import replace

    from foldlite.model.checkpoint import read_checkpoint
    from foldlite.config import TrainConfig
    from foldlite.training.train import train

    out = tmp_path / "continued"
    overrides = {k: v for k, v in vars(replace(TrainConfig(), batch_size=2, crop_start=32, crop_end=32,
                                                eval_every=2, eval_chains=2, warmup_steps=1)).items()}
    train(out, data_path=tiny_trainset, max_steps=2, init_from=tiny_weights, overrides=overrides,
          log=lambda *_: None)
    continued = read_checkpoint(out / "last.pt")
    assert continued["step"] == 2 and continued["provenance"]["steps"] == 2
    assert continued["config"] == read_checkpoint(tiny_weights)["config"]


def test_weight_average_is_validated_shipped_and_resumed(tmp_path, tiny_trainset):
    """--ema-decay: best.pt/last.pt offer the averaged weights, log both, and a resume continues both."""
    from conftest import TINY_CONFIG
    from foldlite.model.checkpoint import model_from_checkpoint, read_checkpoint
    from foldlite.training.train import train

    config = _tiny_train_config(ema_decay=0.5)
    out = tmp_path / "ema"
    quiet = _quiet
    train(out, data_path=tiny_trainset, max_steps=3, model_config=TINY_CONFIG, train_config=config, log=quiet)
    state = read_checkpoint(out / "last.pt")
    key = "trunk.embed.weight"
    assert state["ema_updates"] == 3
    assert torch.equal(state["state_dict"][key], state["ema_state_dict"][key])
    assert not torch.equal(state["state_dict"][key], state["train_state_dict"][key])
    model_from_checkpoint(state)  # the offered weights load as an ordinary model
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert rows[0]["raw_valid_lr_precision"] != "" and rows[0]["valid_lr_precision"] != ""
    train(out, data_path=tiny_trainset, max_steps=4, resume=True, log=quiet)
    resumed = read_checkpoint(out / "last.pt")
    assert resumed["ema_updates"] == 4
    # one more update of the average: 0.5 * old average + 0.5 * new current weights
    expected = 0.5 * state["ema_state_dict"][key] + 0.5 * resumed["train_state_dict"][key]
    assert torch.allclose(resumed["ema_state_dict"][key], expected, atol=1e-6)


def test_a_stop_file_ends_the_run_cleanly_and_is_consumed(tmp_path, tiny_trainset):
    from conftest import TINY_CONFIG
    from foldlite.model.checkpoint import read_checkpoint
    from foldlite.training.train import STOP_FILE, train

    out = tmp_path / "run"
    train(out, data_path=tiny_trainset, max_steps=2, model_config=TINY_CONFIG, train_config=_tiny_train_config(),
          log=_quiet)
    (out / STOP_FILE).touch()
    train(out, data_path=tiny_trainset, max_steps=1000, resume=True, log=_quiet)  # would run 998 more steps
    assert read_checkpoint(out / "last.pt")["step"] == 2
    assert not (out / STOP_FILE).exists()

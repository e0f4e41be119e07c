"""Python API: fold / fold_fasta / load_model and the Prediction object."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import foldlite
from foldlite.api import MAX_LENGTH, MIN_LENGTH, DeviceError, resolve_device
from foldlite.io.fasta import FastaError
from foldlite.io.pdb import read_structure
from foldlite.tokenizer import SequenceError

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


@pytest.fixture(scope="module")
def prediction(model):
    return foldlite.fold(SEQ, model=model, seed=1)


def test_prediction_fields_have_documented_shapes(prediction, model):
    length = len(SEQ)
    cfg = model.network.config.trunk
    assert prediction.structure.coords.shape == (length, 5, 3)
    assert prediction.plddt.shape == (length,) and np.all((prediction.plddt >= 0) & (prediction.plddt <= 100))
    assert prediction.distogram.shape == (length, length, 65)
    np.testing.assert_allclose(prediction.distogram.sum(-1), 1.0, atol=1e-4)
    assert prediction.contacts.shape == (length, length)
    assert len(prediction.secondary_structure) == length and set(prediction.secondary_structure) <= set("HEC")
    assert prediction.attention.shape == (cfg.num_layers * cfg.num_heads, length, length)
    timings = prediction.timings
    assert set(timings) == {"network", "templates", "geometry", "total"}
    assert timings["total"] == pytest.approx(timings["network"] + timings["templates"] + timings["geometry"])
    assert prediction.model_version == model.version and model.sha256[:12] in model.version


def test_consecutive_calpha_are_chain_like(prediction):
    bonds = np.linalg.norm(np.diff(prediction.structure.ca, axis=0), axis=1)
    assert np.all(np.abs(bonds - 3.8) < 0.5)


def test_pdb_and_cif_text_round_trip(prediction, tmp_path):
    for text, suffix in ((prediction.to_pdb(), "pdb"), (prediction.to_cif(), "cif")):
        path = tmp_path / f"p.{suffix}"
        path.write_text(text)
        structure = read_structure(path)
        assert structure.sequence == SEQ
        np.testing.assert_allclose(structure.ca, prediction.structure.ca, atol=1e-3)
        np.testing.assert_allclose(structure.confidence, prediction.plddt, atol=0.01)


def test_same_seed_same_structure_and_models_are_ranked(model):
    a = foldlite.fold(SEQ, model=model, seed=4)
    b = foldlite.fold(SEQ, model=model, seed=4)
    assert np.array_equal(a.structure.coords, b.structure.coords)
    ranked = foldlite.fold_models(SEQ, model=model, seed=4, num_models=3)
    assert [p.rank for p in ranked] == [1, 2, 3]
    assert [p.mean_plddt for p in ranked] == sorted((p.mean_plddt for p in ranked), reverse=True)
    assert len({p.seed for p in ranked}) == 3
    assert not np.array_equal(ranked[0].structure.coords, ranked[1].structure.coords)
    # fold() has one return type: one Prediction, the same as fold_models' only model
    assert isinstance(a, foldlite.Prediction)
    np.testing.assert_array_equal(foldlite.fold_models(SEQ, model=model, seed=4)[0].structure.coords,
                                  a.structure.coords)
    with pytest.raises(ValueError, match="fold_models"):
        foldlite.fold(SEQ, model=model, num_models=3)


def test_the_first_model_does_not_depend_on_the_seed_and_later_models_do(model):
    # model 1 starts from the clean MDS solution in both hands (fold()'s docstring); later models jitter.
    # Models are ranked by pLDDT, so each is found by its own seed (seed, seed + 1).
    runs = {seed: foldlite.fold_models(SEQ, model=model, seed=seed, num_models=2, templates=None) for seed in (0, 7)}

    def coords(seed, model_seed):
        return next(p for p in runs[seed] if p.seed == model_seed).structure.coords

    np.testing.assert_array_equal(coords(0, 0), coords(7, 7))
    assert not np.array_equal(coords(0, 1), coords(7, 8))


def test_fold_fasta_streams_predictions(model, tmp_path):
    fasta = tmp_path / "two.fasta"
    fasta.write_text(f">a\n{SEQ}\n>b\n{SEQ[:20]}\n")
    stream = foldlite.fold_fasta(fasta, model=model, keep_attention=False)
    assert inspect.isgenerator(stream)
    first = next(stream)
    assert first.id == "a" and first.attention is None
    assert next(stream).id == "b"


def test_bad_sequences_and_lengths_raise_clear_errors(model):
    with pytest.raises(SequenceError, match="position 3"):
        foldlite.fold("MK1TAYIAKQRQ", model=model)
    with pytest.raises(FastaError, match=str(MIN_LENGTH)):
        foldlite.fold("MKTA", model=model)
    with pytest.raises(FastaError, match=str(MAX_LENGTH)):
        foldlite.fold("A" * (MAX_LENGTH + 1), model=model)
    with pytest.raises(ValueError, match="num_models"):
        foldlite.fold_models(SEQ, model=model, num_models=0)


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(DeviceError):
        resolve_device("tpu")


def test_save_plot_and_view(prediction, tmp_path):
    paths = prediction.save(tmp_path)
    assert set(paths) == {"structure", "json", "distogram", "plot"}
    with pytest.raises(FileExistsError):
        prediction.save(tmp_path)
    figure = prediction.plot()
    assert len(figure.axes) >= 3
    view = prediction.view()
    import py3Dmol

    assert isinstance(view, py3Dmol.view)


def test_calibration_keeps_ranking_beyond_its_fitted_range():
    from foldlite.geometry.confidence import Calibration

    calibration = Calibration(raw=(0.1, 0.3), plddt=(15.0, 40.0))
    scores = calibration(np.array([0.0, 0.05, 0.1, 0.3, 0.6, 0.9, 1.0]))
    assert scores[0] == 0.0 and scores[-1] == 100.0
    assert np.all(np.diff(scores) > 0)  # no clamping: a more certain structure never scores lower


def test_predicted_structures_are_centred(prediction):
    np.testing.assert_allclose(prediction.structure.ca.mean(axis=0), 0.0, atol=1e-6)


def test_only_template_restrained_folds_use_the_shorter_refinement(model, library, chainset, monkeypatch):
    import foldlite.api as api
    from foldlite.geometry.reconstruct import POLISH_STEPS, RESTRAINED_SCHEDULE, STEPS

    seen = []
    real = api.reconstruct

    def spy(*args, **kwargs):
        seen.append((kwargs.get("steps", STEPS), kwargs.get("polish_steps", POLISH_STEPS)))
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "reconstruct", spy)
    sequence = chainset.chain(int(np.flatnonzero(chainset.lengths >= 40)[0])).sequence
    restrained = foldlite.fold(sequence, model=model, templates=library)  # finds itself: restrained
    alone = foldlite.fold(sequence, model=model, templates=None)
    assert restrained.restrained_distogram is not None and alone.restrained_distogram is None
    assert seen == [(RESTRAINED_SCHEDULE["steps"], RESTRAINED_SCHEDULE["polish_steps"]), (STEPS, POLISH_STEPS)]
    assert RESTRAINED_SCHEDULE["steps"] < STEPS

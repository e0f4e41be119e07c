"""Pairwise confidence: predicted distance error matrix and pTM from a distogram and a built structure."""
from __future__ import annotations

import numpy as np

from foldlite.geometry import pae as pae_module
from foldlite.constants import DISTOGRAM_EDGES, distance_to_class
from foldlite.geometry.pae import FAR_DISTANCE, calibrate_pae, calibrate_ptm, pairwise_errors, predicted_errors, raw_ptm


def _helix_cb(length: int) -> np.ndarray:
    t = np.arange(length) * np.deg2rad(100.0)
    return np.stack([2.3 * np.cos(t), 2.3 * np.sin(t), 1.5 * np.arange(length)], axis=-1)  # [L, 3] Å


def _one_hot_distogram(distances: np.ndarray) -> np.ndarray:
    classes = distance_to_class(distances)  # [L, L]
    return np.eye(len(DISTOGRAM_EDGES))[classes]  # [L, L, 65]


def test_distogram_that_agrees_with_the_model_gives_small_errors_and_high_ptm():
    cb = _helix_cb(30)
    distances = np.linalg.norm(cb[:, None] - cb[None], axis=-1)
    errors, tm_term = pairwise_errors(_one_hot_distogram(distances), cb)
    assert errors.shape == (30, 30)
    near = distances < 22.0
    assert errors[near].max() <= 0.5 * (DISTOGRAM_EDGES[1] - DISTOGRAM_EDGES[0]) + 1e-4
    assert np.all(errors[~near] == 0.0)  # both beyond 22 Å: they agree as far as the distogram can tell
    assert raw_ptm(tm_term) > 0.95


def test_errors_grow_with_the_disagreement_and_are_symmetric():
    cb = _helix_cb(25)
    distances = np.linalg.norm(cb[:, None] - cb[None], axis=-1)
    shifted = _one_hot_distogram(np.clip(distances + 5.0, 0, 21.9))
    errors, tm_term = pairwise_errors(shifted, cb)
    close = (distances > 3) & (distances < 15)
    np.testing.assert_allclose(errors[close], 5.0, atol=0.2)
    np.testing.assert_allclose(errors, errors.T)
    assert np.all(np.diag(errors) == 0) and np.all(errors >= 0)
    agreeing = raw_ptm(pairwise_errors(_one_hot_distogram(distances), cb)[1])
    assert raw_ptm(tm_term) < agreeing


def test_uniform_distogram_is_uncertain():
    cb = _helix_cb(40)
    uniform = np.full((40, 40, 65), 1.0 / 65)
    errors, tm_term = pairwise_errors(uniform, cb)
    assert errors[np.triu_indices(40, 1)].mean() > 4.0
    assert raw_ptm(tm_term) < 0.5


def test_row_chunks_give_the_same_matrix(monkeypatch):
    rng = np.random.default_rng(0)
    cb = _helix_cb(23)
    probs = rng.random((23, 23, 65))
    probs /= probs.sum(-1, keepdims=True)
    whole = pairwise_errors(probs, cb)
    monkeypatch.setattr(pae_module, "ROW_CHUNK", 5)
    chunked = pairwise_errors(probs, cb)
    np.testing.assert_allclose(whole[0], chunked[0], rtol=1e-6)
    np.testing.assert_allclose(whole[1], chunked[1], rtol=1e-6)


def test_ptm_calibration_is_monotone_and_bounded():
    raw = np.linspace(0, 1, 101)
    calibrated = calibrate_ptm(raw)
    assert np.all(np.diff(calibrated) >= 0)
    assert calibrated.min() >= 0 and calibrated.max() <= 1
    pae, ptm = predicted_errors(np.full((12, 12, 65), 1.0 / 65), _helix_cb(12))
    assert pae.shape == (12, 12) and 0.0 <= ptm <= 1.0


def test_pae_calibration_maps_each_distance_regime_monotonically():
    knots = {"near": ((1.0, 5.0), (2.0, 8.0)), "far": ((1.0, 5.0), (10.0, 20.0))}
    raw = np.array([[0.0, 3.0, 3.0], [3.0, 0.0, 9.0], [3.0, 9.0, 0.0]])  # [3, 3] Å
    built = np.array([[0.0, 10.0, 30.0], [10.0, 0.0, 30.0], [30.0, 30.0, 0.0]])  # [3, 3] Å
    calibrated = calibrate_pae(raw, built, knots)
    assert calibrated[0, 1] == calibrated[1, 0] == 5.0  # near: halfway between 2 and 8
    assert calibrated[0, 2] == 15.0  # far: same raw value, the far regime's knots
    assert calibrated[1, 2] == 9.0 + (20.0 - 5.0)  # beyond the last knot: the last offset is kept
    assert np.all(np.diag(calibrated) == 0.0)
    shipped = calibrate_pae(np.tile(np.linspace(0, 30, 61), (61, 1)), np.full((61, 61), FAR_DISTANCE - 1.0))
    row = shipped[0, 1:]  # [60] off the diagonal
    assert np.all(np.diff(row) >= 0) and np.all(row > 0)


def test_predicted_errors_are_calibrated_and_symmetric():
    cb = _helix_cb(30)
    probs = np.full((30, 30, 65), 1.0 / 65)
    pae, _ = predicted_errors(probs, cb)
    raw, _ = pairwise_errors(probs, cb)
    built = np.linalg.norm(cb[:, None] - cb[None], axis=-1)
    np.testing.assert_allclose(pae, calibrate_pae(raw, built), rtol=1e-5)
    np.testing.assert_allclose(pae, pae.T, rtol=1e-5)

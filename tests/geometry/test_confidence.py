"""pLDDT: the raw expected lDDT of a built structure, the isotonic calibration fit and the map it gives."""
from __future__ import annotations

import numpy as np
import pytest

from foldlite.constants import DISTOGRAM_EDGES, LDDT_THRESHOLDS
from foldlite.geometry.confidence import INCLUSION_RADIUS, Calibration, expected_lddt, fit_calibration


def _cdf(row: np.ndarray, x: float) -> float:
    """P(d < x) for one pair's 65 probabilities, mass spread evenly inside each distance bin."""
    x = min(max(x, DISTOGRAM_EDGES[0]), DISTOGRAM_EDGES[-1])
    total = 0.0
    for k in range(len(DISTOGRAM_EDGES) - 1):
        lo, hi = DISTOGRAM_EDGES[k], DISTOGRAM_EDGES[k + 1]
        total += row[k] * min(max((x - lo) / (hi - lo), 0.0), 1.0)
    return total


def test_expected_lddt_follows_its_definition_pair_by_pair():
    # written out with loops: each partner j weighted by P(d_ij < 15 Å), scored by the chance that the
    # true distance is within each lDDT threshold of the built one
    rng = np.random.default_rng(0)
    length = 7
    probs = rng.dirichlet(np.full(65, 0.3), (length, length)).astype(np.float32)
    cb = rng.normal(0.0, 6.0, (length, 3))
    built = np.linalg.norm(cb[:, None] - cb[None], axis=-1)
    expected = np.zeros(length)
    for i in range(length):
        weights = np.array([0.0 if j == i else _cdf(probs[i, j], INCLUSION_RADIUS) for j in range(length)])
        scores = np.array([np.mean([_cdf(probs[i, j], built[i, j] + t) - _cdf(probs[i, j], built[i, j] - t)
                                    for t in LDDT_THRESHOLDS]) for j in range(length)])
        expected[i] = (weights * scores).sum() / weights.sum()
    np.testing.assert_allclose(expected_lddt(probs, cb), expected, atol=1e-5)


def test_expected_lddt_is_high_where_the_distogram_agrees_with_the_structure():
    rng = np.random.default_rng(1)
    cb = np.cumsum(rng.normal(0.0, 2.2, (30, 3)), axis=0)
    built = np.linalg.norm(cb[:, None] - cb[None], axis=-1)
    agreeing = np.zeros((30, 30, 65), np.float32)
    agreeing[np.arange(30)[:, None], np.arange(30)[None], np.clip(np.searchsorted(DISTOGRAM_EDGES, built) - 1, 0, 64)] = 1.0
    shifted = np.roll(agreeing, 12, axis=-1)  # every distance ~3.75 Å off
    assert expected_lddt(agreeing, cb).mean() > 0.9
    assert expected_lddt(shifted, cb).mean() < expected_lddt(agreeing, cb).mean() - 0.3
    assert expected_lddt(agreeing, cb[:1]).shape == (1,)


def test_fit_calibration_pools_adjacent_violators():
    raw = np.repeat([0.1, 0.2, 0.3, 0.4], 10)
    true = np.repeat([0.2, 0.5, 0.4, 0.9], 10)
    calibration = fit_calibration(raw, true, num_knots=4)
    # bins 2 and 3 (lDDT 0.5 then 0.4) break monotonicity: pooled to 0.45 at their mean raw score 0.25
    assert calibration.raw == pytest.approx((0.1, 0.25, 0.4))
    assert calibration.plddt == pytest.approx((20.0, 45.0, 90.0))
    assert calibration(np.array([0.1, 0.175, 0.4, 1.0])) == pytest.approx([20.0, 32.5, 90.0, 100.0])


def test_fit_calibration_ignores_non_finite_values_and_round_trips():
    raw = np.array([0.2, np.nan, 0.4, 0.6, 0.8])
    true = np.array([0.3, 0.5, np.inf, 0.6, 0.9])
    calibration = fit_calibration(raw, true, num_knots=3)
    assert calibration.raw == pytest.approx((0.2, 0.6, 0.8))
    assert Calibration.from_dict(calibration.to_dict()) == calibration


def test_template_restrained_folds_get_their_own_map_which_survives_a_round_trip():
    single = Calibration((0.2, 0.6), (20.0, 60.0))
    both = Calibration(single.raw, single.plddt, restrained=Calibration((0.2, 0.6), (40.0, 80.0)))
    raw = np.array([0.2, 0.4, 0.6])
    assert np.allclose(both.for_fold(False)(raw), single(raw))
    assert np.allclose(both.for_fold(True)(raw), [40.0, 60.0, 80.0])
    assert single.for_fold(True) is single  # weights without the second map use the one they have
    assert Calibration.from_dict(both.to_dict()) == both
    assert Calibration.from_dict(single.to_dict()) == single and "restrained" not in single.to_dict()


def test_read_only_and_strided_inputs_give_the_same_scores_without_warnings(tmp_path):
    import warnings

    from foldlite.geometry.pae import pairwise_errors

    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.full(65, 0.5), (12, 12)).astype(np.float32)
    cb = rng.normal(0.0, 5.0, (12, 3))
    np.save(tmp_path / "probs.npy", probs)
    mapped = np.load(tmp_path / "probs.npy", mmap_mode="r")  # read-only
    flipped = np.ascontiguousarray(probs[::-1, ::-1])[::-1, ::-1]  # negative strides, same values
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for variant in (mapped, flipped):
            np.testing.assert_array_equal(expected_lddt(variant, cb), expected_lddt(probs, cb))
            np.testing.assert_array_equal(pairwise_errors(variant, cb)[0], pairwise_errors(probs, cb)[0])

"""pLDDT calibration: the isotonic fit and the map it gives."""
from __future__ import annotations

import numpy as np
import pytest

from foldlite.geometry.confidence import Calibration, fit_calibration


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

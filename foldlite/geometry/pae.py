"""Pairwise confidence: predicted distance error (PAE matrix, Å) and a pTM-like global score.

Derived, not learned: the predicted Cβ distogram says how far apart residues i and j probably are,
the built structure says how far apart they are in the model. Under the distogram,

    PAE[i, j] = E |d_true(i, j) - d_built(i, j)|                                  (Å, symmetric)

is the expected error of that model distance: a predicted *distance* error, not AlphaFold's aligned
error (which needs a learned head). The "> 22 Å" class is placed at max(d_built, 22 Å), so it adds
error only where the model puts a pair closer than 22 Å; two residues the model keeps far apart and
the distogram also puts beyond 22 Å count as agreeing.

The raw expectation is then mapped to the error actually observed (PairCalibration, fitted on the
valid split with the weights it ships in; PAE_CALIBRATION for weights files that hold none): separately for pairs the model puts closer than 22 Å, where the distogram sees the
true distance, and for pairs it puts further apart, where the distogram's "> 22 Å" class cannot say
by how much it is wrong (raw PAE near 0 there came with ~3.5 Å of observed error).

pTM: TM-score's pair term 1 / (1 + (e / d0(L))^2) averaged under the distogram gives, per pair, the
chance-weighted TM contribution of that model distance; its mean over residue pairs is the raw
score, mapped to a predicted TM-score by a monotone piecewise-linear calibration fitted on the
valid split (PairCalibration; `foldlite export --calibrate` fits both maps). Pearson r against true TM-score on the test
split is in the README.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..constants import DISTOGRAM_CENTERS, DISTOGRAM_MAX
from .monotone import equal_count_knots
from .vectors import pairwise_distances

ROW_CHUNK = 16  # rows of the [L, L, 65] distogram handled at once: bounds memory at long L, and keeps
# each chunk's temporaries (16 x 301 x 64 float32, 1.2 MB) in cache: 14 ms instead of 28 with 128 rows at L = 301


def _tm_d0(length: int) -> float:
    """TM-score's distance scale d0(L) in Å, as foldlite's metrics compute it (the evaluation stage
    comes after this one, so the three-line formula is repeated rather than imported)."""
    return 0.5 if length <= 15 else max(0.5, 1.24 * (length - 15) ** (1.0 / 3.0) - 1.8)


def _error_terms(probs: np.ndarray, built: np.ndarray, d0: float) -> tuple[np.ndarray, np.ndarray]:
    """(E|d - b|, E[1 / (1 + ((d - b) / d0)^2)]) for probs [R, L, 65] and built distances b [R, L] Å."""
    centers = DISTOGRAM_CENTERS.astype(np.float32)
    # [R, L, 64] |bin centre - built distance|, then the overflow class at max(b, 22 Å)
    error_bins = np.abs(centers - built[..., None])
    error_over = np.maximum(DISTOGRAM_MAX - built, 0.0)  # [R, L]
    bins, over = probs[..., :-1], probs[..., -1]
    expected = np.einsum("rlk,rlk->rl", bins, error_bins) + over * error_over  # [R, L] Å
    error_bins *= np.float32(1.0 / d0)  # in place: [R, L, 64] -> TM terms
    np.square(error_bins, out=error_bins)
    error_bins += 1.0
    np.reciprocal(error_bins, out=error_bins)
    tm_over = 1.0 / (1.0 + (error_over / d0) ** 2)  # [R, L]
    tm_term = np.einsum("rlk,rlk->rl", bins, error_bins) + over * tm_over  # [R, L] in [0, 1]
    return expected, tm_term


def pairwise_errors(distogram_probs: np.ndarray, cb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(PAE [L, L] Å, TM pair term [L, L] in [0, 1]) from distogram_probs [L, L, 65] and built Cβ [L, 3] Å.

    Both are symmetrised ((x + x^T) / 2: the distogram is nearly, not exactly, symmetric) and 0 / 1 on
    the diagonal.
    """
    length = len(cb)
    d0 = _tm_d0(length)
    pae = np.zeros((length, length), np.float32)
    tm_term = np.ones((length, length), np.float32)
    built = pairwise_distances(cb, np.float32)  # [L, L] Å
    for start in range(0, length, ROW_CHUNK):
        rows = slice(start, min(start + ROW_CHUNK, length))
        probs = np.asarray(distogram_probs[rows], np.float32)  # [R, L, 65]
        pae[rows], tm_term[rows] = _error_terms(probs, built[rows], d0)
    pae = 0.5 * (pae + pae.T)
    tm_term = 0.5 * (tm_term + tm_term.T)
    np.fill_diagonal(pae, 0.0)
    np.fill_diagonal(tm_term, 1.0)
    return pae, tm_term


def raw_ptm(tm_term: np.ndarray) -> float:
    """Mean TM pair term over pairs i != j: the uncalibrated pTM in [0, 1]."""
    length = len(tm_term)
    if length < 2:
        return 0.0
    return float((tm_term.sum() - np.trace(tm_term)) / (length * (length - 1)))


# The maps for weights files without their own (PairCalibration.from_dict(None)). raw pTM -> TM-score
# knots, fitted on the valid split with the weights of 17c6c4a5691a (also bd9e0493cd76, dd1d588a7dc9): 80 folds
# of 40 chains (40-200 residues), single sequence and with templates, `python tools/calibrate_pae.py
# --split valid --limit 40 --lengths 40-200 --fit` (results/pae_calibration_valid.txt). PAE_CALIBRATION
# below comes from the same run.
PTM_CALIBRATION = ((0.5114, 0.6065, 0.6483, 0.7354, 0.8527, 0.9142), (0.1848, 0.1962, 0.1969, 0.4746, 0.6671, 0.8593))


def calibrate_ptm(raw: float | np.ndarray, knots=PTM_CALIBRATION) -> np.ndarray:
    """Monotone piecewise-linear map raw pTM -> predicted TM-score in [0, 1] (anchored at 0 and 1)."""
    xs, ys = list(knots[0]), list(np.maximum.accumulate(knots[1]))
    if xs[0] > 0.0:
        xs, ys = [0.0] + xs, [0.0] + ys
    if xs[-1] < 1.0:
        xs, ys = xs + [1.0], ys + [1.0]
    return np.clip(np.interp(raw, xs, ys), 0.0, 1.0)


# raw PAE (Å) -> mean observed |d_true - d_model| (Å), per regime of the model's Cβ distance:
# "near" (< FAR_DISTANCE) and "far": the valid fit's 1 Å bins (>= 50 pairs), raw bin mean -> observed
# mean made monotone by a pair-weighted isotonic regression (see PTM_CALIBRATION for the command).
FAR_DISTANCE = 22.0  # Å, where the distogram's overflow class begins
PAE_CALIBRATION = {
    "near": ((0.75, 1.41, 2.53, 3.54, 4.45, 5.46, 6.47, 7.47, 8.47, 9.47, 10.47, 11.46, 12.45, 13.45, 14.45,
              15.44, 16.42, 17.41),
             (1.1, 2.9, 5.85, 6.6, 6.9, 7.85, 8.74, 9.75, 10.57, 11.81, 12.81, 13.92, 15.18, 16.48, 17.75,
              18.8, 19.41, 21.61)),
    "far": ((0.3, 1.55, 2.55, 3.51, 4.48, 5.47, 6.46, 7.46, 8.45, 9.47, 10.47, 11.48, 12.47, 13.47, 14.46,
             15.47, 16.47, 17.47, 18.47, 19.52, 49.88),
            (6.54, 10.84, 10.84, 10.84, 10.84, 10.84, 11.32, 12.29, 13.52, 15.07, 16.81, 17.82, 18.86, 20.66,
             21.79, 23.89, 28.08, 31.5, 36.66, 40.66, 85.25)),
}


def calibrate_pae(raw: np.ndarray, built: np.ndarray, knots=PAE_CALIBRATION) -> np.ndarray:
    """Raw PAE [L, L] Å -> calibrated PAE [L, L] Å given the model's Cβ distances built [L, L] Å.

    Monotone piecewise-linear per regime; beyond the last knot the raw value keeps the last offset.
    """
    calibrated = np.empty_like(raw)
    for regime, mask in (("near", built < FAR_DISTANCE), ("far", built >= FAR_DISTANCE)):
        xs = np.asarray(knots[regime][0], dtype=np.float64)
        ys = np.maximum.accumulate(np.asarray(knots[regime][1], dtype=np.float64))
        values = raw[mask]
        mapped = np.interp(values, xs, ys)
        beyond = values > xs[-1]
        mapped[beyond] = values[beyond] + (ys[-1] - xs[-1])
        calibrated[mask] = mapped
    np.fill_diagonal(calibrated, 0.0)
    return calibrated


MIN_PAIRS_PER_KNOT = 50  # a 1 Å bin of raw PAE with fewer pairs gives no knot
MIN_FOLDS_PTM = 20  # folds needed to fit the pTM map
ERROR_BIN_EDGES = np.arange(0.0, 21.0, 1.0)  # Å, raw PAE bins of the fit (the last one open)


@dataclass(frozen=True)
class PairCalibration:
    """The two maps of the pairwise confidence: raw pTM -> TM-score, raw PAE -> observed error (Å)
    per regime of model distance. Weights files carry their own (calibration["pair"]); files from
    before that get the module's PTM_CALIBRATION and PAE_CALIBRATION."""

    ptm: tuple = PTM_CALIBRATION
    pae_near: tuple = PAE_CALIBRATION["near"]
    pae_far: tuple = PAE_CALIBRATION["far"]

    @property
    def pae_knots(self) -> dict:
        return {"near": self.pae_near, "far": self.pae_far}

    def to_dict(self) -> dict:
        return {name: [list(map(float, xs)), list(map(float, ys))]
                for name, (xs, ys) in (("ptm", self.ptm), ("pae_near", self.pae_near), ("pae_far", self.pae_far))}

    @classmethod
    def from_dict(cls, data: dict | None) -> "PairCalibration":
        if not data:
            return cls()
        return cls(**{name: (tuple(map(float, data[name][0])), tuple(map(float, data[name][1])))
                      for name in ("ptm", "pae_near", "pae_far")})


class PairErrorSamples:
    """What a pair-calibration fit needs from folds of known structures: per regime, the count, summed
    observed error and summed raw PAE of residue pairs in 1 Å bins of raw PAE; per fold, raw pTM and
    the true TM-score."""

    def __init__(self):
        self.bins = {regime: np.zeros((3, len(ERROR_BIN_EDGES))) for regime in ("near", "far")}
        self.raw_ptm: list[float] = []
        self.tm: list[float] = []

    def add(self, distogram_probs: np.ndarray, built_cb: np.ndarray, true_cb: np.ndarray, tm: float) -> None:
        """One fold: distogram [L, L, 65] it was built from, its Cβ [L, 3] Å, the true Cβ [L, 3] Å
        (NaN rows are skipped) and its true TM-score."""
        pae, tm_term = pairwise_errors(distogram_probs, built_cb)
        i, j = np.triu_indices(len(built_cb), 1)
        built = np.linalg.norm(built_cb[i] - built_cb[j], axis=-1)  # [P] Å
        observed = np.abs(np.linalg.norm(true_cb[i] - true_cb[j], axis=-1) - built)  # [P] Å
        raw, known = pae[i, j], np.isfinite(observed)
        index = np.clip(np.searchsorted(ERROR_BIN_EDGES, raw, side="right") - 1, 0, len(ERROR_BIN_EDGES) - 1)
        for regime, keep in (("near", known & (built < FAR_DISTANCE)), ("far", known & (built >= FAR_DISTANCE))):
            for row, values in enumerate((np.ones_like(raw), observed, raw)):
                np.add.at(self.bins[regime][row], index[keep], values[keep])
        self.raw_ptm.append(raw_ptm(tm_term))
        self.tm.append(float(tm))

    def fit(self, fallback: PairCalibration = PairCalibration()) -> tuple[PairCalibration, list[str]]:
        """Pair-weighted isotonic fits of observed error on raw PAE (bins with >= MIN_PAIRS_PER_KNOT
        pairs; a bin of one odd chain must not lift every bin after it) and of TM-score on raw pTM.
        A map without enough data (2 bins, MIN_FOLDS_PTM folds) stays fallback's; returns the
        calibration and the names of the maps fitted here."""
        from scipy.optimize import isotonic_regression

        maps, fitted = {}, []
        for regime in ("near", "far"):
            count, observed, raw = self.bins[regime]
            keep = count >= MIN_PAIRS_PER_KNOT
            if keep.sum() >= 2:
                values = isotonic_regression(observed[keep] / count[keep], weights=count[keep]).x
                maps[f"pae_{regime}"] = (tuple(np.round(raw[keep] / count[keep], 3)), tuple(np.round(values, 3)))
                fitted.append(f"pae_{regime}")
        if len(self.tm) >= MIN_FOLDS_PTM:
            xs, ys = equal_count_knots(np.array(self.raw_ptm), np.array(self.tm), num_knots=8)
            maps["ptm"] = (tuple(round(x, 4) for x in xs), tuple(round(y, 4) for y in ys))
            fitted.append("ptm")
        return replace(fallback, **maps), fitted


def predicted_errors(distogram_probs: np.ndarray, cb: np.ndarray,
                     calibration: PairCalibration = PairCalibration()) -> tuple[np.ndarray, float]:
    """(calibrated PAE [L, L] Å, pTM in [0, 1]) for a built structure: what fold() stores on the Prediction."""
    pae, tm_term = pairwise_errors(distogram_probs, cb)
    built = pairwise_distances(cb)  # [L, L] Å
    return (calibrate_pae(pae, built, calibration.pae_knots).astype(np.float32),
            float(calibrate_ptm(raw_ptm(tm_term), calibration.ptm)))

"""Per-residue confidence (pLDDT, 0-100) from the predicted distogram and the built structure.

The raw score is the model's own expectation of the Cβ lDDT of the structure it built: for each
residue i and each partner j that the distogram places within 15 Å, the probability that the true
distance lies within 0.5 / 1 / 2 / 4 Å of the built distance d_ij, averaged over thresholds and
weighted by P(d_ij^true < 15 Å). It is then mapped to pLDDT with a monotone piecewise-linear
calibration fitted on the valid split (true lDDT-Cα of predicted structures; `fit_calibration`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..constants import DISTOGRAM_EDGES, LDDT_THRESHOLDS
from .monotone import equal_count_knots
from .pae import PairCalibration
from .vectors import pairwise_distances

INCLUSION_RADIUS = 15.0  # Å


def _cumulative(probs: np.ndarray) -> np.ndarray:
    """CDF at the 65 bin edges, flat: [L * L * 65] with entry (i L + j) 65 + k = P(d_ij < DISTOGRAM_EDGES[k])
    (the overflow class lies beyond the last edge)."""
    cdf = np.zeros(probs.shape, np.float32)
    np.cumsum(probs[..., :-1], axis=-1, out=cdf[..., 1:])
    return cdf.reshape(-1)


def _cdf_at(cdf: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """P(d < distance) by linear interpolation of the CDF between bin edges; distance [L, L] Å."""
    width = float(DISTOGRAM_EDGES[1] - DISTOGRAM_EDGES[0])
    position = (np.clip(distance, float(DISTOGRAM_EDGES[0]), float(DISTOGRAM_EDGES[-1]))
                - float(DISTOGRAM_EDGES[0])) / width
    low = np.minimum(position.astype(np.intp), len(DISTOGRAM_EDGES) - 2)
    frac = position - low
    index = low + _pair_offsets(distance.shape[0])  # flat index of (i, j, low)
    below, above = cdf.take(index), cdf.take(index + 1)
    return below + frac * (above - below)


def _pair_offsets(length: int) -> np.ndarray:
    """[L, L] flat offset of pair (i, j) in a flattened [L, L, 65] array."""
    return (np.arange(length * length, dtype=np.intp) * len(DISTOGRAM_EDGES)).reshape(length, length)


def expected_lddt(distogram_probs: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """Raw per-residue confidence in [0, 1]: distogram_probs [L, L, 65], built Cβ [L, 3] Å -> [L]."""
    return ExpectedLddt(distogram_probs)(cb)


class ExpectedLddt:
    """expected_lddt against one distogram [L, L, 65]: its cumulative distribution, the costly part
    (~25 ms at L = 301), is made once, here, and each structure then costs ~10 ms."""

    def __init__(self, distogram_probs: np.ndarray):
        self.length = length = len(distogram_probs)
        if length < 2:
            return
        self.cdf = _cumulative(np.asarray(distogram_probs, np.float32))  # [L * L * 65]
        in_radius = _cdf_at(self.cdf, np.full((length, length), INCLUSION_RADIUS, np.float32))  # P(d_true < 15 Å)
        np.fill_diagonal(in_radius, 0.0)
        self.in_radius = in_radius  # [L, L]
        self.weight = np.maximum(in_radius.sum(1), 1e-6)  # [L]

    def __call__(self, cb: np.ndarray) -> np.ndarray:
        """Built Cβ [L, 3] Å -> raw per-residue confidence [L] in [0, 1]."""
        if self.length < 2 or len(cb) < 2:
            return np.zeros(len(cb))
        built = pairwise_distances(cb).astype(np.float32)  # [L, L]
        score = np.zeros_like(built)
        for t in LDDT_THRESHOLDS:
            score += _cdf_at(self.cdf, built + t) - _cdf_at(self.cdf, built - t)
        score /= len(LDDT_THRESHOLDS)
        return ((score * self.in_radius).sum(1) / self.weight).astype(np.float64)

    def of_each(self, cbs: list[np.ndarray]) -> list[np.ndarray]:
        """One [L] score per structure of cbs (each [L, 3] Å)."""
        return [self(cb) for cb in cbs]


@dataclass(frozen=True)
class Calibration:
    """Monotone piecewise-linear map raw score (0-1) -> pLDDT (0-100), knots sorted by raw score."""

    raw: tuple[float, ...] = (0.0, 1.0)
    plddt: tuple[float, ...] = (0.0, 100.0)
    # The map for folds whose geometry was restrained by templates, fitted on such folds: the same raw
    # agreement means more there (the restraints come from a real structure). None: use this one.
    restrained: "Calibration | None" = None
    # PAE and pTM maps fitted with the same weights (foldlite.geometry.pae); files from before they were
    # stored get the module's maps
    pair: PairCalibration = field(default_factory=PairCalibration)

    def for_fold(self, restrained: bool) -> "Calibration":
        """The map for a fold with (restrained=True) or without template restraints."""
        return self.restrained if restrained and self.restrained is not None else self

    def __call__(self, raw_scores: np.ndarray) -> np.ndarray:
        # Outside the fitted range the map runs linearly to the anchors raw 0 -> 0 and raw 1 -> 100 (a
        # distogram that is certain of the built distances). Without them, every score above the
        # highest fitted knot would be clamped to one value, e.g. all template-based folds alike.
        raw, plddt = list(self.raw), list(self.plddt)
        if raw[0] > 0.0:
            raw, plddt = [0.0] + raw, [0.0] + plddt
        if raw[-1] < 1.0:
            raw, plddt = raw + [1.0], plddt + [100.0]
        return np.clip(np.interp(raw_scores, raw, np.maximum.accumulate(plddt)), 0.0, 100.0)

    def to_dict(self) -> dict:
        data = {"raw": list(self.raw), "plddt": list(self.plddt)}
        if self.restrained is not None:
            data["restrained"] = {k: v for k, v in self.restrained.to_dict().items() if k != "pair"}
        data["pair"] = self.pair.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict | None) -> "Calibration":
        if not data:
            return cls()
        return cls(tuple(float(v) for v in data["raw"]), tuple(float(v) for v in data["plddt"]),
                   cls.from_dict(data["restrained"]) if data.get("restrained") else None,
                   PairCalibration.from_dict(data.get("pair")))


def fit_calibration(raw_scores: np.ndarray, true_lddt: np.ndarray, num_knots: int = 12) -> Calibration:
    """Fit raw -> 100 * true lDDT: means in `num_knots` equal-count bins, made monotone by isotonic
    regression (foldlite.geometry.monotone)."""
    knots_x, knots_y = equal_count_knots(raw_scores, 100.0 * np.asarray(true_lddt, dtype=np.float64), num_knots)
    return Calibration(knots_x, knots_y)

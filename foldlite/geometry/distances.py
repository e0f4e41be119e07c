"""Step 1 of the geometry: distogram <-> distances, and soft distributions made from known values.

`expected_distances` turns the predicted distogram [L, L, 65] into one expected Cβ–Cβ distance and a
confidence per pair (what MDS starts from); `distogram_from_distances` and
`torsion_probs_from_angles` go the other way (a template's or a test's known geometry as soft
probabilities). Shapes: L residues; distances in Å; angles in radians.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..constants import (DISTOGRAM_BINS, DISTOGRAM_CENTERS, DISTOGRAM_MAX, FAR_DISTANCE, TORSION_CENTERS,
                         TORSION_EDGES)

# Knots of the distance potential: the 64 bin centres plus the overflow class placed one bin
# width further (22.47 Å); the potential is flat beyond it ("anything > 22 Å is equally likely").
BIN_WIDTH = float(DISTOGRAM_CENTERS[1] - DISTOGRAM_CENTERS[0])  # 0.3125 Å
KNOTS = np.append(DISTOGRAM_CENTERS, DISTOGRAM_CENTERS[-1] + BIN_WIDTH)  # [65] Å
TORSION_WIDTH = float(TORSION_EDGES[1] - TORSION_EDGES[0])


# The standard normal CDF in float32 (template restraints: millions of values per fold): tabulated
# on a fine grid (Φ(z) = erfc(-z / √2) / 2 from the C library, ~5 ms once) and interpolated linearly,
# ~2x faster than scipy's ndtr and without importing scipy.special (~0.05 s of every fold's start).
# Error <= step² / 8 * max|Φ''| = 3e-8, below float32's resolution (6e-8 at 1); beyond ±8 Φ is 0 or 1.
_CDF_STEP = 1.0 / 1024
_CDF_LIMIT = 8.0


@functools.lru_cache(maxsize=None)
def _cdf_table() -> tuple[np.ndarray, np.ndarray]:
    """(Φ at the grid points -8, -8 + step, ..., 8, and the increase to the next point), float32."""
    grid = np.linspace(-_CDF_LIMIT, _CDF_LIMIT, int(round(2 * _CDF_LIMIT / _CDF_STEP)) + 1)
    values = np.array([0.5 * math.erfc(-z / math.sqrt(2.0)) for z in grid])
    return values.astype(np.float32), np.diff(values, append=1.0).astype(np.float32)


def normal_cdf_float32(z: np.ndarray) -> np.ndarray:
    """Φ(z) for a float32 array, from the table above (same shape, float32)."""
    values, rises = _cdf_table()
    position = np.clip(z, -_CDF_LIMIT, _CDF_LIMIT).astype(np.float32)
    position += _CDF_LIMIT
    position *= 1.0 / _CDF_STEP
    index = position.astype(np.int32)  # the grid point at or below (position >= 0)
    position -= index  # fraction of the way to the next one
    position *= rises.take(index)
    position += values.take(index)
    return position


def distogram_from_distances(dist: np.ndarray, sigma: float = 0.5, dtype=np.float64) -> np.ndarray:
    """Distances [...] -> distogram probabilities [..., 65]: a Gaussian of width sigma (Å)
    integrated over the bins (the first bin also takes everything < 2 Å, the overflow class > 22 Å).
    A 'perfect but blurred' predictor for tests and benchmarks, and a template's known distances as
    restraints (foldlite.templates.restraints, with dtype np.float32: its CDF from normal_cdf_float32;
    float64 uses scipy's ndtr)."""
    d = np.asarray(dist, dtype=dtype)[..., None]  # [..., 1]
    # upper edges of the 64 distance bins: P(distance < edge) for each, then 0 below and 1 above
    upper_edges = np.linspace(2.0, DISTOGRAM_MAX, DISTOGRAM_BINS + 1)[1:].astype(dtype)
    cdf = np.empty((*d.shape[:-1], DISTOGRAM_BINS + 2), dtype)  # [..., 66]
    cdf[..., 0], cdf[..., -1] = 0.0, 1.0
    z = (upper_edges - d) / np.array(sigma, dtype)  # [..., 64]
    if cdf.dtype == np.float32:
        cdf[..., 1:-1] = normal_cdf_float32(z)
    else:
        from scipy.special import ndtr

        cdf[..., 1:-1] = ndtr(z)
    probs = np.maximum(cdf[..., 1:] - cdf[..., :-1], 0.0)  # [..., 65]
    probs /= probs.sum(-1, keepdims=True)
    return probs


def torsion_probs_from_angles(angles: np.ndarray, sigma: float = np.deg2rad(15.0)) -> np.ndarray:
    """Angles [L] (NaN allowed) -> [L, 36] wrapped-Gaussian bin probabilities; NaN rows uniform."""
    angles = np.asarray(angles, np.float64)
    delta = TORSION_CENTERS[None, :] - np.nan_to_num(angles)[:, None]  # [L, 36]
    delta = (delta + np.pi) % (2 * np.pi) - np.pi
    probs = np.exp(-0.5 * (delta / sigma) ** 2) + 1e-12
    probs[np.isnan(angles)] = 1.0
    return probs / probs.sum(-1, keepdims=True)


def expected_distances(distogram_probs: np.ndarray, far_distance: float = FAR_DISTANCE):
    """Distogram [L, L, 65] -> (dist [L, L] Å, weight [L, L]).

    dist: expectation over bin centres with the overflow class counted as `far_distance`.
    weight: P(d < 22 Å) / (1 + Var(d | d < 22 Å)), i.e. "is it in range" times an inverse
    variance; ~1 for a sharp in-range prediction, ~0 for "far" or very blurred pairs.
    Both symmetrised; diagonal dist 0, weight 1 (a residue's distance to itself is known).
    """
    probs = np.ascontiguousarray(distogram_probs, dtype=np.float32)
    length = probs.shape[0]
    # Overflow gets value 0 so no [L, L, 64] slice copy is needed for the in-range moments.
    centres = np.append(DISTOGRAM_CENTERS, 0.0).astype(probs.dtype)  # [65]
    total = probs.sum(-1)  # [L, L] (1 for normalised rows)
    p_far = probs[..., DISTOGRAM_BINS] / np.maximum(total, 1e-12)
    p_in = np.clip(1.0 - p_far, 0.0, 1.0)
    mass_in = np.maximum(total * p_in, 1e-12)
    # [L, L, 65] @ [65, 2] -> [L, L, 2]: first and second moments
    moments = probs @ np.stack([centres, centres * centres], 1)
    mean_in = moments[..., 0] / mass_in  # [L, L]
    var_in = np.maximum(moments[..., 1] / mass_in - mean_in ** 2, 0.0)
    dist = p_in * mean_in + p_far * far_distance
    weight = p_in / (1.0 + var_in)
    dist = 0.5 * (dist + dist.T)
    weight = 0.5 * (weight + weight.T)
    idx = np.arange(length)
    dist[idx, idx] = 0.0
    weight[idx, idx] = 1.0
    return dist.astype(np.float64), weight.astype(np.float64)


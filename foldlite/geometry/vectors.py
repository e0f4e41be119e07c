"""Small vector maths shared by every stage: unit vectors, dihedrals, distances, superposition.

numpy only (I/O and data modules import it and must not need torch). The refinement's torch
versions, with their gradients written out, are in chain_terms.py.
"""
from __future__ import annotations

import numpy as np


def unit(v: np.ndarray) -> np.ndarray:
    """v [..., 3] scaled to length 1 (vectors shorter than 1e-8 are divided by 1e-8)."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-8)


def dihedral(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray) -> np.ndarray:
    """Dihedral angle (radians, in (-pi, pi]) of four points [..., 3]."""
    b0 = p0 - p1
    b1 = p2 - p1
    b2 = p3 - p2
    b1n = unit(b1)
    v = b0 - np.sum(b0 * b1n, axis=-1, keepdims=True) * b1n
    w = b2 - np.sum(b2 * b1n, axis=-1, keepdims=True) * b1n
    x = np.sum(v * w, axis=-1)
    y = np.sum(np.cross(b1n, v) * w, axis=-1)
    return np.arctan2(y, x)


def pairwise_distances(x: np.ndarray, dtype=np.float64) -> np.ndarray:
    """[N, 3] -> [N, N] Euclidean distances, computed in `dtype` (training targets use float32)."""
    x = np.asarray(x, dtype)
    squared = np.zeros((len(x), len(x)), dtype)
    for axis in range(x.shape[1]):  # one [N, N] plane at a time: ~10x faster than norm over [N, N, 3]
        difference = x[:, axis, None] - x[None, :, axis]
        squared += difference * difference
    return np.sqrt(squared)


def mirror(x):
    """Reflect through the yz-plane (any shape [..., 3], the same dtype)."""
    return x * np.array([-1.0, 1.0, 1.0], x.dtype)


def rotation_between(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation matrix [3, 3] taking direction src to direction dst (the smallest such rotation)."""
    from scipy.spatial.transform import Rotation

    src, dst = unit(np.asarray(src, np.float64)), unit(np.asarray(dst, np.float64))
    if float(np.dot(src, dst)) < -1.0 + 1e-12:  # antiparallel: half turn about any perpendicular
        perp = unit(np.cross(src, [1.0, 0.0, 0.0] if abs(src[0]) < 0.9 else [0.0, 1.0, 0.0]))
        return Rotation.from_rotvec(np.pi * perp).as_matrix()
    rotation, _ = Rotation.align_vectors(dst[None], src[None])
    return rotation.as_matrix()


# ----------------------------------------------------------------------------------------------
# Superposition (Kabsch)
# ----------------------------------------------------------------------------------------------

def rotation_from_covariance(cov: np.ndarray) -> np.ndarray:
    """Proper rotation(s) R maximising trace(R @ cov), cov = sum (x - cx)(y - cy)^T; [..., 3, 3].

    Then R @ (x - cx) + cy is the least-squares fit of x onto y (Kabsch). The sign fix keeps R a
    rotation (det +1) rather than a reflection.
    """
    u, _, vt = np.linalg.svd(cov)  # cov = u @ diag(s) @ vt
    sign = np.sign(np.linalg.det(vt.swapaxes(-1, -2) @ u.swapaxes(-1, -2)))
    sign = np.where(sign == 0, 1.0, sign)
    vt = vt.copy()
    vt[..., 2, :] *= sign[..., None]
    return vt.swapaxes(-1, -2) @ u.swapaxes(-1, -2)


def kabsch(mobile: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None):
    """Optimal rigid superposition of mobile [N, 3] onto target [N, 3] (Å).

    Returns (R [3, 3], t [3]) so that `mobile @ R.T + t` is as close as possible (least squares,
    optionally weighted by weights [N] >= 0) to target. Never a reflection.
    """
    mobile = np.asarray(mobile, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if mobile.shape != target.shape or mobile.ndim != 2 or mobile.shape[1] != 3:
        raise ValueError(f"kabsch needs two [N, 3] arrays, got {mobile.shape} and {target.shape}")
    w = np.ones(len(mobile)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.sum() <= 0:
        raise ValueError("kabsch needs at least one point with positive weight")
    w = w / w.sum()
    mobile_center = w @ mobile  # [3]
    target_center = w @ target  # [3]
    # [3, 3] weighted covariance between the centred sets
    cov = (mobile - mobile_center).T @ ((target - target_center) * w[:, None])
    rotation = rotation_from_covariance(cov)
    return rotation, target_center - rotation @ mobile_center


def superpose(mobile: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """mobile [N, 3] moved by its optimal rigid superposition onto target [N, 3]."""
    rotation, translation = kabsch(mobile, target, weights)
    return np.asarray(mobile, dtype=np.float64) @ rotation.T + translation


def kabsch_rmsd(a: np.ndarray, b: np.ndarray, allow_mirror: bool = False) -> float:
    """RMSD (Å) between a [N, 3] and b [N, 3] after optimal superposition of a onto b (proper
    rotations; with allow_mirror also a's mirror image, whichever fits better)."""
    b = np.asarray(b, dtype=np.float64)
    rmsd = float(np.sqrt(np.mean(np.sum((superpose(a, b) - b) ** 2, axis=-1))))
    if allow_mirror:
        return min(rmsd, kabsch_rmsd(mirror(np.asarray(a, np.float64)), b))
    return rmsd


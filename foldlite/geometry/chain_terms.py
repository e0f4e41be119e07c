"""Per-residue parts of the refinement energy, each with its gradient written out: the virtual Cβ
placed on a Cα trace, the Cα virtual-torsion term and the compactness term.

Why written out instead of autograd: these act on small arrays ([L, B, 3], a few thousand numbers)
where each operation costs its fixed few microseconds and autograd roughly triples the count
(recording, then the backward graph's own operations). At 300 residues the torsion term alone took
~2.8 ms of a ~7 ms refinement step through torch's autograd; the formulas below need a few dozen plain
numpy operations. tests/geometry/test_chain_terms.py checks every gradient against torch's autograd of
the direct formula and against finite differences.

Shapes: traces are [L, B, 3] (residues first, B traces), Å; angles in radians.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backbone import CB_OFFSET

NORM_EPS = 1e-8  # Å², inside the square roots of unit vectors: smooth at zero length
CROSS_EPS = 1e-12  # Å⁴, keeps a torsion's gradient finite when three Cα are collinear
_OFFSET = tuple(float(c) for c in CB_OFFSET)  # Å along ex, ey, ez, as Python floats for scalar products


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """u × v over the last axis ([..., 3]); np.cross does the same ~2x slower on these small arrays."""
    u0, u1, u2, v0, v1, v2 = u[..., 0], u[..., 1], u[..., 2], v[..., 0], v[..., 1], v[..., 2]
    return np.stack([u1 * v2 - u2 * v1, u2 * v0 - u0 * v2, u0 * v1 - u1 * v0], axis=-1)


def _dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """u · v over the last axis, kept as [..., 1] (einsum: ~2x faster than (u * v).sum(-1) here)."""
    return np.einsum("...i,...i->...", u, v)[..., None]


def _unit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """v [..., 3] -> (v / |v|, |v| [..., 1]) with |v| = sqrt(v·v + NORM_EPS)."""
    norm = np.sqrt(_dot(v, v) + NORM_EPS)
    return v / norm, norm


def _unit_backward(unit: np.ndarray, norm: np.ndarray, grad_unit: np.ndarray) -> np.ndarray:
    """Gradient through u = v / |v|: (g - u (u·g)) / |v|."""
    return (grad_unit - unit * _dot(unit, grad_unit)) / norm


@dataclass
class CbFrame:
    """The local frame each interior residue's virtual Cβ offset is expressed in (what the backward
    pass needs): ex ∥ CA[i+1] - CA[i-1], ey ∥ 2 CA[i] - CA[i-1] - CA[i+1], norms of the unnormalised
    vectors; [L-2, B, 3] and [L-2, B, 1]."""

    ex: np.ndarray
    ey: np.ndarray
    norm_x: np.ndarray
    norm_y: np.ndarray


def virtual_cb(ca: np.ndarray) -> tuple[np.ndarray, CbFrame | None]:
    """Cα traces [L, B, 3] -> (virtual Cβ [L, B, 3], its frame). Cβ = Cα + the fixed CB_OFFSET
    (fitted on real chains) in the frame (ex, ey, ez = ex × ey); the two end residues reuse their
    neighbour's offset. L < 3: Cβ = Cα and no frame."""
    if ca.shape[0] < 3:
        return ca, None
    prev, mid, nxt = ca[:-2], ca[1:-1], ca[2:]
    ex, norm_x = _unit(nxt - prev)
    ey, norm_y = _unit(2.0 * mid - prev - nxt)  # = bisector away from the bend when bonds are equal
    ez = _cross(ex, ey)
    o = _OFFSET
    offset = o[0] * ex + o[1] * ey + o[2] * ez  # [L-2, B, 3]
    offset = np.concatenate([offset[:1], offset, offset[-1:]])  # [L, B, 3]
    return ca + offset, CbFrame(ex, ey, norm_x, norm_y)


def virtual_cb_backward(frame: CbFrame | None, grad_cb: np.ndarray) -> np.ndarray:
    """dE/dCβ [L, B, 3] -> its contribution to dE/dCα [L, B, 3] (the direct Cβ = Cα + ... part included)."""
    if frame is None:
        return grad_cb
    o = _OFFSET
    grad_offset = grad_cb[1:-1].copy()  # [L-2, B, 3]; the end residues' offsets are their neighbours'
    grad_offset[0] += grad_cb[0]
    grad_offset[-1] += grad_cb[-1]
    # offset = o0 ex + o1 ey + o2 (ex × ey); g·(dex × ey) = dex·(ey × g), g·(ex × dey) = dey·(g × ex)
    grad_ex = o[0] * grad_offset + o[2] * _cross(frame.ey, grad_offset)
    grad_ey = o[1] * grad_offset + o[2] * _cross(grad_offset, frame.ex)
    grad_vx = _unit_backward(frame.ex, frame.norm_x, grad_ex)  # vx = CA[i+1] - CA[i-1]
    grad_vy = _unit_backward(frame.ey, frame.norm_y, grad_ey)  # vy = 2 CA[i] - CA[i-1] - CA[i+1]
    grad = grad_cb.copy()
    grad[2:] += grad_vx - grad_vy
    grad[:-2] -= grad_vx + grad_vy
    grad[1:-1] += 2.0 * grad_vy
    return grad


def dihedral_with_gradient(ca: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cα traces [L, B, 3] (L >= 4) -> (virtual torsions τ [L-3, B] of each four consecutive Cα,
    the angles of vectors.dihedral, and dτ/d(p0, p1, p2, p3) [4, L-3, B, 3]).

    The gradient is the closed form for a dihedral angle (e.g. Bekker, "Molecular dynamics
    simulation methods revised", 1996): with F = p0 - p1, G = p1 - p2, H = p3 - p2, A = F × G,
    B = H × G: dτ/dp0 = -|G| A / |A|², dτ/dp3 = |G| B / |B|², and the middle two from the
    requirement that the four sum to zero and exert no torque: with fg = F·G / |G|² and
    hg = H·G / |G|², dτ/dp1 = -(1 + fg) dτ/dp0 - hg dτ/dp3, dτ/dp2 = fg dτ/dp0 + (hg - 1) dτ/dp3.
    """
    p0, p1, p2, p3 = ca[:-3], ca[1:-2], ca[2:-1], ca[3:]
    f, g, h = p0 - p1, p1 - p2, p3 - p2
    a = _cross(f, g)
    b = _cross(h, g)
    g_norm = np.sqrt(_dot(g, g) + NORM_EPS)  # [L-3, B, 1]
    # τ = atan2(y, x) in the convention of vectors.dihedral (both scaled by |G|² > 0 here):
    # x = A·B, y = (A × B)·(p2 - p1) / |G|
    x = _dot(a, b)[..., 0]
    y = -_dot(_cross(a, b), g)[..., 0] / g_norm[..., 0]
    tau = np.arctan2(y, x + 1e-12)
    a_sq = _dot(a, a) + CROSS_EPS
    b_sq = _dot(b, b) + CROSS_EPS
    d0 = -g_norm * a / a_sq
    d3 = g_norm * b / b_sq
    fg = _dot(f, g) / (g_norm * g_norm)
    hg = _dot(h, g) / (g_norm * g_norm)
    d1 = -(1.0 + fg) * d0 - hg * d3
    d2 = fg * d0 + (hg - 1.0) * d3
    return tau, np.stack([d0, d1, d2, d3])


def scatter_dihedral_gradient(grad_tau: np.ndarray, dtau: np.ndarray, length: int) -> np.ndarray:
    """dE/dτ [L-3, B] and dτ/d(p0..p3) [4, L-3, B, 3] -> dE/dCα [L, B, 3]."""
    parts = grad_tau[None, :, :, None] * dtau  # [4, L-3, B, 3]
    grad = np.zeros((length, *parts.shape[2:]), parts.dtype)
    for k in range(4):
        grad[k:length - 3 + k] += parts[k]
    return grad

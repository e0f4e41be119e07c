"""Predicted distogram (+ Cα torsion distribution) -> 3-D backbone. Pure functions, no model inside.

Pipeline (see `reconstruct`):

1. `expected_distances`: distogram [L, L, 65] -> expected Cβ–Cβ distance and a confidence per pair.
2. `classical_mds`: distances -> Cartesian coordinates. Pairs the distogram can only call "> 22 Å"
   are first filled in with shortest-path distances through confident pairs (Isomap-style); on real
   chains the path estimate is within ~1-3 % of the true distance, far better than a constant.
   `stress_polish` (weighted SMACOF) then lets the confident pairs correct the local structure.
3. `refine`: Adam on a Cα trace (several restarts batched together) minimising
   -log P_ij(d_ij) of the predicted distogram, linearly interpolated between bin centres, plus
   Cα–Cα bond, Cα(i, i+2) angle, clash and (after the hand is fixed) Cα-torsion terms. Only
   informative pairs get their own term; "> 22 Å" pairs are checked every few steps and join in
   only while they come close (L = 1000 stays at ~10^5 pairs, < 1 GB).
   The distogram is over Cβ, so the loss places a virtual Cβ on the trace (fixed offset in the
   local frame of CA[i-1], CA[i], CA[i+1], fitted on real chains, ~0.4 Å from the true Cβ) rather
   than pretending Cα ≈ Cβ: Cα and Cβ distances of a contact differ by 1-2 Å, which is several
   bins, and the virtual Cβ is also chiral, so the distogram alone carries a little hand signal.
4. `choose_hand`: distances cannot tell a structure from its mirror; the Cα virtual torsion
   (+50° in a right-handed α-helix) can. Keep whichever of coords / mirror the predicted torsion
   distribution likes more.
5. `build_backbone`: Cα trace -> N, CA, C, O, CB: a small regression model of the backbone atoms
   in the local Cα frame, fitted on real chains (`fit_backbone_model`), decides how each rigid
   ideal peptide unit is turned about its Cα–Cα axis; CB from `ideal_cb`.
6. `reconstruct`: all of the above with seeded restarts of both hands; `coords_from_distances`:
   the exact-distance path (MDS + stress polish).

Shapes: L residues; distances in Å; angles in radians. Everything returned is numpy float64.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from .backbone import ca_virtual_torsions, ideal_cb
from ..constants import (
    CA_C_LENGTH,
    CA_CA_DISTANCE,
    C_N_LENGTH,
    C_O_LENGTH,
    DISTOGRAM_BINS,
    DISTOGRAM_CENTERS,
    DISTOGRAM_MAX,
    N_CA_LENGTH,
    NUM_DISTOGRAM_CLASSES,
    TORSION_BINS,
    TORSION_CENTERS,
    TORSION_EDGES,
)

# Knots of the distance potential: the 64 bin centres plus the overflow class placed one bin
# width further (22.47 Å); the potential is flat beyond it ("anything > 22 Å is equally likely").
BIN_WIDTH = float(DISTOGRAM_CENTERS[1] - DISTOGRAM_CENTERS[0])  # 0.3125 Å
KNOTS = np.append(DISTOGRAM_CENTERS, DISTOGRAM_CENTERS[-1] + BIN_WIDTH)  # [65] Å
FAR_DISTANCE = 25.0  # Å, stand-in for the overflow class when a single number is needed
TORSION_WIDTH = float(TORSION_EDGES[1] - TORSION_EDGES[0])

CLASH_DISTANCE = 4.0  # Å, Cα–Cα for |i - j| >= 3
CA_I2_RANGE = (5.0, 7.3)  # Å, Cα(i)–Cα(i+2): virtual bond angle ~82°..148°, covers real chains

# Backbone model, fitted by `fit_backbone_model` on 3,000 random training chains of
# /work/shared/data/pdb_chains.npz (640k residues; seed 0). Rows: the 21 features of
# `_backbone_features`; columns: local x, y, z of N, C, O in the residue frame of `_local_frames`.
# Held-out RMS error of build_backbone (300 validation chains, whole chains, after the ideal
# peptide fit): N 0.21 Å, C 0.25 Å, O 0.72 Å; O depends on the peptide-plane orientation, which
# a Cα trace only loosely determines, and the two end residues (ghost neighbours) are ~1 Å off.
# The table itself, _BACKBONE_W [21, 9], is at the end of the file. _CB_OFFSET there is the mean
# position of the ideal Cβ in the same frame (RMS error 0.41 Å), used for the virtual Cβ.


# ----------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------

def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-8)


def kabsch_rmsd(a: np.ndarray, b: np.ndarray, allow_mirror: bool = False) -> float:
    """RMSD (Å) between point sets a, b [N, 3] after optimal superposition (proper rotation,
    or also improper ones when allow_mirror)."""
    a = np.asarray(a, np.float64) - np.mean(a, axis=0)
    b = np.asarray(b, np.float64) - np.mean(b, axis=0)
    u, s, vt = np.linalg.svd(a.T @ b)
    if not allow_mirror and np.linalg.det(u @ vt) < 0:
        s[-1] = -s[-1]  # best proper rotation flips the weakest axis
    msd = (np.sum(a * a) + np.sum(b * b) - 2.0 * np.sum(np.abs(s) if allow_mirror else s)) / len(a)
    return float(np.sqrt(max(msd, 0.0)))


def pairwise_distances(x: np.ndarray) -> np.ndarray:
    """[N, 3] -> [N, N] Euclidean distances."""
    x = np.asarray(x, np.float64)
    return np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1)


def ideal_helix_ca(length: int, rise: float = 1.5, turn_deg: float = 100.0,
                   radius: float = 2.3) -> np.ndarray:
    """Cα trace [L, 3] of an ideal right-handed α-helix along +z (Cα–Cα 3.83 Å, torsion +50°)."""
    k = np.arange(length)
    angle = np.deg2rad(turn_deg) * k  # counter-clockwise seen from +z while rising = right-handed
    return np.stack([radius * np.cos(angle), radius * np.sin(angle), rise * k], axis=-1)


def distogram_from_distances(dist: np.ndarray, sigma: float = 0.5) -> np.ndarray:
    """Distances [L, L] -> distogram probabilities [L, L, 65]: a Gaussian of width sigma (Å)
    integrated over the bins (the first bin also takes everything < 2 Å, the overflow class > 22 Å).
    For tests and benchmarks: a 'perfect but blurred' predictor."""
    d = torch.as_tensor(np.asarray(dist, np.float64))[..., None]  # [L, L, 1]
    inner_edges = torch.as_tensor(np.linspace(2.0, DISTOGRAM_MAX, DISTOGRAM_BINS + 1)[1:-1])
    cdf = torch.special.ndtr((inner_edges - d) / sigma)  # [L, L, 63]: P(distance < edge)
    zeros, ones = torch.zeros_like(d), torch.ones_like(d)
    cdf = torch.cat([zeros, cdf, torch.special.ndtr((DISTOGRAM_MAX - d) / sigma), ones], dim=-1)
    probs = (cdf[..., 1:] - cdf[..., :-1]).clamp_min(0.0)  # [L, L, 65]
    return (probs / probs.sum(-1, keepdim=True)).numpy()


def torsion_probs_from_angles(angles: np.ndarray, sigma: float = np.deg2rad(15.0)) -> np.ndarray:
    """Angles [L] (NaN allowed) -> [L, 36] wrapped-Gaussian bin probabilities; NaN rows uniform."""
    angles = np.asarray(angles, np.float64)
    delta = TORSION_CENTERS[None, :] - np.nan_to_num(angles)[:, None]  # [L, 36]
    delta = (delta + np.pi) % (2 * np.pi) - np.pi
    probs = np.exp(-0.5 * (delta / sigma) ** 2) + 1e-12
    probs[np.isnan(angles)] = 1.0
    return probs / probs.sum(-1, keepdims=True)


# ----------------------------------------------------------------------------------------------
# 1. Expected distances
# ----------------------------------------------------------------------------------------------

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
    # [L, L, 65] @ [65, 2] -> [L, L, 2]: first and second moments (torch: numpy's threaded BLAS
    # is pathologically slow on a busy 2-core machine)
    moments = (torch.from_numpy(probs) @ torch.from_numpy(np.stack([centres, centres * centres], 1))).numpy()
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


# ----------------------------------------------------------------------------------------------
# 2. Classical MDS
# ----------------------------------------------------------------------------------------------

def _shortest_paths(dist: np.ndarray, trusted: np.ndarray) -> np.ndarray:
    """All-pairs shortest paths over edges `trusted` (Floyd–Warshall, O(L^3)); inf if unreachable."""
    graph = np.where(trusted, dist, np.inf).astype(np.float32)  # [L, L]
    for k in range(len(graph)):
        np.minimum(graph, graph[:, k:k + 1] + graph[k:k + 1, :], out=graph)
    return graph.astype(np.float64)


def complete_distances(dist: np.ndarray, weight: np.ndarray, min_weight: float = 0.05,
                       max_nodes: int = 400) -> np.ndarray:
    """Replace untrusted entries (weight < min_weight) by max(dist, shortest path over trusted
    entries). Above max_nodes residues the paths are computed between every s-th residue and each
    residue uses its nearest such landmark along the chain (error ~ a few Å on > 22 Å distances,
    fine for an MDS start; keeps L=1000 at ~0.05 s instead of ~2 s)."""
    dist = np.asarray(dist, np.float64)
    length = len(dist)
    trusted = np.asarray(weight) >= min_weight
    np.fill_diagonal(trusted, True)
    if trusted.all():
        return dist.copy()
    stride = max(1, int(np.ceil(length / max_nodes)))
    landmarks = np.arange(0, length, stride)
    paths = _shortest_paths(dist[np.ix_(landmarks, landmarks)], trusted[np.ix_(landmarks, landmarks)])
    nearest = np.minimum(np.round(np.arange(length) / stride).astype(np.int64), len(landmarks) - 1)
    est = paths[np.ix_(nearest, nearest)]  # [L, L]
    finite = np.isfinite(est)
    est = np.where(finite, est, dist.max())  # disconnected pieces: just "far"
    out = np.where(trusted, dist, np.maximum(dist, est))
    return 0.5 * (out + out.T)


def classical_mds(dist: np.ndarray, weight: np.ndarray | None = None,
                  min_weight: float = 0.05) -> np.ndarray:
    """Distances [L, L] -> coordinates [L, 3] (centred; hand arbitrary).

    Torgerson's method: Gram matrix by double-centring -D²/2, top-3 eigenvectors scaled by
    sqrt(eigenvalue). Exact (up to rotation/reflection) for Euclidean distances of a 3-D point set.
    With `weight`, entries below min_weight are first completed by `complete_distances`.
    """
    dist = np.asarray(dist, np.float64)
    length = len(dist)
    if length == 0:
        return np.zeros((0, 3))
    if weight is not None:
        dist = complete_distances(dist, weight, min_weight)
    sq = (0.5 * (dist + dist.T)) ** 2  # [L, L] squared distances
    # Double centring: G = -1/2 J D² J with J = I - 11ᵀ/L, written with row/column means.
    row_mean = sq.mean(axis=1, keepdims=True)
    gram = -0.5 * (sq - row_mean - row_mean.T + sq.mean())
    evals, evecs = (t.numpy() for t in torch.linalg.eigh(torch.from_numpy(gram)))  # ascending
    top = np.argsort(evals)[::-1][:3]
    coords = evecs[:, top] * np.sqrt(np.maximum(evals[top], 0.0))
    # Fix each axis' sign (eigh's sign is arbitrary) so the output is a function of the input.
    signs = np.sign(np.sum(coords ** 3, axis=0))
    coords = coords * np.where(signs == 0, 1.0, signs)
    if coords.shape[1] < 3:  # L < 3
        coords = np.pad(coords, ((0, 0), (0, 3 - coords.shape[1])))
    return coords


def stress_polish(coords: np.ndarray, dist: np.ndarray, weight: np.ndarray,
                  iterations: int = 30) -> np.ndarray:
    """Weighted SMACOF: `iterations` Guttman transforms X <- V⁺ B(X) X, each of which lowers the
    weighted stress Σ w_ij (|x_i - x_j| - D_ij)² (monotone; exact distances are a fixed point).

    Classical MDS fits squared distances, so errors in the long, completed distances distort local
    structure; stress weighs every Å alike and `weight` lets confident pairs dominate.
    coords [L, 3], dist and weight [L, L] -> coords [L, 3]. O(L^3) once (V⁺) + O(L^2) per step.
    """
    length = len(coords)
    if length < 3 or iterations <= 0:
        return np.asarray(coords, np.float64).copy()
    w = torch.from_numpy(np.asarray(weight, np.float64)).clone()
    w.fill_diagonal_(0.0)
    w = 0.5 * (w + w.T)
    target = torch.from_numpy(np.asarray(dist, np.float64))
    laplacian = torch.diag(w.sum(1)) - w  # V
    ones = torch.full((length, length), 1.0 / length, dtype=torch.float64)
    v_pinv = torch.linalg.inv(laplacian + ones) - ones  # V⁺ for a connected weight graph
    x = torch.from_numpy(np.asarray(coords, np.float64)).clone()
    for _ in range(iterations):
        d = torch.cdist(x, x)  # [L, L]
        ratio = torch.where(d > 1e-9, w * target / d.clamp_min(1e-9), torch.zeros_like(d))
        b = torch.diag(ratio.sum(1)) - ratio  # B(X)
        x = v_pinv @ (b @ x)
    return x.numpy()


# ----------------------------------------------------------------------------------------------
# 3. Refinement
# ----------------------------------------------------------------------------------------------

@dataclass
class RefineWeights:
    """Relative weights of the refinement terms (Adam is scale-free, only ratios matter)."""

    distogram: float = 1.0  # per pair, -log P(Cβ distance)
    # Stiff enough to keep Cα–Cα within ~0.1 Å of 3.8 against a sharp distogram, soft enough
    # for Adam (at 1000 the refinement stalls; measured on the test chains).
    bond: float = 300.0  # per Å² of (|CA_i+1 - CA_i| - 3.8)
    angle: float = 50.0  # per Å² of Cα(i)–Cα(i+2) outside CA_I2_RANGE
    clash: float = 30.0  # per Å² of Cα–Cα (|i - j| >= 3) below CLASH_DISTANCE
    torsion: float = 2.0  # per residue, -log P(Cα torsion); only once the hand is chosen


def _blur(probs: np.ndarray, sigma_bins: float, circular: bool) -> np.ndarray:
    """Gaussian blur along the last axis (bins); circular for angles, zero-padded for distances."""
    bins = probs.shape[-1]
    offsets = np.arange(bins)
    delta = offsets[:, None] - offsets[None, :]  # [bins, bins]
    if circular:
        delta = (delta + bins // 2) % bins - bins // 2
    kernel = np.exp(-0.5 * (delta / sigma_bins) ** 2).astype(probs.dtype)
    return (torch.from_numpy(probs) @ torch.from_numpy(kernel)).numpy()  # [..., bins]


def smoothed_neg_log(probs: np.ndarray, circular: bool = False, mix: float = 0.2,
                     sigma_bins: float = 6.0, floor: float = 1e-6) -> np.ndarray:
    """-log of probs mixed with a blurred copy of itself: keeps the predicted shape near the
    modes, but gives far-off distances a quadratic slope toward the mass (a raw near-one-hot
    distogram is flat -log(eps) a few bins away and would give no gradient there)."""
    probs = np.ascontiguousarray(probs, dtype=np.float32)
    probs = probs / np.maximum(probs.sum(-1, keepdims=True), 1e-12)
    blurred = _blur(probs, sigma_bins, circular)
    blurred /= np.maximum(blurred.sum(-1, keepdims=True), 1e-12)
    mixed = (1.0 - mix) * probs + mix * blurred + floor
    return -np.log(mixed / mixed.sum(-1, keepdims=True))


def _t_unit(v: torch.Tensor) -> torch.Tensor:
    return v / torch.sqrt((v * v).sum(-1, keepdim=True) + 1e-8)


def _virtual_cb(ca: torch.Tensor) -> torch.Tensor:
    """Cα traces [L, B, 3] -> virtual Cβ [L, B, 3]: the fixed _CB_OFFSET in the frame
    (ex ∥ CA[i+1] - CA[i-1], ey ∥ 2 CA[i] - CA[i-1] - CA[i+1], ez = ex × ey); the two end
    residues reuse their neighbour's offset. L < 3: Cβ = Cα."""
    if ca.shape[0] < 3:
        return ca
    prev, mid, nxt = ca[:-2], ca[1:-1], ca[2:]
    ex = _t_unit(nxt - prev)
    ey = _t_unit(2.0 * mid - prev - nxt)  # = bisector away from the bend when bonds are equal
    ez = torch.linalg.cross(ex, ey)
    # [L-2, B, 3(xyz), 3(axis)] @ [3(axis)] -> [L-2, B, 3]
    offset = torch.stack([ex, ey, ez], dim=-1) @ torch.as_tensor(_CB_OFFSET, dtype=ca.dtype)
    offset = torch.cat([offset[:1], offset, offset[-1:]])  # [L, B, 3]
    return ca + offset


def _t_dihedral(p0, p1, p2, p3) -> torch.Tensor:
    """Torch dihedral of four [..., 3] tensors (same convention as backbone.dihedral)."""
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1n = _t_unit(b1)
    v = b0 - (b0 * b1n).sum(-1, keepdim=True) * b1n
    w = b2 - (b2 * b1n).sum(-1, keepdim=True) * b1n
    x = (v * w).sum(-1)
    y = (torch.linalg.cross(b1n, v) * w).sum(-1)
    return torch.atan2(y, x + 1e-12)


def _incidence(i: torch.Tensor, j: torch.Tensor, length: int):
    """CSR incidence matrix S [M, L] (row m: +1 at i[m], -1 at j[m]) and its transpose [L, M]."""
    num = len(i)
    cols = torch.stack([i, j], dim=1).reshape(-1)  # [2M]; i < j, so each row's columns are sorted
    vals = torch.tensor([1.0, -1.0]).repeat(num)
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore")
        s = torch.sparse_csr_tensor(torch.arange(0, 2 * num + 1, 2), cols, vals, (num, length))
        order = torch.argsort(cols, stable=True)  # transpose: group the entries by residue
        crow = torch.zeros(length + 1, dtype=torch.long)
        crow[1:] = torch.cumsum(torch.bincount(cols, minlength=length), 0)
        pair_of = torch.arange(num).repeat_interleave(2)
        s_t = torch.sparse_csr_tensor(crow, pair_of[order], vals[order], (length, num))
    return s, s_t


class _PairTerm(torch.autograd.Function):
    """All pair energies, with a hand-written gradient. Per pair (i, j):

    Cα:  w (max(0, lo - d)² + max(0, d - hi)²): the bond (lo = hi = 3.8 Å, |i-j| = 1), the
         i, i+2 angle range (|i-j| = 2) and the clash (lo = 4 Å, hi = ∞, |i-j| >= 3);
    Cβ:  -log P_ij(d), linear between knots, flat outside [first knot, last knot].

    Autograd through gathers over 10^4-10^5 pairs is dominated by its scatter backward and
    its op count; here the pair differences are one sparse product (incidence S [M, L]) and the
    gradient, formed in the forward pass, goes back through Sᵀ: fewer ops, several times faster
    on CPU, and deterministic.
    points: [L, B, 6] = (Cα xyz, virtual Cβ xyz) per residue and trace. Returns energy [B].
    """

    @staticmethod
    def forward(ctx, points, energy):
        length, batch, _ = points.shape
        # [L, B*6] -> [M, B*6] -> [M, B, 2, 3]: Cα and Cβ difference vectors of each pair
        incidence = energy.incidence if points.dtype == torch.float32 else energy.incidence.to(points.dtype)
        diff = (incidence @ points.reshape(length, -1)).view(-1, batch, 2, 3)
        # |diff| written per component: a reduction over a last axis of 3 is several times slower
        dist = (diff[..., 0] ** 2 + diff[..., 1] ** 2 + diff[..., 2] ** 2 + 1e-8).sqrt_()  # [M, B, 2]
        d_ca, d_cb = dist[..., 0], dist[..., 1]

        # Cα: d - clamp(d, lo, hi) is the signed distance outside the allowed interval.
        excess = d_ca - torch.clamp(d_ca, energy.ca_lo, energy.ca_hi)  # [M, B]
        # Cβ: slope of -log P on the segment holding d. Slope tables are padded with a zero
        # column on each side, so index 0 = below the first knot and 65 = beyond the last one.
        pos = d_cb * (1.0 / BIN_WIDTH) + (1.0 - float(KNOTS[0]) / BIN_WIDTH)  # knot coordinate + 1
        k = pos.clamp_(0.0, len(KNOTS)).long()  # [M, B] padded segment index
        slope = torch.gather(energy.slopes, 1, k).to(points.dtype)  # [M, 66] -> [M, B]

        # dE/d(diff) = dE/dd * diff / d, back to [M, B, 6]
        coef = torch.stack([excess.mul_(energy.ca_2w), slope.mul_(energy.weights.distogram)], dim=-1)
        coef.div_(dist)  # [M, B, 2]
        ctx.save_for_backward((coef.unsqueeze(-1) * diff).view(-1, batch, 6))
        ctx.incidence_t = energy.incidence_t

        if not energy.need_value:  # Adam only needs the gradient
            return points.new_zeros(batch)
        excess = d_ca - torch.clamp(d_ca, energy.ca_lo, energy.ca_hi)
        e_ca = (0.5 * energy.ca_2w * excess ** 2).sum(0)  # [B]
        # -log P at d: value at the left knot + slope * offset, flat outside the knot range.
        left = (pos - 1.0).clamp(0.0, len(KNOTS) - 1.0)  # knot coordinate, clamped
        knot = left.clamp(max=len(KNOTS) - 2.0).floor()
        value = torch.gather(energy.values, 1, knot.long()).to(points.dtype)
        step = torch.gather(energy.slopes, 1, knot.long() + 1).to(points.dtype)  # slope of that segment
        e_cb = (value + step * (left - knot) * BIN_WIDTH).sum(0)
        return e_ca + energy.weights.distogram * e_cb

    @staticmethod
    def backward(ctx, grad_out):
        (g_diff,) = ctx.saved_tensors
        if not bool((grad_out == 1.0).all()):
            g_diff = g_diff * grad_out[None, :, None]  # [M, B, 6]
        grad = ctx.incidence_t.to(g_diff.dtype) @ g_diff.reshape(len(g_diff), -1)  # [L, B*6]
        return grad.view(-1, *g_diff.shape[1:]), None


class _Energy:
    """Refinement objective for a batch of Cα traces x [L, B, 3]; built once per distogram.

    Pairs with their own -log P row: |i - j| <= 2, P(d < 22 Å) >= min_p_in, or a possible contact
    (P(d < 12 Å) >= min_p_close, so an uncertain contact is not mistaken for "far"). The rest
    (for a real distogram of a long chain, most pairs: models rarely give exactly 0 to short bins)
    share one generic "> 22 Å" row and are evaluated only while some trace has them within
    far_margin of 22 Å (refresh(), every few steps); this keeps L = 1000 at ~10^5 pairs.
    """

    def __init__(self, distogram_probs: np.ndarray, ca_torsion_probs: np.ndarray | None,
                 weights: RefineWeights, min_p_in: float = 0.5, min_p_close: float = 0.1,
                 far_margin: float = 4.0):
        probs = np.asarray(distogram_probs, np.float32)
        length = probs.shape[0]
        self.length = length
        self.weights = weights
        self.far_margin = far_margin
        iu, ju = np.triu_indices(length, 1)
        # Cumulative probabilities without an [M, 65] copy: P(d < 22) and P(d < 12) per pair.
        close_bins = int(np.searchsorted(DISTOGRAM_CENTERS, 12.0))
        total = probs.sum(-1)  # [L, L]
        p_in = 1.0 - probs[..., DISTOGRAM_BINS] / np.maximum(total, 1e-12)
        p_close = probs[..., :close_bins].sum(-1) / np.maximum(total, 1e-12)
        informative = (p_in[iu, ju] >= min_p_in) | (p_close[iu, ju] >= min_p_close) | (ju - iu <= 2)
        del total, p_in, p_close
        far_onehot = np.zeros((1, NUM_DISTOGRAM_CLASSES), np.float32)
        far_onehot[0, DISTOGRAM_BINS] = 1.0
        far_values = smoothed_neg_log(far_onehot)
        # Shifted so a far pair beyond 22 Å adds exactly 0 whether or not it is active: energies
        # then do not depend on the active set (which all traces of a batch share).
        far_values -= far_values[:, -1:]
        values = np.concatenate([smoothed_neg_log(probs[iu[informative], ju[informative]]),
                                 far_values])  # [M + 1, 65] at KNOTS
        # slopes[:, k + 1] = slope (per Å) of the segment from knot k to k + 1; columns 0 and 65
        # (left of the first knot, right of the last one) are 0.
        slopes = np.zeros((len(values), NUM_DISTOGRAM_CLASSES + 1), np.float32)  # [M + 1, 66]
        slopes[:, 1:-1] = np.diff(values, axis=-1) / BIN_WIDTH
        self.inf_values, self.far_values = torch.from_numpy(values[:-1]), torch.from_numpy(values[-1:])
        self.inf_slopes, self.far_slopes = torch.from_numpy(slopes[:-1]), torch.from_numpy(slopes[-1:])
        self.inf_i = torch.from_numpy(iu[informative])
        self.inf_j = torch.from_numpy(ju[informative])
        self.far_i = torch.from_numpy(iu[~informative])
        self.far_j = torch.from_numpy(ju[~informative])
        self.set_active_far(torch.zeros(0, dtype=torch.long))

        self.torsion_table = None
        if ca_torsion_probs is not None and length >= 4:
            table = smoothed_neg_log(np.asarray(ca_torsion_probs)[1:-2], circular=True,
                                     sigma_bins=2.0)  # [L-3, 36]: residues with a defined torsion
            self.torsion_table = torch.from_numpy(table).reshape(-1)
            self.torsion_base = (torch.arange(length - 3) * TORSION_BINS)[:, None]  # [L-3, 1]
        self.use_torsion = False
        self.need_value = True  # False inside the optimiser loop (energy values then incomplete)

    def set_active_far(self, active: torch.Tensor):
        """Pair list = informative pairs + the given far pairs; per-pair parameters to match."""
        i = torch.cat([self.inf_i, self.far_i[active]])
        j = torch.cat([self.inf_j, self.far_j[active]])
        # Per-pair tables [M, 65] / [M, 66] (a gather along knots is more cache-friendly than take()).
        self.values = torch.cat([self.inf_values, self.far_values.expand(len(active), -1)])
        self.slopes = torch.cat([self.inf_slopes, self.far_slopes.expand(len(active), -1)])
        sep = j - i
        w = self.weights
        low, high = CA_I2_RANGE
        # Cα restraint per pair, [M, 1] each: bond (|i-j| = 1) / i+2 range (2) / clash (>= 3).
        def by_separation(bond, i_plus_2, rest):
            return torch.where(sep == 1, bond, torch.where(sep == 2, i_plus_2, rest))[:, None].float()

        self.ca_lo = by_separation(CA_CA_DISTANCE, low, CLASH_DISTANCE)
        self.ca_hi = by_separation(CA_CA_DISTANCE, high, 1e4)
        self.ca_2w = 2.0 * by_separation(w.bond, w.angle, w.clash)
        self.incidence, self.incidence_t = _incidence(i, j, self.length)
        self.num_pairs = len(i)

    @torch.no_grad()
    def refresh(self, x: torch.Tensor):
        """Activate the far pairs whose virtual-Cβ distance is now within reach of 22 Å."""
        if len(self.far_i) == 0:
            return
        cb = _virtual_cb(x)  # [L, B, 3]
        d = (cb.index_select(0, self.far_i) - cb.index_select(0, self.far_j)).norm(dim=-1)  # [F, B]
        close = (d < KNOTS[-1] + self.far_margin).any(dim=1)
        self.set_active_far(torch.nonzero(close).flatten())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Per-trace energy [B] for x [L, B, 3] (differentiable)."""
        energy = (x * 0.0).sum((0, 2))  # zeros [B], still attached to x
        if self.num_pairs:
            points = torch.cat([x, _virtual_cb(x)], dim=-1)  # [L, B, 6]
            energy = energy + _PairTerm.apply(points, self)
        if self.use_torsion and self.torsion_table is not None:
            tau = _t_dihedral(x[:-3], x[1:-2], x[2:-1], x[3:])  # [L-3, B]
            pos = (tau - float(TORSION_CENTERS[0])) / TORSION_WIDTH
            with torch.no_grad():
                k = pos.floor()
                k0 = k.long() % TORSION_BINS  # circular knots
                v0 = torch.take(self.torsion_table, self.torsion_base + k0)
                v1 = torch.take(self.torsion_table, self.torsion_base + (k0 + 1) % TORSION_BINS)
            energy = energy + self.weights.torsion * (v0 + (v1 - v0) * (pos - k)).sum(0)
        return energy


def _adam(energy: _Energy, x0: torch.Tensor, steps: int, lr: float, lr_end: float,
          refresh_every: int = 20, betas=(0.9, 0.99), eps: float = 1e-8) -> torch.Tensor:
    """Adam with a cosine learning-rate decay (lr -> lr_end, roughly Å per step) on x [L, B, 3].

    Written out rather than torch.optim.Adam: the optimizer class imports torch._dynamo on first
    use (~2.5 s on this machine), and the handful of in-place ops here is all we need.
    """
    x = x0.clone()
    m, v = torch.zeros_like(x), torch.zeros_like(x)
    energy.need_value = False
    for step in range(steps):
        if step % refresh_every == 0:
            energy.refresh(x)
        x.requires_grad_(True)
        # Traces are independent, so the gradient of the sum is each trace's own gradient.
        (grad,) = torch.autograd.grad(energy(x).sum(), x)
        x = x.detach()
        cos = 0.5 * (1.0 + np.cos(np.pi * step / max(steps - 1, 1)))
        step_lr = lr_end + (lr - lr_end) * cos
        m.mul_(betas[0]).add_(grad, alpha=1.0 - betas[0])
        v.mul_(betas[1]).addcmul_(grad, grad, value=1.0 - betas[1])
        m_hat_scale = step_lr / (1.0 - betas[0] ** (step + 1))
        v_hat = v / (1.0 - betas[1] ** (step + 1))
        x.addcdiv_(m, v_hat.sqrt_().add_(eps), value=-m_hat_scale)
    energy.need_value = True
    energy.refresh(x)
    return x


def _mirror(x):
    """Reflect through the yz-plane (numpy or torch, any shape [..., 3])."""
    if isinstance(x, np.ndarray):
        return x * np.array([-1.0, 1.0, 1.0])
    return x * torch.tensor([-1.0, 1.0, 1.0], dtype=x.dtype)


def refine(coords0: np.ndarray, distogram_probs: np.ndarray, ca_torsion_probs: np.ndarray | None = None,
           steps: int = 150, seed: int = 0, noise: float = 0.0, lr: float = 0.2, lr_end: float = 0.02,
           weights: RefineWeights | None = None, use_torsion: bool | None = None):
    """Gradient refinement of Cα trace(s) against a distogram (and Cα torsion distribution).

    coords0: [L, 3] or a batch [B, L, 3] of independent starts (refined together, vectorised).
    noise: Gaussian jitter (Å) added to the start, drawn from numpy Generator(seed).
    use_torsion: include the torsion term (default: when ca_torsion_probs is given). Only sensible
    once the hand is right; otherwise it fights the distances.
    Returns (coords shaped like coords0, energy per residue: float, or [B] for a batch).
    """
    coords0 = np.asarray(coords0, np.float64)
    single = coords0.ndim == 2
    batch = coords0[None] if single else coords0  # [B, L, 3]
    if noise > 0:
        batch = batch + np.random.default_rng(seed).normal(0.0, noise, batch.shape)
    energy = _Energy(distogram_probs, ca_torsion_probs, weights or RefineWeights())
    energy.use_torsion = ca_torsion_probs is not None if use_torsion is None else use_torsion
    x = torch.from_numpy(batch.transpose(1, 0, 2).copy()).float()  # [L, B, 3]
    x = _adam(energy, x, steps, lr, lr_end)
    with torch.no_grad():
        per_residue = (energy(x) / max(batch.shape[1], 1)).double().numpy()
    out = x.double().numpy().transpose(1, 0, 2)  # [B, L, 3]
    return (out[0], float(per_residue[0])) if single else (out, per_residue)


# ----------------------------------------------------------------------------------------------
# 4. Hand
# ----------------------------------------------------------------------------------------------

def torsion_log_likelihood(ca: np.ndarray, ca_torsion_probs: np.ndarray) -> float:
    """Σ_i log P_i(bin of the observed Cα virtual torsion) over residues 1..L-3."""
    tau = ca_virtual_torsions(np.asarray(ca, np.float64))
    valid = ~np.isnan(tau)
    if not valid.any():
        return 0.0
    bins = np.clip(np.searchsorted(TORSION_EDGES, tau[valid], side="right") - 1, 0, TORSION_BINS - 1)
    probs = np.asarray(ca_torsion_probs, np.float64)[valid, bins]
    return float(np.sum(np.log(np.maximum(probs, 1e-9))))


def choose_hand(coords: np.ndarray, ca_torsion_probs: np.ndarray) -> np.ndarray:
    """Return coords [L, 3] or its mirror image, whichever has the more likely Cα torsions.
    Mirroring negates every torsion; ties keep the input."""
    coords = np.asarray(coords, np.float64)
    mirrored = _mirror(coords)
    if torsion_log_likelihood(mirrored, ca_torsion_probs) > torsion_log_likelihood(coords, ca_torsion_probs):
        return mirrored
    return coords


# ----------------------------------------------------------------------------------------------
# 6. Backbone from a Cα trace
# ----------------------------------------------------------------------------------------------

def _place(a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle: float,
           torsion: float) -> np.ndarray:
    """Point d with |cd| = bond, angle(b, c, d) = angle and dihedral(a, b, c, d) = torsion."""
    bc = _unit(c - b)
    n = _unit(np.cross(b - a, bc))
    m = np.cross(n, bc)
    local = np.array([-np.cos(angle), np.sin(angle) * np.cos(torsion), np.sin(angle) * np.sin(torsion)])
    return c + bond * (local[0] * bc + local[1] * m + local[2] * n)


def _virtual_angles(ca: np.ndarray) -> np.ndarray:
    """Cα virtual bond angle at each residue [L] (NaN at the ends)."""
    out = np.full(len(ca), np.nan)
    if len(ca) >= 3:
        u, v = _unit(ca[:-2] - ca[1:-1]), _unit(ca[2:] - ca[1:-1])
        out[1:-1] = np.arccos(np.clip(np.sum(u * v, -1), -1.0, 1.0))
    return out


_DEFAULT_ANGLE = np.deg2rad(92.0)  # used only for chains too short to copy from (helix-like)
_DEFAULT_TORSION = np.deg2rad(50.0)


def _extend(ca: np.ndarray) -> np.ndarray:
    """Append two ghost Cα after the last residue, continuing the local geometry (copying the last
    defined virtual angle and torsion) so end residues get a full frame. Needs >= 3 points."""
    angles, torsions = _virtual_angles(ca), ca_virtual_torsions(ca)
    angle = angles[-2] if len(ca) >= 3 else _DEFAULT_ANGLE
    torsion = torsions[-3] if len(ca) >= 4 else _DEFAULT_TORSION
    pts = list(ca)
    for _ in range(2):
        pts.append(_place(pts[-3], pts[-2], pts[-1], CA_CA_DISTANCE, angle, torsion))
    return np.array(pts)


def _pad_trace(ca: np.ndarray) -> np.ndarray:
    """[L, 3] -> [L + 4, 3] with two ghost residues at each end (any L >= 1)."""
    if len(ca) >= 3:
        front = _extend(ca[::-1].copy())[::-1]  # dihedral is symmetric under reversal
        return _extend(front.copy())
    # Too short to copy geometry from: put a two-residue ideal-helix stub in front of the chain,
    # oriented so the stub's next bond points along the chain's first bond (if there is one).
    helix = ideal_helix_ca(4)
    rot = np.eye(3) if len(ca) == 1 else _rotation_between(helix[3] - helix[2], ca[1] - ca[0])
    stub = (helix[:2] - helix[2]) @ rot.T + ca[0]
    return _extend(np.concatenate([stub, ca]))


def _rotation_between(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation matrix [3, 3] taking direction src to direction dst (Rodrigues)."""
    src, dst = _unit(src), _unit(dst)
    axis = np.cross(src, dst)
    s, c = np.linalg.norm(axis), float(np.dot(src, dst))
    if s < 1e-8:  # parallel, or antiparallel: half turn about any axis perpendicular to src
        if c > 0:
            return np.eye(3)
        perp = _unit(np.cross(src, [1.0, 0.0, 0.0] if abs(src[0]) < 0.9 else [0.0, 1.0, 0.0]))
        return 2.0 * np.outer(perp, perp) - np.eye(3)
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * (kx @ kx)


def _local_frames(padded: np.ndarray) -> np.ndarray:
    """Padded trace [L + 4, 3] -> rotation [L, 3, 3] (columns ex, ey, ez) of each real residue:
    ex along CA[i+1] - CA[i-1], ey along the bisector pointing away from the bend, ez = ex × ey."""
    prev, mid, nxt = padded[1:-3], padded[2:-2], padded[3:-1]
    u, v = _unit(mid - prev), _unit(nxt - mid)
    ex = _unit(nxt - prev)
    ey = _unit(u - v)
    ez = np.cross(ex, ey)
    return np.stack([ex, ey, ez], axis=-1)


def _backbone_features(padded: np.ndarray) -> np.ndarray:
    """Padded trace [L + 4, 3] -> features [L, 21]: 1, the five base features
    (cos virtual angle_i, cos/sin torsion_{i-1}, cos/sin torsion_i) and their pairwise products."""
    angles = _virtual_angles(padded)[2:-2]
    torsions = ca_virtual_torsions(padded)  # defined on 1..L+1 of the padded chain
    tau_prev, tau = torsions[1:-3], torsions[2:-2]
    base = [np.cos(angles), np.cos(tau_prev), np.sin(tau_prev), np.cos(tau), np.sin(tau)]
    cols = [np.ones_like(angles)] + base
    cols += [base[a] * base[b] for a in range(len(base)) for b in range(a, len(base))]
    return np.stack(cols, axis=-1)


def _ideal_peptide() -> np.ndarray:
    """Ideal trans peptide unit [5, 2]: CA_i, C_i, O_i, N_i+1, CA_i+1 in its plane (Å), with
    CA_i at the origin and CA_i+1 on the +x axis (Engh & Huber bond lengths and angles)."""
    def turn(direction, degrees):  # rotate a 2-D direction counter-clockwise
        a = np.deg2rad(degrees)
        return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ direction

    ca0 = np.zeros(2)
    c = np.array([CA_C_LENGTH, 0.0])
    to_ca0 = (ca0 - c) / CA_C_LENGTH
    n = c + C_N_LENGTH * turn(to_ca0, -117.2)  # angle CA-C-N
    o = c + C_O_LENGTH * turn(to_ca0, 120.1)  # angle CA-C-O, other side from N
    to_c = (c - n) / C_N_LENGTH
    # angle C-N-CA; trans (omega = 180°) puts CA_i+1 on the far side of the C–N bond from CA_i
    ca1 = max((n + N_CA_LENGTH * turn(to_c, sign * 121.7) for sign in (1, -1)),
              key=lambda p: np.linalg.norm(p - ca0))
    pts = np.stack([ca0, c, o, n, ca1])
    x = ca1 / np.linalg.norm(ca1)
    return pts @ np.array([[x[0], -x[1]], [x[1], x[0]]])  # rotate so CA_i+1 lies on +x


_PEPTIDE = _ideal_peptide()  # [5, 2]; CA–CA = 3.80 Å


def _fit_peptides(ca: np.ndarray, c_pred: np.ndarray, o_pred: np.ndarray,
                  n_next_pred: np.ndarray) -> np.ndarray:
    """Place a rigid ideal peptide unit on each Cα pair (i, i+1), rotated about the Cα–Cα axis to
    best match the predicted C_i, O_i, N_i+1 (least squares; closed form for one rotation angle).
    ca [L, 3]; predictions [L-1, 3]. Returns C, O, N_next [L-1, 3, 3].
    Bond lengths and angles inside the unit are then ideal; only the axial coordinate is stretched
    to fit the actual Cα–Cα distance."""
    axis_vec = ca[1:] - ca[:-1]  # [P, 3]
    axis_len = np.linalg.norm(axis_vec, axis=-1, keepdims=True)
    e1 = axis_vec / np.maximum(axis_len, 1e-8)
    template = _PEPTIDE[[1, 2, 3]]  # [3, 2]: (axial, in-plane) coordinates of C, O, N
    rel = np.stack([c_pred, o_pred, n_next_pred], axis=1) - ca[:-1, None]  # [P, 3, 3]
    # The best in-plane direction w ⟂ e1 maximises Σ_a y_a (rel_a · w): w ∥ (Σ_a y_a rel_a)⊥.
    ref = np.einsum("a,pax->px", template[:, 1], rel)  # [P, 3]
    w = _unit(ref - np.sum(ref * e1, -1, keepdims=True) * e1)
    axial = template[None, :, 0, None] * (axis_len / _PEPTIDE[4, 0])[:, None]  # [P, 3, 1]
    return ca[:-1, None] + axial * e1[:, None] + template[None, :, 1, None] * w[:, None]


def build_backbone(ca: np.ndarray) -> np.ndarray:
    """Cα trace [L, 3] -> backbone [L, 5, 3] in N, CA, C, O, CB order.

    The regression model (`_BACKBONE_W`) predicts N, C, O in each residue's local Cα frame; each
    peptide unit C_i, O_i, N_i+1 is then replaced by a rigid ideal one oriented to match those
    predictions (`_fit_peptides`), so peptide bonds are ideal. N of the first residue and C, O of
    the last keep the raw prediction. CB from `ideal_cb`.
    """
    ca = np.asarray(ca, np.float64)
    length = len(ca)
    if length == 0:
        return np.zeros((0, 5, 3))
    padded = _pad_trace(ca)  # [L + 4, 3]
    frames = _local_frames(padded)  # [L, 3, 3]
    # [L, 21] @ [21, 9] -> [L, atom, xyz] (einsum, not BLAS: see expected_distances)
    local = np.einsum("lf,fo->lo", _backbone_features(padded), _BACKBONE_W).reshape(length, 3, 3)
    # world = CA + R @ local for each atom: [L, 3(xyz), 3(frame axis)] x [L, atom, 3] -> [L, atom, 3]
    atoms = ca[:, None, :] + np.einsum("lxk,lak->lax", frames, local)
    n, c, o = atoms[:, 0].copy(), atoms[:, 1].copy(), atoms[:, 2].copy()
    if length >= 2:
        unit = _fit_peptides(ca, c[:-1], o[:-1], n[1:])  # [L-1, 3(C, O, N_next), 3]
        c[:-1], o[:-1], n[1:] = unit[:, 0], unit[:, 1], unit[:, 2]
    cb = ideal_cb(n, ca, c)
    return np.stack([n, ca, c, o, cb], axis=1)


def fit_backbone_model(chains: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of the backbone model on real chains ([L, 4, 3] arrays N, CA, C, O).

    Returns (W [21, 9], cb_offset [3]). Residues within two of an end or of a chain break
    (CA–CA > 4.2 Å) are skipped. This is how _BACKBONE_W / _CB_OFFSET below were produced.
    """
    feats, targets, cb_local = [], [], []
    for chain in chains:
        chain = np.asarray(chain, np.float64)
        ca = chain[:, 1]
        if len(ca) < 6:
            continue
        keep = np.ones(len(ca), bool)
        keep[:2] = keep[-2:] = False
        for brk in np.nonzero(np.linalg.norm(np.diff(ca, axis=0), axis=-1) > 4.2)[0]:
            keep[max(0, brk - 1):brk + 3] = False
        if not keep.any():
            continue
        padded = _pad_trace(ca)
        frames = _local_frames(padded)[keep]  # [K, 3, 3]
        rel = np.stack([chain[keep, 0], chain[keep, 2], chain[keep, 3]], 1) - ca[keep, None]
        targets.append(np.einsum("kax,kxj->kaj", rel, frames).reshape(-1, 9))  # R^T (atom - CA)
        feats.append(_backbone_features(padded)[keep])
        cb = ideal_cb(chain[keep, 0], ca[keep], chain[keep, 2]) - ca[keep]
        cb_local.append(np.einsum("kx,kxj->kj", cb, frames))
    a, y = np.concatenate(feats), np.concatenate(targets)
    weights, *_ = np.linalg.lstsq(a, y, rcond=None)
    return weights, np.concatenate(cb_local).mean(axis=0)


# ----------------------------------------------------------------------------------------------
# 5 + 7. Restarts and the top level
# ----------------------------------------------------------------------------------------------

@dataclass
class GeometryResult:
    """Output of `reconstruct`.

    coords: [L, 5, 3] N, CA, C, O, CB; ca: [L, 3]; loss: refinement energy per residue of the
    chosen restart; restart_losses: one per restart; hand_flipped: the chosen trace is the mirror
    of what refinement converged to; timings: seconds per stage.
    """

    coords: np.ndarray
    ca: np.ndarray
    loss: float
    restart_losses: list[float]
    hand_flipped: bool
    best_restart: int
    timings: dict = field(default_factory=dict)


def reconstruct(distogram_probs: np.ndarray, ca_torsion_probs: np.ndarray | None = None,
                seed: int = 0, num_restarts: int = 3, steps: int = 100, polish_steps: int = 40,
                restart_noise: float = 1.0, lr: float = 0.2, clean_restarts: int = 2,
                stress_iterations: int = 20, far_weight: float = 0.005,
                weights: RefineWeights | None = None, extra_starts=()) -> GeometryResult:
    """Distogram [L, L, 65] (+ Cα torsion probabilities [L, 36]) -> GeometryResult.

    Start: classical MDS of the expected distances (completed by `complete_distances`), then
    `stress_iterations` weighted-SMACOF steps (`stress_polish`; completed "> 22 Å" distances
    weighted `far_weight` > 0), which repairs the local structure that classical MDS distorts when
    long distances are only estimates (per-domain Cα RMSD of a 4-domain 1000-residue benchmark
    chain 2.5-4.6 Å -> ~1 Å).

    Restarts alternate hands: even ones start from the MDS solution (mirrored first if the
    torsions prefer that), odd ones from its mirror. The first `clean_restarts` (default 2: both
    hands) start exactly there, later ones add N(0, restart_noise²) jitter drawn from numpy
    Generator(seed + r), so only those depend on the seed (pass clean_restarts=0 to make every
    restart seed-dependent, e.g. for several models). All restarts are refined together (Adam,
    `steps` steps, learning rate `lr` Å decaying to 0.05; they share the list of active far pairs,
    so a restart's result can depend slightly on the others in its batch). With torsions, each
    restart is then mirrored if `choose_hand`'s rule says so and polished for `polish_steps` more
    steps with the torsion term. Without torsions the hands compete on the final energy alone
    (the virtual Cβ makes it chiral: use num_restarts >= 2). The restart with the lowest final
    energy wins.
    extra_starts: more Cα traces [L, 3] Å to refine beside the restarts, as given (not mirrored;
    jittered like the others only when clean_restarts=0), e.g. a template's trace
    (foldlite.search.template_ca): with a good template the refinement then starts from the right
    fold instead of having to find it from the MDS solution.
    hand_flipped: the winner is the mirror image of the MDS solution's hand (False for an extra start).
    Same inputs and seed -> identical output.
    """
    timings = {}
    start = time.perf_counter()
    probs = np.asarray(distogram_probs, np.float32)
    length = probs.shape[0]
    if length == 0:
        return GeometryResult(np.zeros((0, 5, 3)), np.zeros((0, 3)), 0.0, [0.0], False, 0, {})

    tick = time.perf_counter()
    dist, weight = expected_distances(probs)
    timings["expected_distances"] = time.perf_counter() - tick
    tick = time.perf_counter()
    completed = complete_distances(dist, weight)  # "> 22 Å" pairs: shortest-path estimates
    init = classical_mds(completed)
    if stress_iterations > 0:  # the completed distances only nudge: weight far_weight
        init = stress_polish(init, completed, np.where(weight >= 0.05, weight, far_weight),
                             stress_iterations)
    use_torsions = ca_torsion_probs is not None and length >= 4
    mds_flipped = False
    if use_torsions:  # the MDS trace (of Cβ) already shows the hand of helices: start from it
        mds_flipped = (torsion_log_likelihood(_mirror(init), ca_torsion_probs)
                       > torsion_log_likelihood(init, ca_torsion_probs))
        init = _mirror(init) if mds_flipped else init
    timings["mds"] = time.perf_counter() - tick

    tick = time.perf_counter()
    # Odd restarts start from the mirror image. Refinement adapts a trace to its own hand (the
    # virtual Cβ is chiral), so a wrong-hand start ends distorted; starting both hands lets the
    # correct one be refined from the beginning. The first clean_restarts start without jitter.
    mirrored = np.arange(num_restarts) % 2 == 1
    starts = []
    for r in range(num_restarts):
        start_r = _mirror(init) if mirrored[r] else init
        if r >= clean_restarts:
            start_r = start_r + np.random.default_rng(seed + r).normal(0.0, restart_noise, init.shape)
        starts.append(start_r)
    for e, trace in enumerate(extra_starts):
        trace = np.asarray(trace, np.float64)
        if trace.shape != init.shape or not np.isfinite(trace).all():
            raise ValueError(f"extra start must be a finite [{length}, 3] trace, got shape {trace.shape}")
        trace = trace - trace.mean(axis=0) + init.mean(axis=0)
        if clean_restarts == 0:  # every start seed-dependent: jitter this one too
            trace = trace + np.random.default_rng(seed + num_restarts + e).normal(0.0, restart_noise, init.shape)
        starts.append(trace)
    num_starts = len(starts)
    mirrored = np.concatenate([mirrored, np.zeros(num_starts - num_restarts, bool)])
    energy = _Energy(probs, ca_torsion_probs, weights or RefineWeights())
    x = torch.from_numpy(np.stack(starts, axis=1)).float()  # [L, B, 3]
    x = _adam(energy, x, steps, lr=lr, lr_end=0.05)

    # With torsions: per restart, keep x or its mirror, whichever the torsions like more (the
    # polish below then repairs the flipped ones); without, the hands compete on the energy.
    flipped = mirrored ^ mds_flipped
    flipped[num_restarts:] = False  # extra starts keep their own hand unless the torsions flip them
    if use_torsions:
        for r in range(num_starts):
            xr = x[:, r].double().numpy()
            mirror_ll = torsion_log_likelihood(_mirror(xr), ca_torsion_probs)
            if mirror_ll > torsion_log_likelihood(xr, ca_torsion_probs):
                flipped[r] = not flipped[r]
                x[:, r] = _mirror(x[:, r])

    energy.use_torsion = True
    if polish_steps > 0:
        x = _adam(energy, x, polish_steps, lr=0.3 * lr, lr_end=0.01)
    with torch.no_grad():
        final = (energy(x) / length).double().numpy()
    timings["refine"] = time.perf_counter() - tick

    best = int(np.argmin(final))
    ca = x[:, best].double().numpy()
    tick = time.perf_counter()
    coords = build_backbone(ca)
    timings["backbone"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - start
    return GeometryResult(coords=coords, ca=ca, loss=float(final[best]),
                          restart_losses=[float(v) for v in final], hand_flipped=bool(flipped[best]),
                          best_restart=best, timings=timings)


def coords_from_distances(dist: np.ndarray, ca_torsion_probs: np.ndarray | None = None,
                          weight: np.ndarray | None = None, steps: int = 30) -> np.ndarray:
    """(Nearly) exact Cα–Cα distances [L, L] -> Cα coordinates [L, 3].

    Classical MDS, then `steps` SMACOF iterations on the relative stress
    Σ w_ij (d_ij - D_ij)² / D_ij² (absorbs small non-Euclidean noise; exact distances are a
    fixed point), then `choose_hand` if torsion probabilities are given (else the hand is arbitrary).
    """
    dist = np.asarray(dist, np.float64)
    coords = classical_mds(dist)
    w = np.ones_like(dist) if weight is None else np.asarray(weight, np.float64)
    coords = stress_polish(coords, dist, w / np.maximum(dist, 1.0) ** 2, steps)
    if ca_torsion_probs is not None:
        coords = choose_hand(coords, ca_torsion_probs)
    return coords


# Backbone model table (see the note near the top of the file), stored transposed: one row per
# output coordinate, one column per feature of `_backbone_features`.
_BACKBONE_W = np.array([
    [-0.5429, 0.3472, 0.0148, 0.0151, 0.0084, 0.0211, 0.1734, -0.0004, -0.0343, 0.0231, -0.0507,  # N x
     -0.2268, 0.0242, -0.0201, -0.0011, -0.3161, 0.0062, -0.0157, -0.2908, -0.0303, -0.2521],
    [-0.4494, -0.5864, -0.0109, -0.0119, -0.0159, -0.0381, -0.3482, 0.0248, 0.0925, -0.0433, 0.0500,  # N y
     -0.2901, -0.0268, 0.0219, 0.0008, -0.1592, -0.0181, 0.0160, -0.2025, 0.0451, -0.2469],
    [0.0775, -0.4665, -0.0890, 0.1401, 0.1042, -0.0011, -0.5562, -0.0407, 0.1872, 0.3027, -0.0607,  # N z
     0.0327, 0.1130, -0.0098, -0.0114, 0.0447, -0.0513, 0.0032, 0.0168, 0.1611, 0.0607],
    [0.6413, 0.2796, 0.0133, 0.0183, -0.0164, 0.0355, 0.1783, 0.0086, -0.0303, 0.0280, -0.0345,  # C x
     0.3623, 0.0189, -0.0297, -0.0098, 0.2791, -0.0015, -0.0215, 0.2931, -0.0491, 0.3482],
    [-0.3684, 0.1811, 0.0057, 0.0291, -0.0343, 0.0360, 0.0859, -0.0259, -0.0062, -0.0198, -0.1630,  # C y
     -0.1310, 0.0229, -0.0310, 0.0014, -0.2374, -0.0092, -0.0343, -0.2036, -0.0332, -0.1648],
    [-0.0132, -0.7314, -0.0360, -0.0665, -0.3147, -0.1044, -0.4898, 0.0402, -0.0236, -0.1945, -0.1074,  # C z
     -0.0403, -0.0619, 0.0020, 0.0165, 0.0271, -0.0128, 0.0183, 0.0345, -0.0603, -0.0477],
    [1.0144, 1.8556, 0.0495, 0.0656, -0.0437, 0.1297, 0.8049, 0.0321, -0.0644, 0.0920, -0.1673,  # O x
     0.6370, 0.0595, -0.1018, -0.0287, 0.3775, -0.0054, -0.0843, 0.4110, -0.1526, 0.6034],
    [-0.1473, 1.4076, 0.0355, 0.0965, -0.0830, 0.1349, -0.4060, -0.0485, -0.0072, 0.0293, -0.5553,  # O y
     0.0968, 0.0757, -0.1147, -0.0003, -0.2441, -0.0279, -0.1238, -0.1521, -0.1069, 0.0049],
    [-0.0519, -2.5088, -0.1084, -0.2346, -1.0153, -0.3451, -1.8495, 0.1487, -0.1607, -0.5116, -0.2444,  # O z
     -0.1231, -0.1991, -0.0017, 0.0479, 0.0712, -0.0294, 0.0738, 0.1029, -0.2391, -0.1548],
]).T  # [21, 9]
_CB_OFFSET = np.array([0.1615, 1.1247, 0.9377])  # Å along ex, ey, ez

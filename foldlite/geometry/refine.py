"""Step 3 of the geometry: gradient refinement of Cα traces against the distogram.

Adam on a batch of Cα traces minimising -log P_ij(d_ij) of the predicted distogram, linearly
interpolated between bin centres, plus Cα–Cα bond, Cα(i, i+2) angle, clash and (after the hand is
fixed) Cα-torsion terms. Only informative pairs get their own term; "> 22 Å" pairs are checked every
few steps and join in only while they come close (L = 1000 stays at ~10^5 pairs, < 1 GB).
The distogram is over Cβ, so the loss places a virtual Cβ on the trace (fixed offset in the local
frame of CA[i-1], CA[i], CA[i+1], fitted on real chains, ~0.4 Å from the true Cβ) rather than
pretending Cα ≈ Cβ: Cα and Cβ distances of a contact differ by 1-2 Å, which is several bins, and the
virtual Cβ is also chiral, so the distogram alone carries a little hand signal.

Every term's gradient is written out (pair_term.py, chain_terms.py) and Adam calls it directly:
no autograd graph per step (at 300 residues a step took ~4.5-7 ms through torch's autograd on 2 cores
of an AMD EPYC, mostly fixed costs of its many small operations). It is numpy and scipy.sparse, not
torch: the geometry does not need torch at all (see README "Speed and memory" for why that matters).

Traces here are [L, B, 3], residues first, unlike the network's B-first tensors: every step is one
sparse product incidence [M, L] @ points [L, B*6], which needs residues on the leading axis.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import (CA_CA_DISTANCE, DISTOGRAM_BINS, DISTOGRAM_CENTERS, NUM_DISTOGRAM_CLASSES, TORSION_BINS,
                         TORSION_CENTERS)
from .chain_terms import dihedral_with_gradient, scatter_dihedral_gradient, virtual_cb, virtual_cb_backward
from .distances import BIN_WIDTH, KNOTS, TORSION_WIDTH
from .pair_term import CaInterval, PairGroup

CLASH_DISTANCE = 4.0  # Å, Cα–Cα for |i - j| >= 3
CA_I2_RANGE = (5.0, 7.3)  # Å, Cα(i)–Cα(i+2): virtual bond angle ~82°..148°, covers real chains
CLASH_CEILING = 1e4  # Å, the "upper bound" of a clash pair's Cα interval: none


@dataclass
class RefineWeights:
    """Relative weights of the refinement terms (Adam is scale-free, only ratios matter)."""

    distogram: float = 1.0  # per pair, -log P(Cβ distance)
    # Stiff enough to keep Cα–Cα within ~0.1 Å of 3.8 against a sharp distogram, soft enough
    # for Adam (at 1000 the refinement stalls; measured on the test chains).
    bond: float = 300.0  # per Å² of (|CA_i+1 - CA_i| - 3.8)
    angle: float = 50.0  # per Å² of Cα(i)–Cα(i+2) outside CA_I2_RANGE
    clash: float = 30.0  # per Å² of Cα–Cα (|i - j| >= 3) below clash_distance
    clash_distance: float = CLASH_DISTANCE  # Å
    torsion: float = 2.0  # per residue, -log P(Cα torsion); only once the hand is chosen
    # per residue, per Å² of radius of gyration above that of a compact globule (compact_radius):
    # pulls a chain together where the distogram does not say how (0: off). 10 chosen on valid,
    # results/tune_compactness_valid.txt; fold() uses it for single-sequence folds only.
    compactness: float = 0.0


def compact_radius(length: int) -> float:
    """Radius of gyration (Å) of a compact globular chain of `length` residues: 2.2 L^0.38
    (Skolnick et al., J Mol Biol 1997, fitted to PDB monomers)."""
    return 2.2 * length ** 0.38


def radius_of_gyration(ca: np.ndarray) -> float:
    """Cα trace [L, 3] Å -> radius of gyration, Å."""
    return float(np.sqrt(((ca - ca.mean(0)) ** 2).sum(-1).mean()))


def _blur(probs: np.ndarray, sigma_bins: float, circular: bool) -> np.ndarray:
    """Gaussian blur along the last axis (bins); circular for angles, zero-padded for distances."""
    bins = probs.shape[-1]
    offsets = np.arange(bins)
    delta = offsets[:, None] - offsets[None, :]  # [bins, bins]
    if circular:
        delta = (delta + bins // 2) % bins - bins // 2
    kernel = np.exp(-0.5 * (delta / sigma_bins) ** 2).astype(probs.dtype)
    return probs @ kernel  # [..., bins]


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


def _knot_slopes(values: np.ndarray) -> np.ndarray:
    """-log P at the knots [N, 65] -> slopes [N, 66] (per Å): column k + 1 is the segment from knot k to
    k + 1; columns 0 and 65 (left of the first knot, right of the last one) are 0."""
    slopes = np.zeros((len(values), NUM_DISTOGRAM_CLASSES + 1), np.float32)
    slopes[:, 1:-1] = np.diff(values, axis=-1) / BIN_WIDTH
    return slopes


class _Energy:
    """Refinement objective for a batch of Cα traces x [L, B, 3]; built once per distogram.

    Pairs with their own -log P row: |i - j| <= 2, P(d < 22 Å) >= min_p_in, or a possible contact
    (P(d < 12 Å) >= min_p_close, so an uncertain contact is not mistaken for "far"). The rest
    (for a real distogram of a long chain, most pairs: models rarely give exactly 0 to short bins)
    share one generic "> 22 Å" row and are evaluated only while some trace has them within
    far_margin of 22 Å (refresh(), every few steps); this keeps L = 1000 at ~10^5 pairs. The two
    kinds are separate pair groups, so a refresh rebuilds only the small list of active far pairs.

    `gradient(x)` is what the optimiser calls; calling the object gives the energy [B].
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
        # informative pairs ordered by their Cα term: bonds (|i - j| = 1), then i, i+2 (2), then the rest
        inf_i, inf_j = iu[informative], ju[informative]
        order = np.argsort(np.minimum(inf_j - inf_i, 3), kind="stable")
        inf_i, inf_j = inf_i[order], inf_j[order]
        values = smoothed_neg_log(probs[inf_i, inf_j])  # [M, 65] at KNOTS
        self.far_values = far_values[0]  # [65], shared by every far pair
        self.far_slopes = _knot_slopes(far_values)[0]  # [66]
        separation = inf_j - inf_i
        intervals = [CaInterval(int((separation == 1).sum()), CA_CA_DISTANCE, CA_CA_DISTANCE, weights.bond),
                     CaInterval(int((separation == 2).sum()), *CA_I2_RANGE, weights.angle),
                     CaInterval(int((separation >= 3).sum()), weights.clash_distance, CLASH_CEILING, weights.clash)]
        self.informative = PairGroup(inf_i, inf_j, length, intervals, values=values, slopes=_knot_slopes(values),
                                     distogram_weight=weights.distogram)
        # far pairs are all |i - j| >= 3 (closer ones are informative): clash only
        self.far_i = iu[~informative]
        self.far_j = ju[~informative]
        self.set_active_far(np.zeros(0, dtype=np.intp))

        self.torsion_table = None
        if ca_torsion_probs is not None and length >= 4:
            table = smoothed_neg_log(np.asarray(ca_torsion_probs)[1:-2], circular=True,
                                     sigma_bins=2.0)  # [L-3, 36]: residues with a defined torsion
            self.torsion_table = table.reshape(-1)
            self.torsion_base = (np.arange(length - 3) * TORSION_BINS)[:, None]  # [L-3, 1]
        self.use_torsion = False

    def set_active_far(self, active: np.ndarray):
        """Evaluate these far pairs (indices into far_i / far_j) beside the informative ones."""
        w = self.weights
        clash = CaInterval(len(active), w.clash_distance, CLASH_CEILING, w.clash)
        self.active_far = PairGroup(self.far_i[active], self.far_j[active], self.length, [clash],
                                    self.far_values, self.far_slopes, w.distogram)

    def refresh(self, x: np.ndarray):
        """Activate the far pairs whose virtual-Cβ distance is now within reach of 22 Å."""
        if len(self.far_i) == 0:
            return
        cb, _ = virtual_cb(x)  # [L, B, 3]
        delta = cb[self.far_i] - cb[self.far_j]  # [F, B, 3]
        d = np.sqrt(np.einsum("fbk,fbk->fb", delta, delta))  # [F, B] (~3x faster than np.linalg.norm)
        close = (d < KNOTS[-1] + self.far_margin).any(axis=1)
        self.set_active_far(np.flatnonzero(close))

    def energy_and_gradient(self, x: np.ndarray, need_value: bool = True):
        """x [L, B, 3] -> (energy [B] or None when not need_value, dE/dx [L, B, 3])."""
        cb, frame = virtual_cb(x)
        points = np.concatenate([x, cb], axis=-1)  # [L, B, 6]
        energy, grad_points = self.informative.energy_and_gradient(points, need_value)
        far_energy, far_grad = self.active_far.energy_and_gradient(points, need_value)
        grad_points += far_grad
        grad = grad_points[..., :3] + virtual_cb_backward(frame, np.ascontiguousarray(grad_points[..., 3:]))
        if need_value:
            energy = energy + far_energy
        if self.use_torsion and self.torsion_table is not None:
            tau, dtau = dihedral_with_gradient(x)  # [L-3, B], [4, L-3, B, 3]
            pos = (tau - float(TORSION_CENTERS[0])) / TORSION_WIDTH
            k = np.floor(pos)
            k0 = k.astype(np.intp) % TORSION_BINS  # circular knots
            v0 = self.torsion_table.take(self.torsion_base + k0).astype(x.dtype)
            v1 = self.torsion_table.take(self.torsion_base + (k0 + 1) % TORSION_BINS).astype(x.dtype)
            grad += scatter_dihedral_gradient(self.weights.torsion / TORSION_WIDTH * (v1 - v0), dtau, self.length)
            if need_value:
                energy = energy + self.weights.torsion * (v0 + (v1 - v0) * (pos - k)).sum(0)
        if self.weights.compactness > 0:
            centred = x - x.mean(0, keepdims=True)  # [L, B, 3]
            radius = np.sqrt((centred * centred).sum(-1).mean(0))  # [B] Å
            excess = np.maximum(radius - compact_radius(self.length), 0.0)  # [B] Å
            # d radius / dx_i = centred_i / (L radius)
            grad += (2.0 * self.weights.compactness * excess / np.maximum(radius, 1e-12))[None, :, None] * centred
            if need_value:
                energy = energy + self.weights.compactness * self.length * excess * excess
        return energy, grad

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """dE/dx [L, B, 3] for x [L, B, 3] (traces are independent: each trace's own gradient)."""
        return self.energy_and_gradient(x, need_value=False)[1]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Per-trace energy [B] for x [L, B, 3]."""
        return self.energy_and_gradient(x)[0]


def _adam(energy: _Energy, x0: np.ndarray, steps: int, lr: float, lr_end: float,
          refresh_every: int = 20, betas=(0.9, 0.99), eps: float = 1e-8) -> np.ndarray:
    """Adam with a cosine learning-rate decay (lr -> lr_end, roughly Å per step) on x [L, B, 3]
    (a new array; x0 is left as it is). Written out: the handful of in-place operations here is all
    it needs."""
    x = np.array(x0)
    m, v = np.zeros_like(x), np.zeros_like(x)
    for step in range(steps):
        if step % refresh_every == 0:
            energy.refresh(x)
        grad = energy.gradient(x)
        cos = 0.5 * (1.0 + np.cos(np.pi * step / max(steps - 1, 1)))
        step_lr = lr_end + (lr - lr_end) * cos
        m *= betas[0]
        m += (1.0 - betas[0]) * grad
        v *= betas[1]
        v += (1.0 - betas[1]) * grad * grad
        m_hat_scale = step_lr / (1.0 - betas[0] ** (step + 1))
        denominator = np.sqrt(v / (1.0 - betas[1] ** (step + 1)))
        denominator += eps
        x -= m_hat_scale * m / denominator
    energy.refresh(x)
    return x

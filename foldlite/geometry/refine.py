"""Step 3 of the geometry: gradient refinement of Cα traces against the distogram.

Adam on a batch of Cα traces minimising -log P_ij(d_ij) of the predicted distogram, linearly
interpolated between bin centres, plus Cα–Cα bond, Cα(i, i+2) angle, clash and (after the hand is
fixed) Cα-torsion terms. Only informative pairs get their own term; "> 22 Å" pairs are checked every
few steps and join in only while they come close (L = 1000 stays at ~10^5 pairs, < 1 GB).
The distogram is over Cβ, so the loss places a virtual Cβ on the trace (fixed offset in the local
frame of CA[i-1], CA[i], CA[i+1], fitted on real chains, ~0.4 Å from the true Cβ) rather than
pretending Cα ≈ Cβ: Cα and Cβ distances of a contact differ by 1-2 Å, which is several bins, and the
virtual Cβ is also chiral, so the distogram alone carries a little hand signal.

Traces here are [L, B, 3], residues first, unlike the network's B-first tensors: every step is one
sparse product incidence [M, L] @ points [L, B*6], which needs residues on the leading axis; a
B-first layout would cost a transposed copy per step and change the floating-point results.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ..constants import (CA_CA_DISTANCE, DISTOGRAM_BINS, DISTOGRAM_CENTERS, NUM_DISTOGRAM_CLASSES, TORSION_BINS,
                         TORSION_CENTERS)
from .backbone import CB_OFFSET
from .distances import BIN_WIDTH, KNOTS, TORSION_WIDTH
from .vectors import dihedral_t, unit_t

CLASH_DISTANCE = 4.0  # Å, Cα–Cα for |i - j| >= 3
CA_I2_RANGE = (5.0, 7.3)  # Å, Cα(i)–Cα(i+2): virtual bond angle ~82°..148°, covers real chains


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


def _virtual_cb(ca: torch.Tensor) -> torch.Tensor:
    """Cα traces [L, B, 3] -> virtual Cβ [L, B, 3]: the fixed CB_OFFSET in the frame
    (ex ∥ CA[i+1] - CA[i-1], ey ∥ 2 CA[i] - CA[i-1] - CA[i+1], ez = ex × ey); the two end
    residues reuse their neighbour's offset. L < 3: Cβ = Cα."""
    if ca.shape[0] < 3:
        return ca
    prev, mid, nxt = ca[:-2], ca[1:-1], ca[2:]
    ex = unit_t(nxt - prev)
    ey = unit_t(2.0 * mid - prev - nxt)  # = bisector away from the bend when bonds are equal
    ez = torch.linalg.cross(ex, ey)
    # [L-2, B, 3(xyz), 3(axis)] @ [3(axis)] -> [L-2, B, 3]
    offset = torch.stack([ex, ey, ez], dim=-1) @ torch.as_tensor(CB_OFFSET, dtype=ca.dtype)
    offset = torch.cat([offset[:1], offset, offset[-1:]])  # [L, B, 3]
    return ca + offset


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

        self.ca_lo = by_separation(CA_CA_DISTANCE, low, w.clash_distance)
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
            tau = dihedral_t(x[:-3], x[1:-2], x[2:-1], x[3:])  # [L-3, B]
            pos = (tau - float(TORSION_CENTERS[0])) / TORSION_WIDTH
            with torch.no_grad():
                k = pos.floor()
                k0 = k.long() % TORSION_BINS  # circular knots
                v0 = torch.take(self.torsion_table, self.torsion_base + k0)
                v1 = torch.take(self.torsion_table, self.torsion_base + (k0 + 1) % TORSION_BINS)
            energy = energy + self.weights.torsion * (v0 + (v1 - v0) * (pos - k)).sum(0)
        if self.weights.compactness > 0:
            centred = x - x.mean(0, keepdim=True)  # [L, B, 3]
            radius = centred.square().sum(-1).mean(0).sqrt()  # [B] Å
            excess = (radius - compact_radius(self.length)).clamp(min=0.0)  # [B] Å
            energy = energy + self.weights.compactness * self.length * excess.square()
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



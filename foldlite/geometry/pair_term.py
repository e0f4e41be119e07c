"""The pair part of the refinement energy, with its gradient: for a list of residue pairs (i, j),

Cα:  w (max(0, lo - d)² + max(0, d - hi)²): the bond (lo = hi = 3.8 Å, |i-j| = 1), the
     i, i+2 angle range (|i-j| = 2) and the clash (lo = 4 Å, hi = ∞, |i-j| >= 3);
Cβ:  -log P_ij(d), linear between the knots of distances.KNOTS, flat outside them.

Layout, for speed on CPU: the pair differences are one sparse product (incidence S [M, L] @ points
[L, B*6], scipy.sparse) and the gradient goes back through Sᵀ, which is deterministic and several
times faster than gathers and their scatter-add backward. The sums over x, y, z and the expansion back
to them are small dense matrix products (`_xyz_sum`), so no operation reduces over a short strided axis.
Everything per pair and trace is then laid out [B, M], pairs last: each elementwise operation runs over
long contiguous rows (on [M, B] column slices numpy loops over M rows of B = 2-5 numbers, measured
10-20x slower per operation at M = 15,000).

Shapes: L residues, B traces, M pairs; points [L, B, 6] = (Cα xyz, virtual Cβ xyz); Å.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse

from .distances import BIN_WIDTH, KNOTS

NUM_KNOTS = len(KNOTS)  # 65


def incidence(i: np.ndarray, j: np.ndarray, length: int, dtype=np.float32):
    """CSR incidence matrix S [M, L] (row m: +1 at i[m], -1 at j[m]) and its transpose [L, M], as CSR
    too (the product Sᵀ @ gradient runs over the transpose's rows)."""
    num = len(i)
    cols = np.stack([i, j], axis=1).reshape(-1)  # [2M]; i < j, so each row's columns are sorted
    values = np.tile(np.array([1.0, -1.0], dtype), num)
    s = scipy.sparse.csr_matrix((values, cols, np.arange(0, 2 * num + 1, 2)), shape=(num, length))
    return s, s.T.tocsr()


@lru_cache(maxsize=16)
def _xyz_sum(batch: int, dtype: np.dtype) -> np.ndarray:
    """[2B, 6B] 0/1 matrix: row (atom * B + b) sums the x, y, z columns of atom (0 Cα, 1 Cβ) of trace b
    in a [.., B*6] row laid out (b, atom, xyz)."""
    out = np.zeros((2, batch, batch, 2, 3), dtype)
    for atom in range(2):
        for b in range(batch):
            out[atom, b, b, atom, :] = 1.0
    out = out.reshape(2 * batch, 6 * batch)
    out.flags.writeable = False  # shared through the cache
    return out


@dataclass(frozen=True)
class CaInterval:
    """The Cα term of `count` consecutive pairs of a group: allowed interval [lo, hi] Å, weight w."""

    count: int
    lo: float
    hi: float
    weight: float


class PairGroup:
    """A fixed list of pairs with their parameters; `energy_and_gradient` evaluates them.

    ca_intervals: the Cα terms, each for the next `count` pairs (the counts add up to M); pairs that
    share their interval are consecutive, so each block is clipped against two plain numbers (a
    per-pair bound broadcast over the traces made that ~10x slower). Distance potential: either per pair, values [M, 65] (-log P at the knots) and slopes
    [M, 66] (per Å; column k + 1 is the segment from knot k to k + 1, columns 0 and 65 are the flat
    outsides), or one row of each shared by all pairs ([65] and [66]).
    """

    def __init__(self, i: np.ndarray, j: np.ndarray, length: int, ca_intervals: list[CaInterval],
                 values: np.ndarray, slopes: np.ndarray, distogram_weight: float, dtype=np.float32):
        self.num_pairs = len(i)
        if sum(block.count for block in ca_intervals) != self.num_pairs:
            raise ValueError(f"the Cα intervals cover {sum(b.count for b in ca_intervals)} pairs, not {len(i)}")
        stops = np.cumsum([block.count for block in ca_intervals])
        # (pair slice, interval) per block
        self.ca_blocks = [(slice(stop - block.count, stop), block) for stop, block in zip(stops, ca_intervals)]
        self.distogram_weight = distogram_weight
        self.shared = values.ndim == 1
        # flat tables: a lookup is one take; per pair, row m's entries start at m * width
        self.values = np.ascontiguousarray(values, dtype).reshape(-1)
        self.slopes = np.ascontiguousarray(slopes, dtype).reshape(-1)
        self.value_rows = self.slope_rows = None  # a shared row: index it directly
        if not self.shared:
            self.value_rows = np.arange(self.num_pairs) * values.shape[1]  # [M]
            self.slope_rows = np.arange(self.num_pairs) * slopes.shape[1]
        if self.num_pairs:
            self.incidence, self.incidence_t = incidence(i, j, length, dtype)

    @staticmethod
    def _lookup(table: np.ndarray, rows: np.ndarray | None, index: np.ndarray) -> np.ndarray:
        """table[index] for a shared row (rows None), else table[m, index[b, m]] with rows [M] the
        flat start of each pair's row; index [B, M] -> [B, M]."""
        return table.take(index if rows is None else rows + index)

    def energy_and_gradient(self, points: np.ndarray, need_value: bool):
        """points [L, B, 6] -> (energy [B] or None, dE/dpoints [L, B, 6])."""
        length, batch, _ = points.shape
        if self.num_pairs == 0:
            return (np.zeros(batch, points.dtype) if need_value else None), np.zeros_like(points)
        # [M, B*6]: Cα and Cβ difference vectors of each pair, columns (b, atom, xyz)
        diff = self.incidence @ points.reshape(length, -1)
        xyz_sum = _xyz_sum(batch, diff.dtype)  # [2B, 6B]
        # [2B, M], pairs last: rows Cα of each trace, then Cβ (xyz_sum @ squaresᵀ: BLAS reads the
        # transpose in place)
        dist = xyz_sum @ (diff * diff).T
        dist += 1e-8
        np.sqrt(dist, out=dist)
        d_ca, d_cb = dist[:batch], dist[batch:]  # [B, M] each

        # dE/dd per pair and trace, [2B, M]: Cα rows, then Cβ rows
        coef = np.empty_like(dist)
        # Cα: d - clip(d, lo, hi) is the signed distance outside the allowed interval, times 2 w
        # (the derivative of w excess²); e_ca sums w excess² per trace.
        e_ca = np.zeros(batch, dist.dtype) if need_value else None
        for rows, block in self.ca_blocks:
            excess = coef[:batch, rows]
            np.clip(d_ca[:, rows], block.lo, block.hi, out=excess)
            np.subtract(d_ca[:, rows], excess, out=excess)
            if need_value:
                e_ca += block.weight * np.einsum("bm,bm->b", excess, excess)
            excess *= 2.0 * block.weight
        # Cβ: slope of -log P on the segment holding d; padded index 0 = below the first knot,
        # 65 = beyond the last one.
        pos = d_cb * (1.0 / BIN_WIDTH)
        pos += 1.0 - float(KNOTS[0]) / BIN_WIDTH  # knot coordinate + 1
        segment = np.clip(pos, 0.0, NUM_KNOTS).astype(np.intp)  # [B, M]
        slope = coef[batch:]
        slope[:] = self._lookup(self.slopes, self.slope_rows, segment)
        slope *= self.distogram_weight

        # dE/d(diff) = dE/dd * diff / d, expanded back to the x, y, z columns: [M, B*6]
        coef /= dist
        diff *= coef.T @ xyz_sum
        grad = (self.incidence_t @ diff).reshape(length, batch, 6)

        if not need_value:
            return None, grad
        # -log P at d: value at the left knot + slope * offset, flat outside the knot range
        left = np.clip(pos - 1.0, 0.0, NUM_KNOTS - 1.0)  # knot coordinate, clamped
        knot = np.floor(np.minimum(left, NUM_KNOTS - 2.0))
        index = knot.astype(np.intp)
        value = self._lookup(self.values, self.value_rows, index)
        step = self._lookup(self.slopes, self.slope_rows, index + 1)  # that segment's slope
        e_cb = (value + step * (left - knot) * BIN_WIDTH).sum(1)
        return e_ca + self.distogram_weight * e_cb, grad

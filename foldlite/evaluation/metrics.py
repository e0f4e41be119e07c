"""Structure-comparison metrics: superposition, RMSD, TM-score, GDT, lDDT, contact precision, Q3.

numpy only, pure functions, Å everywhere. Residue i of the model corresponds to residue i of the
reference (no sequence alignment is done here).

TM-score and GDT follow the TMscore program (Zhang & Skolnick, Proteins 2004 57:702) as shipped in
Debian's `tm-align` package: same d0, same normalisation by the reference length, and the same
heuristic search for the best superposition (seed fragments + iterative extension). The goldens in
tests/fixtures/golden_tmscore.json pin that agreement (see tests/fixtures/README).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import LDDT_THRESHOLDS, SS3_ALPHABET
from ..geometry.vectors import kabsch_rmsd, pairwise_distances, rotation_from_covariance

GDT_TS_CUTOFFS = (1.0, 2.0, 4.0, 8.0)  # Å
GDT_HA_CUTOFFS = (0.5, 1.0, 2.0, 4.0)  # Å

# TMscore's search parameters.
_TM_ITERATIONS = 20  # max re-superpositions per seed
_TM_MAX_SEED_LENGTHS = 6  # seed lengths L, L/2, L/4, L/8, L/16, then 4
_TM_MIN_SEED_LENGTH = 4
_SEARCH_CHUNK = 1 << 21  # seeds x residues per batch: bounds memory (16 MB per float64 array)


# ----------------------------------------------------------------------------------------------
# Superposition
# ----------------------------------------------------------------------------------------------


def _batched_kabsch(subsets: np.ndarray, sums_basis: np.ndarray):
    """Superpositions of x onto y for many residue subsets at once.

    subsets: [B, N] bool; sums_basis: [N, 15] = (x_n ⊗ y_n flattened, x_n, y_n) for x, y [N, 3].
    Returns R [B, 3, 3], t [B, 3] with R x + t fitting y on each subset. All the sums needed come out
    of one [B, N] @ [N, 15] product, which keeps thousands of fits cheap.
    """
    weights = subsets.astype(np.float64)  # [B, N]
    count = weights.sum(axis=1)[:, None]  # [B, 1]
    sums = weights @ sums_basis  # [B, 15]
    cx = sums[:, 9:12] / count  # [B, 3]
    cy = sums[:, 12:15] / count  # [B, 3]
    # [B, 3, 3]: sum_n x y^T - n cx cy^T  ==  sum_n (x - cx)(y - cy)^T
    cov = sums[:, :9].reshape(-1, 3, 3) - count[:, :, None] * cx[:, :, None] * cy[:, None, :]
    rotation = rotation_from_covariance(cov)
    translation = cy - np.einsum("bij,bj->bi", rotation, cx)
    return rotation, translation


# ----------------------------------------------------------------------------------------------
# TM-score and GDT
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TMResult:
    """Scores of a model against a reference, residue i <-> residue i.

    tm_score:  TM-score normalised by the reference length, best over the superposition search
    gdt_ts:    fraction (0-1) mean over cutoffs 1, 2, 4, 8 Å of the best fraction of residues within
               the cutoff (each cutoff maximised separately over the same superpositions, as TMscore)
    gdt_ha:    same with cutoffs 0.5, 1, 2, 4 Å
    rmsd:      Å, after one global superposition on all compared residues (TMscore's "RMSD of the
               common residues")
    aligned_length: number of residues compared (TMscore's "Number of residues in common")
    d0:        Å, the TM-score distance scale used
    rotation, translation: the superposition with the best TM-score; model @ R.T + t fits the reference
    """

    tm_score: float
    gdt_ts: float
    gdt_ha: float
    rmsd: float
    aligned_length: int
    d0: float
    rotation: np.ndarray
    translation: np.ndarray


def tm_d0(length: int) -> float:
    """TM-score distance scale d0 (Å) for a reference of `length` residues, as TMscore computes it."""
    if length <= 15:
        return 0.5
    return max(0.5, 1.24 * (length - 15) ** (1.0 / 3.0) - 1.8)


def _seed_lengths(n: int) -> list[int]:
    """Fragment lengths TMscore seeds its search with: n, n/2, n/4, n/8, n/16, then 4."""
    minimum = min(_TM_MIN_SEED_LENGTH, n)
    lengths = []
    for i in range(_TM_MAX_SEED_LENGTHS - 1):
        length = n // 2**i
        if length <= minimum:
            lengths.append(minimum)
            return lengths
        lengths.append(length)
    lengths.append(minimum)
    return lengths


def _seed_masks(n: int) -> np.ndarray:
    """[S, n] bool: every contiguous window of every seed length (TMscore slides by one residue)."""
    masks = []
    index = np.arange(n)
    for length in _seed_lengths(n):
        starts = np.arange(n - length + 1)[:, None]  # [S_len, 1]
        masks.append((index[None, :] >= starts) & (index[None, :] < starts + length))
    return np.concatenate(masks, axis=0)


def _inclusion_mask(dist2: np.ndarray, cutoff: float, extend: bool) -> np.ndarray:
    """[B, N] residues closer than cutoff (dist2: [B, N] squared distances, Å^2).

    Like TMscore, when fewer than 3 residues are in, the cutoff grows in 0.5 Å steps until 3 are.
    """
    if not extend:
        return dist2 < cutoff**2
    third = np.sqrt(np.partition(dist2, 2, axis=1)[:, 2])  # [B] third-smallest distance
    # smallest k >= 0 with cutoff + 0.5 k > third
    steps = np.where(third < cutoff, 0.0, np.floor((third - cutoff) / 0.5) + 1.0)
    return dist2 < ((cutoff + 0.5 * steps) ** 2)[:, None]


def tm_score(model_ca: np.ndarray, ref_ca: np.ndarray, mask: np.ndarray | None = None,
             d0: float | None = None, norm_length: int | None = None) -> TMResult:
    """TM-score, GDT-TS/HA and RMSD of model_ca [L, 3] against ref_ca [L, 3] (Å, residue i <-> i).

    mask [L] bool (optional): residues present in both; absent residues are not compared but still
    count in the normalisation length (like residues missing from a model in TMscore).
    d0 / norm_length override the distance scale and the normalisation length (TMscore -d / -l);
    by default norm_length = L (the reference length) and d0 = 1.24 (L - 15)^(1/3) - 1.8, >= 0.5.

    Search (as TMscore): superpose on every window of length L, L/2, ..., L/16 and 4; from each,
    re-superpose up to 20 times on the residues within d0_search + 1 Å (d0_search = d0 clipped to
    [4.5, 8]; the first selection uses d0_search - 1). Each superposition visited is scored; TM-score
    and each GDT cutoff keep their own maximum.
    """
    model_ca = np.asarray(model_ca, dtype=np.float64)
    ref_ca = np.asarray(ref_ca, dtype=np.float64)
    if model_ca.shape != ref_ca.shape or model_ca.ndim != 2 or model_ca.shape[1] != 3:
        raise ValueError(f"tm_score needs two [L, 3] arrays, got {model_ca.shape} and {ref_ca.shape}")
    length = len(ref_ca)
    keep = np.ones(length, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    x, y = model_ca[keep], ref_ca[keep]  # [n, 3] compared residues
    n = len(x)
    if n == 0:
        raise ValueError("tm_score: no residues to compare")
    norm = length if norm_length is None else int(norm_length)
    d0 = tm_d0(norm) if d0 is None else float(d0)
    d0_search = min(max(d0, 4.5), 8.0)
    extend = n > 3  # TMscore only widens the cutoff when there are more than 3 residues

    # TM-score is translation invariant; centring keeps the expanded squared distances below exact.
    x_center, y_center = x.mean(axis=0), y.mean(axis=0)
    x = x - x_center
    y = y - y_center
    xy_outer = (x[:, :, None] * y[:, None, :]).reshape(n, 9)  # [n, 9] x_n ⊗ y_n
    sums_basis = np.concatenate([xy_outer, x, y], axis=1)  # [n, 15]
    # |R x + t - y|^2 = |x|^2 + |y|^2 + |t|^2 + 2 (R^T t).x - 2 t.y - 2 sum_ij R_ij y_i x_j: one
    # [B, 15] @ [15, n] product gives all squared distances (much faster than moving coordinates).
    yx_outer = (y[:, :, None] * x[:, None, :]).reshape(n, 9)  # [n, 9] y_n ⊗ x_n
    basis = np.concatenate([-2.0 * yx_outer, 2.0 * x, -2.0 * y], axis=1).T  # [15, n]
    norms = np.sum(x**2, axis=1) + np.sum(y**2, axis=1)  # [n]
    gdt_cutoffs = np.array(sorted(set(GDT_TS_CUTOFFS + GDT_HA_CUTOFFS)))  # [5]
    best_tm, best_rt = -1.0, None
    best_gdt = np.zeros(len(gdt_cutoffs), dtype=np.int64)

    def score(subsets: np.ndarray, cutoff: float):
        """Superpose on each subset [B, n]; score; return the next subsets (within cutoff)."""
        nonlocal best_tm, best_rt, best_gdt
        subsets = subsets[subsets.any(axis=1)]  # only possible for n <= 3: nothing to fit on
        if len(subsets) == 0:
            return subsets
        rotation, translation = _batched_kabsch(subsets, sums_basis)
        coeff = np.concatenate([rotation.reshape(-1, 9),
                                np.einsum("bji,bj->bi", rotation, translation), translation], axis=1)
        # [B, n] squared distances after each superposition
        dist2 = np.maximum(coeff @ basis + norms + np.sum(translation**2, axis=1)[:, None], 0.0)
        tm = np.sum(1.0 / (1.0 + dist2 / d0**2), axis=1) / norm  # [B]
        top = int(np.argmax(tm))
        if tm[top] > best_tm:
            best_tm, best_rt = float(tm[top]), (rotation[top], translation[top])
        for k, c in enumerate(gdt_cutoffs):
            best_gdt[k] = max(best_gdt[k], int(np.count_nonzero(dist2 <= c * c, axis=1).max()))
        return _inclusion_mask(dist2, cutoff, extend)

    # The search is deterministic given the residue subset a superposition is fitted on, so a subset
    # already fitted at the same or an earlier iteration is dropped: same maxima, far fewer fits.
    first_seen: dict[bytes, int] = {}

    def unseen(subsets: np.ndarray, iteration: int) -> np.ndarray:
        keep = np.zeros(len(subsets), dtype=bool)
        for row, key in enumerate(np.packbits(subsets, axis=1)):
            key = key.tobytes()
            if first_seen.get(key, iteration + 1) > iteration:
                first_seen[key] = iteration
                keep[row] = True
        return subsets[keep]

    seeds = _seed_masks(n)  # [S, n]
    chunk = max(1, _SEARCH_CHUNK // n)
    for start in range(0, len(seeds), chunk):
        subsets = seeds[start:start + chunk]
        subsets = score(subsets, d0_search - 1.0)  # first selection, tighter cutoff
        for iteration in range(1, _TM_ITERATIONS + 1):
            subsets = unseen(subsets, iteration)
            if len(subsets) == 0:
                break
            subsets = score(subsets, d0_search + 1.0)

    rmsd = kabsch_rmsd(x, y)
    rotation, translation = best_rt
    translation = translation - rotation @ x_center + y_center  # back to the caller's frame
    fractions = dict(zip(gdt_cutoffs.tolist(), (best_gdt / norm).tolist()))
    return TMResult(
        tm_score=best_tm,
        gdt_ts=float(np.mean([fractions[c] for c in GDT_TS_CUTOFFS])),
        gdt_ha=float(np.mean([fractions[c] for c in GDT_HA_CUTOFFS])),
        rmsd=rmsd,
        aligned_length=n,
        d0=d0,
        rotation=rotation,
        translation=translation,
    )


# ----------------------------------------------------------------------------------------------
# lDDT, contacts, secondary structure
# ----------------------------------------------------------------------------------------------


def lddt_ca(model_ca: np.ndarray, ref_ca: np.ndarray, mask: np.ndarray | None = None,
            cutoff: float = 15.0, per_residue: bool = False):
    """Superposition-free lDDT on Cα (Mariani et al. 2013), 0-1.

    model_ca, ref_ca: [L, 3] Å; mask: [L] bool, residues present in both (default all).
    Pairs (i, j), i != j, both in the mask, with reference distance < cutoff are scored; a pair is
    preserved at threshold t when |d_model - d_ref| < t, t in 0.5, 1, 2, 4 Å. The global score is
    the fraction of preserved (pair, threshold) over all of them; per_residue=True also returns [L]
    scores over each residue's pairs (NaN where a residue has no scored pair or is masked out).
    Returns float, or (float, [L] array) when per_residue.
    """
    model_ca = np.asarray(model_ca, dtype=np.float64)
    ref_ca = np.asarray(ref_ca, dtype=np.float64)
    if model_ca.shape != ref_ca.shape or model_ca.ndim != 2 or model_ca.shape[1] != 3:
        raise ValueError(f"lddt_ca needs two [L, 3] arrays, got {model_ca.shape} and {ref_ca.shape}")
    length = len(ref_ca)
    keep = np.ones(length, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    d_ref = pairwise_distances(ref_ca)  # [L, L]
    d_model = pairwise_distances(model_ca)  # [L, L]
    # [L, L] pairs to score: inclusion radius from the reference only, so a model cannot drop pairs
    pairs = (d_ref < cutoff) & keep[:, None] & keep[None, :] & ~np.eye(length, dtype=bool)
    error = np.abs(d_model - d_ref)  # [L, L]
    # [L, L] mean over thresholds of the preserved indicator
    preserved = np.mean([error < t for t in LDDT_THRESHOLDS], axis=0) * pairs
    total = pairs.sum()
    score = float(preserved.sum() / total) if total else float("nan")
    if not per_residue:
        return score
    counts = pairs.sum(axis=1)  # [L]
    with np.errstate(invalid="ignore", divide="ignore"):
        per_res = np.where(counts > 0, preserved.sum(axis=1) / counts, np.nan)
    return score, per_res


def contact_precision(pred_probs: np.ndarray, true_cb: np.ndarray, min_sep: int = 24,
                      max_sep: int | None = None, top_k: int | None = None, cutoff: float = 8.0,
                      mask: np.ndarray | None = None) -> float:
    """Precision of the top-k predicted contacts (CASP style), 0-1.

    pred_probs: [L, L] contact probabilities (symmetrised here); true_cb: [L, 3] Å, Cβ (virtual for
    Gly, see foldlite.geometry.backbone.ideal_cb); mask: [L] bool, residues with known coordinates.
    Candidates are pairs i < j with min_sep <= j - i (< max_sep when given); the default is
    long range (>= 24). Medium range: min_sep=12, max_sep=24. A true contact has a Cβ–Cβ distance
    < cutoff. top_k defaults to L // 5 (at least 1); with fewer candidates than k, all candidates
    are used and the precision is over them. Ties are broken by residue order. NaN if no candidate.
    """
    probs = np.asarray(pred_probs, dtype=np.float64)
    true_cb = np.asarray(true_cb, dtype=np.float64)
    length = len(true_cb)
    if probs.shape != (length, length) or true_cb.shape != (length, 3):
        raise ValueError(f"contact_precision needs [L, L] and [L, 3], got {probs.shape}, {true_cb.shape}")
    keep = np.ones(length, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    k = max(1, length // 5) if top_k is None else int(top_k)
    i, j = np.triu_indices(length, k=max(1, min_sep))  # [P] pairs with j - i >= min_sep
    ok = keep[i] & keep[j]
    if max_sep is not None:
        ok &= (j - i) < max_sep
    i, j = i[ok], j[ok]
    if len(i) == 0 or k <= 0:
        return float("nan")
    score = 0.5 * (probs[i, j] + probs[j, i])  # [P]
    top = np.argsort(-score, kind="stable")[:k]
    dist = np.linalg.norm(true_cb[i[top]] - true_cb[j[top]], axis=-1)
    return float(np.mean(dist < cutoff))


def q3(pred, true, mask: np.ndarray | None = None) -> float:
    """Three-state secondary-structure accuracy, 0-1.

    pred: [L] class indices, or [L, 3] scores/probabilities (argmax taken), or a string like "HHEC";
    true: [L] class indices or a string. Indices follow constants.SS3_ALPHABET ("HEC").
    mask: [L] bool, residues to count. NaN if none.
    """
    def classes(value):
        if isinstance(value, str):
            return np.array([SS3_ALPHABET.index(c) for c in value.upper()])
        value = np.asarray(value)
        return value.argmax(axis=-1) if value.ndim == 2 else value

    p, t = classes(pred), classes(true)
    if p.shape != t.shape:
        raise ValueError(f"q3: prediction has {p.shape[0]} residues, truth {t.shape[0]}")
    keep = np.ones(len(t), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    return float(np.mean(p[keep] == t[keep])) if keep.any() else float("nan")

"""Templates at inference: search, and known structures of homologues turned into spatial restraints.

The hits found here are also the network's template input (foldlite.templates.features). On top of
that, the network's distogram and Cα-torsion distributions are mixed, pair by pair, with
distributions read off the aligned template structures (the spatial-restraint idea of comparative
modelling) before the geometry stage builds the structure from them.

    hits = find_templates(sequence, library)                          # sequence search, strict E-value
    restraints = template_restraints(hits, library, len(sequence))    # soft distogram + torsions + weights
    distogram, torsion = combine(net.distogram, net.ca_torsion, restraints)

How much a template is trusted depends only on its sequence identity to the query
(`template_weight`): structures diverge as sequences do, so a 15 % identical template gets a small
weight and a wider (blurred, ~0.9 Å) distance distribution, a 35 %+ one MAX_WEIGHT with < 0.8 Å blur.
The network always keeps at least 1 - MAX_WEIGHT of every pair, so residues a template misplaces
can still be pulled back where the network is confident.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from ..constants import (CA_CA_DISTANCE, CHAIN_BREAK_CA_CA, DISTOGRAM_BINS, DISTOGRAM_MAX, NUM_DISTOGRAM_CLASSES,
                         TORSION_BINS)
from ..geometry.backbone import ca_virtual_torsions
from ..geometry.distances import distogram_from_distances, torsion_probs_from_angles
from ..geometry.vectors import pairwise_distances
from .library import Library
from .search import Hit

# Trust in a template, from its identity: w = clip((identity - IDENTITY_FLOOR) / IDENTITY_SPAN, 0, MAX_WEIGHT).
# Below ~10 % identity an alignment says little about the structure (w = 0); from ~35 % on, a
# homologue's core is usually close (w = MAX_WEIGHT). Chosen on the valid split (30 chains, v1
# weights, library train + valid): against the first guess (floor 0.15, span 0.35, cap 0.9) mean TM
# rose 0.583 -> 0.596.
IDENTITY_FLOOR = 0.10
IDENTITY_SPAN = 0.25
MAX_WEIGHT = 0.95  # also the cap on combined weights: the network always keeps >= 5 % of every pair

# Blur of the template distributions: Gaussian sigma grows linearly as identity falls. Chosen on the
# valid split (40 chains, step-2000 weights, library train + valid, E <= 0.1): sigma
# 1.0 + 1.5 (1 - id) Å gave mean TM 0.696, 0.5 + 1.0 (1 - id) 0.705, 0.3 + 0.7 (1 - id) 0.711
# (the copy baseline: 0.698).
DISTANCE_SIGMA = 0.3  # Å at 100 % identity ...
DISTANCE_SIGMA_SLOPE = 0.7  # ... plus this many Å per unit of (1 - identity): ~0.8 Å at 30 %
TORSION_SIGMA = np.deg2rad(15.0)  # at 100 % identity ...
TORSION_SIGMA_SLOPE = np.deg2rad(30.0)  # ... plus this per unit of (1 - identity)

# Per-pair alignment quality: a template pair (i, j) is trusted w(identity) x c_i x c_j, where c is
# the search's confidence in each aligned residue pair (Hit.confidence: HMMER's posterior
# probability; 1 for Smith–Waterman hits), so the shaky ends and loops of a distant relative's
# alignment restrain less than its confidently aligned core. Measured on valid: see the README.
PAIR_CONFIDENCE = True

OVERFLOW = DISTOGRAM_BINS  # index of the "> 22 Å" class
_ROW_CHUNK = 64  # query rows processed at once (bounds the temporaries at ~100 MB for L = 2000)


class TemplateRestraints(NamedTuple):
    """What the templates say about the query, aligned to query residues (L = query length).

    distogram: [L, L, 65] float32, weighted mixture of the templates' soft distograms (uniform where
    no template covers the pair); pair_weight: [L, L] float32 in [0, MAX_WEIGHT], 0 for pairs no
    template aligns (and on the diagonal); torsion: [L, 36] float32 Cα virtual-torsion
    probabilities (uniform where unknown); residue_weight: [L] float32 in [0, MAX_WEIGHT].
    """

    distogram: np.ndarray
    pair_weight: np.ndarray
    torsion: np.ndarray
    residue_weight: np.ndarray



def template_weight(identity: float) -> float:
    """Trust in a template of this sequence identity, in [0, MAX_WEIGHT]."""
    return float(np.clip((identity - IDENTITY_FLOOR) / IDENTITY_SPAN, 0.0, MAX_WEIGHT))


# ---------------------------------------------------------------------------------------- restraints

def _template_torsions(hit: Hit, library: Library, query_length: int) -> tuple[np.ndarray, np.ndarray]:
    """(query residues [T], template Cα virtual torsions [T] radians) where the torsion is defined.

    The torsion of query residue i uses i-1, i, i+1, i+2, so all four must be aligned to four
    consecutive template residues with no chain break between them; otherwise an insertion or
    deletion would be read as a twist.
    """
    ca = library.ca(hit.index)  # [Lt, 3]
    torsion = ca_virtual_torsions(ca)  # [Lt], NaN at the ends
    unbroken = np.linalg.norm(np.diff(ca, axis=0), axis=1) < CHAIN_BREAK_CA_CA  # [Lt - 1] step t -> t+1
    target_of = np.full(query_length, -1, dtype=np.int64)  # [L] template residue of each query residue
    target_of[hit.query_idx] = hit.target_idx
    i = np.arange(1, max(query_length - 2, 1))  # residues with i - 1 and i + 2 inside the query
    t = target_of[i]
    # t >= 1 also keeps an unaligned i - 1 (-1) from matching t - 1 when t = 0
    ok = (t >= 1) & (target_of[i - 1] == t - 1) & (target_of[i + 1] == t + 1) & (target_of[i + 2] == t + 2)
    i, t = i[ok], t[ok]
    ok = unbroken[t - 1] & unbroken[t] & unbroken[t + 1] & np.isfinite(torsion[t])
    return i[ok], torsion[t[ok]]


def _binned_row_chunks(dist: np.ndarray, pair_w: np.ndarray, sigma: float):
    """For each _ROW_CHUNK rows of one template's aligned pairs (dist, pair_w: [A, A] Å and trust),
    yield (first row, near [c, A], row [n], col [n], w P [n, 65]): which pairs lie near enough to bin,
    and their weighted distance distributions.

    Most pairs of a large protein lie far beyond 22 Å: all their weight goes to the overflow class,
    and only the rest are binned (P(d < 22 Å) beyond 22 + 5 sigma is < 3e-7), as [n, 65] rows for the
    near pairs only. The binning (most of the restraints' time) runs up to two chunks ahead in two
    helper threads while the caller adds the earlier chunks into its arrays: numpy lets go of the GIL,
    so the fold's otherwise idle second core takes part of it (2POR_A, 301 residues, 2 templates:
    medians 0.085 and 0.069 s -> 0.066 and 0.062 s in two runs). The same numbers, added in the same
    order."""
    def binned(lo: int):
        chunk, chunk_w = dist[lo:lo + _ROW_CHUNK], pair_w[lo:lo + _ROW_CHUNK]  # [c, A] each
        near = chunk < DISTOGRAM_MAX + 5.0 * sigma
        row, col = np.nonzero(near)  # [n] each
        return lo, near, row, col, chunk_w[row, col, None] * distogram_from_distances(chunk[row, col], sigma,
                                                                                     np.float32)

    starts = list(range(0, len(dist), _ROW_CHUNK))
    if len(starts) < 2:
        yield from map(binned, starts)
        return
    with ThreadPoolExecutor(max_workers=2) as helpers:
        ahead = [helpers.submit(binned, start) for start in starts[:2]]
        for next_start in starts[2:]:
            done = ahead.pop(0).result()
            ahead.append(helpers.submit(binned, next_start))  # at most three chunks held
            yield done
        for future in ahead:
            yield future.result()


def template_restraints(hits: list[Hit], library: Library, query_length: int) -> TemplateRestraints:
    """Soft distogram, torsion distribution and per-pair / per-residue weights from the hits.

    Per template: the Cβ–Cβ distances (library.cb) between aligned residues, binned with a Gaussian
    of DISTANCE_SIGMA + DISTANCE_SIGMA_SLOPE * (1 - identity) Å, and the Cα virtual torsions where
    defined (see _template_torsions), each trusted with w = template_weight(identity), times the
    search's confidence in the aligned pairs (Hit.confidence, c_i c_j for pair (i, j), c_i for a
    torsion; see PAIR_CONFIDENCE). Where several templates align the same pair, their distributions
    are averaged with these weights and the weights combine like independent evidence,
    1 - Π(1 - w), capped at MAX_WEIGHT.
    """
    length = query_length
    acc = np.zeros((length, length, NUM_DISTOGRAM_CLASSES), dtype=np.float32)  # Σ w P
    weight_sum = np.zeros((length, length), dtype=np.float32)  # Σ w
    unexplained = np.ones((length, length), dtype=np.float32)  # Π (1 - w)
    torsion_acc = np.zeros((length, TORSION_BINS), dtype=np.float32)
    torsion_weight_sum = np.zeros(length, dtype=np.float32)
    torsion_unexplained = np.ones(length, dtype=np.float32)

    for hit in hits:
        w = template_weight(hit.identity)
        if w <= 0.0:
            continue
        q = np.asarray(hit.query_idx, dtype=np.int64)  # [A], strictly increasing
        sure = hit.pair_confidence() if PAIR_CONFIDENCE else np.ones(len(q), np.float32)  # [A]
        cb = library.cb(hit.index)[hit.target_idx]  # [A, 3] Cβ of the aligned template residues
        dist = pairwise_distances(cb)  # [A, A]
        pair_w = (w * sure[:, None] * sure[None, :]).astype(np.float32)  # [A, A] trust in each pair
        sigma = DISTANCE_SIGMA + DISTANCE_SIGMA_SLOPE * (1.0 - hit.identity)
        for lo, near, row, col, binned in _binned_row_chunks(dist, pair_w, sigma):
            rows = q[lo:lo + _ROW_CHUNK]
            acc[rows[:, None], q[None, :], OVERFLOW] += np.where(near, 0.0, pair_w[lo:lo + _ROW_CHUNK])
            acc[rows[row], q[col]] += binned  # a hit aligns each pair once: no repeated index to add twice
        block = np.ix_(q, q)
        weight_sum[block] += pair_w
        unexplained[block] *= 1.0 - pair_w

        residues, angles = _template_torsions(hit, library, length)  # [T] each
        if len(residues):
            residue_w = w * np.ones(len(residues), np.float32)  # [T]
            if PAIR_CONFIDENCE:
                residue_w *= sure[np.searchsorted(q, residues)]
            sigma = TORSION_SIGMA + TORSION_SIGMA_SLOPE * (1.0 - hit.identity)
            torsion_acc[residues] += residue_w[:, None] * torsion_probs_from_angles(angles, sigma).astype(np.float32)
            torsion_weight_sum[residues] += residue_w
            torsion_unexplained[residues] *= 1.0 - residue_w

    # Σ w P / Σ w, in place and by row blocks: at L = 2000 a [L, L, 65] float32 array is 1 GB
    for lo in range(0, length, _ROW_CHUNK):
        rows = slice(lo, lo + _ROW_CHUNK)
        total = weight_sum[rows]  # [c, L]
        acc[rows] /= np.maximum(total, 1e-12)[..., None]
        acc[rows][total <= 0] = 1.0 / NUM_DISTOGRAM_CLASSES
    distogram = acc
    pair_weight = np.minimum(1.0 - unexplained, MAX_WEIGHT).astype(np.float32)
    np.fill_diagonal(pair_weight, 0.0)  # a residue's distance to itself needs no template

    known = torsion_weight_sum > 0
    torsion = np.full_like(torsion_acc, 1.0 / TORSION_BINS)
    torsion[known] = torsion_acc[known] / torsion_weight_sum[known][:, None]
    residue_weight = np.minimum(1.0 - torsion_unexplained, MAX_WEIGHT).astype(np.float32)
    return TemplateRestraints(distogram, pair_weight, torsion, residue_weight)


def combine(pred_distogram: np.ndarray, pred_torsion: np.ndarray | None,
            restraints: TemplateRestraints) -> tuple[np.ndarray, np.ndarray | None]:
    """Mix the network's distributions with the templates': P = (1 - w) P_pred + w P_template.

    pred_distogram [L, L, 65], pred_torsion [L, 36] (or None: stays None) -> the same shapes,
    float32. Rows still sum to 1, and the result is symmetric when the prediction is (templates
    are symmetric by construction). Pairs / residues with weight 0 keep the prediction exactly.
    """
    pred = np.asarray(pred_distogram, dtype=np.float32)
    out = np.empty_like(pred)
    for lo in range(0, len(pred), _ROW_CHUNK):  # row blocks: no [L, L, 65] temporaries
        rows = slice(lo, lo + _ROW_CHUNK)
        w = restraints.pair_weight[rows, :, None]  # [c, L, 1]
        # pred + w (template - pred), the same mixture in three in-place passes
        np.subtract(restraints.distogram[rows], pred[rows], out=out[rows])
        out[rows] *= w
        out[rows] += pred[rows]
    torsion = None
    if pred_torsion is not None:
        r = restraints.residue_weight[:, None]  # [L, 1]
        torsion = ((1.0 - r) * np.asarray(pred_torsion, dtype=np.float32) + r * restraints.torsion).astype(np.float32)
    return out, torsion


# ------------------------------------------------------------------------------------ template model

def _fill_gap(a: np.ndarray, b: np.ndarray, missing: int, away: np.ndarray) -> np.ndarray:
    """Cα [missing, 3] between a and b [3], `missing` + 1 equal steps.

    When a and b are at least (missing + 1) x 3.8 Å apart: evenly spaced on the straight line (the
    steps are then stretched; nothing better is known). Closer: on a circular arc through a and b,
    bowed towards `away` (made perpendicular to a-b), with steps of exactly 3.8 Å.
    """
    steps = missing + 1
    span = float(np.linalg.norm(b - a))
    if span >= steps * CA_CA_DISTANCE:
        return a + (np.arange(1, steps) / steps)[:, None] * (b - a)
    u = (b - a) / span if span > 1e-6 else np.array([1.0, 0.0, 0.0])  # along the chord
    w = away - np.dot(away, u) * u  # bulge direction, perpendicular to the chord
    if np.linalg.norm(w) < 1e-6:  # `away` along the chord: any perpendicular will do
        w = np.cross(u, [1.0, 0.0, 0.0] if abs(u[0]) < 0.9 else [0.0, 1.0, 0.0])
    w /= np.linalg.norm(w)
    # Arc of angle θ cut into `steps` chords of 3.8 Å: radius r = 3.8 / (2 sin(θ / 2n)) and the chord
    # a-b = 2 r sin(θ/2), so sin(θ/2) / sin(θ / 2n) = span / 3.8; the left side falls from n to 0 as θ
    # goes from 0 to 2π: bisect.
    target = span / CA_CA_DISTANCE
    low, high = 1e-9, 2.0 * np.pi
    for _ in range(60):
        theta = 0.5 * (low + high)
        if np.sin(theta / 2) / np.sin(theta / (2 * steps)) > target:
            low = theta
        else:
            high = theta
    theta = 0.5 * (low + high)
    radius = CA_CA_DISTANCE / (2.0 * np.sin(theta / (2 * steps)))
    psi = -theta / 2 + np.arange(1, steps) * theta / steps  # [missing] angles from the arc's apex
    # centre of the circle at (span/2) u - r cos(θ/2) w from a; a at ψ = -θ/2, b at ψ = θ/2
    along = span / 2 + radius * np.sin(psi)
    up = radius * (np.cos(psi) - np.cos(theta / 2))
    return a + along[:, None] * u + up[:, None] * w


def template_ca(hit: Hit, library: Library, query_length: int) -> np.ndarray:
    """Cα trace [query_length, 3] Å for the query built from a hit's template.

    Aligned query residues take their template residue's Cα. Unaligned residues between two aligned
    ones are spaced evenly between them: on the straight line, or, when that would make steps shorter
    than 3.8 Å, on an arc bowed away from the aligned residues' centre with 3.8 Å steps. Unaligned ends
    continue straight from the first/last aligned residue along the nearest step, 3.8 Å per residue.
    """
    target = library.ca(hit.index)  # [Lt, 3]
    out = np.full((query_length, 3), np.nan)
    out[hit.query_idx] = target[hit.target_idx]
    aligned = np.sort(hit.query_idx)
    centre = out[aligned].mean(axis=0)
    for left, right in zip(aligned[:-1], aligned[1:]):
        if right - left > 1:
            a, b = out[left], out[right]
            out[left + 1:right] = _fill_gap(a, b, right - left - 1, 0.5 * (a + b) - centre)

    def direction(frm: np.ndarray, to: np.ndarray) -> np.ndarray:
        v = to - frm
        norm = np.linalg.norm(v)
        return v / norm if norm > 1e-6 else np.array([1.0, 0.0, 0.0])

    first, last = int(aligned[0]), int(aligned[-1])
    if first > 0:  # N-terminal tail: continue the first step (first+1 -> first) backwards
        d = direction(out[first + 1], out[first]) if last > first else np.array([-1.0, 0.0, 0.0])
        out[:first] = out[first] + CA_CA_DISTANCE * np.arange(first, 0, -1)[:, None] * d
    if last < query_length - 1:  # C-terminal tail: continue the last step (last-1 -> last)
        d = direction(out[last - 1], out[last]) if last > first else np.array([1.0, 0.0, 0.0])
        out[last + 1:] = out[last] + CA_CA_DISTANCE * np.arange(1, query_length - last)[:, None] * d
    return out

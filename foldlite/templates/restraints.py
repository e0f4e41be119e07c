"""Templates at inference: search, and known structures of homologues turned into spatial restraints.

The hits found here are also the network's template input (foldlite.template_features). On top of
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

import os
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np

from ..geometry.backbone import ca_virtual_torsions
from ..constants import DISTOGRAM_BINS, DISTOGRAM_MAX, NUM_DISTOGRAM_CLASSES, TORSION_BINS
from ..geometry.distances import distogram_from_distances, torsion_probs_from_angles
from ..geometry.vectors import pairwise_distances
from .library import Library, default_library_path, load_library
from .search import Hit, search

# Search thresholds. The E-value is the number of hits this good expected by chance in the whole
# library: 0.1 admits about one chance template per ten queries, whose low identity then earns it
# little trust (template_weight). Chosen on the valid split (40 chains, library train + valid, see
# tools/eval_templates.py): mean TM 0.669 at E <= 1e-3, 0.696 at 0.1, 0.693 at 1; hits at E 0.01-0.05
# still carried the fold (copied, TM 0.53-0.76), hits at E ~ 2 did not. The search's own default,
# 10, is for browsing and would hand the geometry random structures.
DEFAULT_MAX_EVALUE = 0.1
DEFAULT_MIN_COVERAGE = 0.3  # aligned query residues / query length; shorter hits restrain too little
DEFAULT_MAX_TEMPLATES = 4

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

MAX_CA_STEP = 4.2  # Å; a longer Cα–Cα step in a template is a chain break (unobserved residues)
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


# ------------------------------------------------------------------------------------------- search

def find_templates(sequence: str, library: Library, max_templates: int = DEFAULT_MAX_TEMPLATES,
                   min_coverage: float = DEFAULT_MIN_COVERAGE, max_evalue: float = DEFAULT_MAX_EVALUE,
                   exclude_names: Iterable[str] = (), max_identity: float | None = None) -> list[Hit]:
    """Up to `max_templates` library hits usable as templates, best (highest score) first.

    A hit must have E-value <= max_evalue (default 0.1, see DEFAULT_MAX_EVALUE) and cover at least
    `min_coverage` of the query. exclude_names and max_identity are passed to
    foldlite.search.search (e.g. leave out the query itself and hits >= 95 % identical to it when
    benchmarking).
    """
    if max_templates < 1:
        return []
    # ask for a few more than needed: some may fail the coverage test
    hits = search(sequence, library, max_hits=3 * max_templates, max_evalue=max_evalue,
                  exclude_names=exclude_names, max_identity=max_identity)
    return [hit for hit in hits if hit.coverage >= min_coverage][:max_templates]


def template_weight(identity: float) -> float:
    """Trust in a template of this sequence identity, in [0, MAX_WEIGHT]."""
    return float(np.clip((identity - IDENTITY_FLOOR) / IDENTITY_SPAN, 0.0, MAX_WEIGHT))


def describe(hit: Hit) -> dict:
    """JSON-ready summary of a template (ranges 1-based, inclusive, like `foldlite search`)."""
    return {"name": hit.name, "identity": round(hit.identity, 4), "coverage": round(hit.coverage, 4),
            "evalue": float(f"{hit.evalue:.3g}"), "aligned_residues": hit.aligned_length,
            "query_range": [hit.query_start + 1, hit.query_end],
            "template_range": [hit.target_start + 1, hit.target_end],
            "weight": round(template_weight(hit.identity), 4)}


# ---------------------------------------------------------------------------------------- restraints

def _template_torsions(hit: Hit, library: Library, query_length: int) -> tuple[np.ndarray, np.ndarray]:
    """(query residues [T], template Cα virtual torsions [T] radians) where the torsion is defined.

    The torsion of query residue i uses i-1, i, i+1, i+2, so all four must be aligned to four
    consecutive template residues with no chain break between them; otherwise an insertion or
    deletion would be read as a twist.
    """
    ca = library.ca(hit.index)  # [Lt, 3]
    torsion = ca_virtual_torsions(ca)  # [Lt], NaN at the ends
    unbroken = np.linalg.norm(np.diff(ca, axis=0), axis=1) < MAX_CA_STEP  # [Lt - 1] step t -> t+1
    target_of = np.full(query_length, -1, dtype=np.int64)  # [L] template residue of each query residue
    target_of[hit.query_idx] = hit.target_idx
    i = np.arange(1, max(query_length - 2, 1))  # residues with i - 1 and i + 2 inside the query
    t = target_of[i]
    # t >= 1 also keeps an unaligned i - 1 (-1) from matching t - 1 when t = 0
    ok = (t >= 1) & (target_of[i - 1] == t - 1) & (target_of[i + 1] == t + 1) & (target_of[i + 2] == t + 2)
    i, t = i[ok], t[ok]
    ok = unbroken[t - 1] & unbroken[t] & unbroken[t + 1] & np.isfinite(torsion[t])
    return i[ok], torsion[t[ok]]


def template_restraints(hits: list[Hit], library: Library, query_length: int) -> TemplateRestraints:
    """Soft distogram, torsion distribution and per-pair / per-residue weights from the hits.

    Per template: the Cβ–Cβ distances (library.cb) between aligned residues, binned with a Gaussian
    of DISTANCE_SIGMA + DISTANCE_SIGMA_SLOPE * (1 - identity) Å, and the Cα virtual torsions where
    defined (see _template_torsions), each trusted with w = template_weight(identity). Where several
    templates align the same pair, their distributions are averaged with weights w and the weights
    combine like independent evidence, 1 - Π(1 - w), capped at MAX_WEIGHT.
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
        cb = library.cb(hit.index)[hit.target_idx]  # [A, 3] Cβ of the aligned template residues
        dist = pairwise_distances(cb)  # [A, A]
        sigma = DISTANCE_SIGMA + DISTANCE_SIGMA_SLOPE * (1.0 - hit.identity)
        for lo in range(0, len(q), _ROW_CHUNK):
            rows = q[lo:lo + _ROW_CHUNK]
            chunk = dist[lo:lo + _ROW_CHUNK]  # [c, A]
            probs = np.zeros(chunk.shape + (NUM_DISTOGRAM_CLASSES,), dtype=np.float32)  # [c, A, 65]
            # most pairs of a large protein lie far beyond 22 Å: overflow class outright, and only
            # the rest are binned (P(d < 22 Å) beyond 22 + 5 sigma is < 3e-7)
            probs[..., OVERFLOW] = 1.0
            near = chunk < DISTOGRAM_MAX + 5.0 * sigma
            probs[near] = distogram_from_distances(chunk[near], sigma)  # [n, 65]
            acc[rows[:, None], q[None, :]] += w * probs
        block = np.ix_(q, q)
        weight_sum[block] += w
        unexplained[block] *= 1.0 - w

        residues, angles = _template_torsions(hit, library, length)  # [T] each
        if len(residues):
            sigma = TORSION_SIGMA + TORSION_SIGMA_SLOPE * (1.0 - hit.identity)
            torsion_acc[residues] += w * torsion_probs_from_angles(angles, sigma).astype(np.float32)
            torsion_weight_sum[residues] += w
            torsion_unexplained[residues] *= 1.0 - w

    # Σ w P / Σ w, in place and by row blocks: at L = 2000 a [L, L, 65] float32 array is 1 GB
    for lo in range(0, length, _ROW_CHUNK):
        rows = slice(lo, lo + _ROW_CHUNK)
        total = weight_sum[rows, :, None]  # [c, L, 1]
        acc[rows] = np.where(total > 0, acc[rows] / np.maximum(total, 1e-12), 1.0 / NUM_DISTOGRAM_CLASSES)
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
        out[rows] = (1.0 - w) * pred[rows] + w * restraints.distogram[rows]
    torsion = None
    if pred_torsion is not None:
        r = restraints.residue_weight[:, None]  # [L, 1]
        torsion = ((1.0 - r) * np.asarray(pred_torsion, dtype=np.float32) + r * restraints.torsion).astype(np.float32)
    return out, torsion


# ------------------------------------------------------------------------------------------ libraries

_LIBRARIES: dict[tuple, Library] = {}  # (resolved path, mtime, size) -> Library (with its search index)


def cached_library(path: str | os.PathLike) -> Library:
    """load_library with a per-process cache: loading takes ~1 s and the first search builds a k-mer
    index (~1 s) kept on the Library, so reusing it makes folding many sequences cheap. A file
    replaced on disk (new mtime or size) is loaded again."""
    path = Path(path).expanduser()
    if not path.is_file():
        return load_library(path)  # raises LibraryError with the usual message
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _LIBRARIES:
        _LIBRARIES.clear()  # one library at a time: a full one holds ~80 MB with its index
        _LIBRARIES[key] = load_library(path)
    return _LIBRARIES[key]


def resolve_templates(templates) -> Library | None:
    """The `templates` argument of fold() -> a Library, or None for no templates.

    "auto": the shipped library (foldlite/weights/library.npz) when present, else None;
    None or "none": no templates; a path: that library (LibraryError if missing or broken);
    a Library: itself.
    """
    if templates is None or isinstance(templates, Library):
        return templates
    if isinstance(templates, str) and templates.lower() == "none":
        return None
    if isinstance(templates, str) and templates.lower() == "auto":
        path = default_library_path()
        return cached_library(path) if path.is_file() else None
    if isinstance(templates, (str, os.PathLike)):
        return cached_library(templates)
    raise TypeError(f"templates must be 'auto', 'none', None, a library path or a Library, "
                    f"got {type(templates).__name__}")

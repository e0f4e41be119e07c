"""Template inputs for the network: aligned homologue structures as per-pair and per-residue features.

The network (foldlite.model.PairStack) reads, for each of up to T templates and each query pair
(i, j), the template's Cβ–Cβ distance between the residues aligned to i and j, plus three
per-residue numbers. This module only builds those arrays; the same builder serves inference
(hits from foldlite.search) and training (alignments to other chains of the same train cluster,
see TemplatePicker), so the network sees the same kind of input in both.

    features = features_from_hits(hits, library, len(sequence))   # TemplateFeatures or None

Arrays (T templates, L query residues):
    distance [T, L, L] float32, Å; NaN where either residue is unaligned (or on a chain break side)
    residue  [T, L, 3] float32: aligned (0/1), same amino acid as the query (0/1), the hit's identity
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from ..geometry.vectors import pairwise_distances

NUM_RESIDUE_FEATURES = 3
MAX_TEMPLATES = 4  # templates the network sees per query (more add little and cost T x L² memory)


class TemplateFeatures(NamedTuple):
    distance: np.ndarray  # [T, L, L] float32 Å, NaN where unaligned
    residue: np.ndarray  # [T, L, 3] float32

    def crop(self, start: int, length: int) -> "TemplateFeatures":
        rows = slice(start, start + length)
        return TemplateFeatures(self.distance[:, rows, rows], self.residue[:, rows])


def one_template(query: str, template_sequence: str, template_cb: np.ndarray, query_idx: np.ndarray,
                 target_idx: np.ndarray, identity: float) -> tuple[np.ndarray, np.ndarray]:
    """Features of one aligned template: (distance [L, L], residue [L, 3]) for the L query residues.

    query_idx[k] <-> target_idx[k] are the aligned residue pairs (0-based); template_cb [Lt, 3] Å.
    """
    length = len(query)
    query_idx = np.asarray(query_idx, dtype=np.int64)
    target_idx = np.asarray(target_idx, dtype=np.int64)
    distance = np.full((length, length), np.nan, dtype=np.float32)
    if len(query_idx):
        cb = np.asarray(template_cb, dtype=np.float32)[target_idx]  # [A, 3]
        distance[np.ix_(query_idx, query_idx)] = pairwise_distances(cb)
    residue = np.zeros((length, NUM_RESIDUE_FEATURES), dtype=np.float32)
    residue[query_idx, 0] = 1.0
    q = np.frombuffer(query.encode("ascii"), dtype=np.uint8)
    t = np.frombuffer(template_sequence.encode("ascii"), dtype=np.uint8)
    residue[query_idx, 1] = (q[query_idx] == t[target_idx]).astype(np.float32)
    residue[query_idx, 2] = identity
    return distance, residue


def stack(templates: Sequence[tuple[np.ndarray, np.ndarray]]) -> TemplateFeatures | None:
    """Per-template (distance, residue) pairs -> TemplateFeatures, or None for no templates."""
    if not templates:
        return None
    return TemplateFeatures(np.stack([d for d, _ in templates]), np.stack([r for _, r in templates]))


def features_from_hits(hits, library, query: str, max_templates: int = MAX_TEMPLATES) -> TemplateFeatures | None:
    """Network inputs from search hits (foldlite.search.Hit) against a foldlite.library.Library."""
    built = [one_template(query, library.sequence(hit.index), library.cb(hit.index), hit.query_idx,
                          hit.target_idx, hit.identity) for hit in list(hits)[:max_templates]]
    return stack(built)


class TemplatePicker:
    """Training templates: other chains of the same 30 % train cluster, aligned like a search hit.

    A full library search per training crop would cost ~0.5 s; a chain's real homologues in the
    train split are, by construction of the clusters, almost all in its own cluster, so aligning a
    few random cluster mates (Smith–Waterman, the search's scoring) gives the same kind of hit for
    ~5 ms. Hits must pass E-value <= 1e-3 against the library's size (stricter than inference's
    0.1, which was tuned later) and coverage >= 0.3; and like any honest template, the chain itself and
    near-identical copies (identity >= 0.95) are never used. With probability `drop` a crop gets no
    templates at all, so the network keeps learning the single-sequence mode.
    """

    def __init__(self, chainset, clusters: list[np.ndarray], rng: np.random.Generator, drop: float = 0.2,
                 max_templates: int = 2, max_identity: float = 0.95, min_coverage: float = 0.3,
                 max_evalue: float = 1e-3, tries: int = 4):
        """clusters: chain indices grouped by 30 % cluster (CropSampler.groups); templates come only
        from these chains, so only from the sampler's split."""
        from .search import _aligner

        self.chainset = chainset
        self.rng = rng
        self.drop = drop
        self.max_templates = max_templates
        self.max_identity = max_identity
        self.min_coverage = min_coverage
        self.max_evalue = max_evalue
        self.tries = tries
        self.aligner = _aligner()
        self.library_residues = int(sum(chainset.lengths[members].sum() for members in clusters))
        self.mates: dict[int, np.ndarray] = {}
        for members in clusters:
            if len(members) > 1:
                for member in members:
                    self.mates[int(member)] = members[members != member]

    def _align(self, query: str, index: int):
        from .search import aligned_pairs, evalue

        target = self.chainset.sequence(index)
        alignment = self.aligner.align(query, target)[0]
        if evalue(alignment.score, len(query), self.library_residues) > self.max_evalue:
            return None
        if len(alignment.aligned[0]) == 0:
            return None
        query_idx, target_idx, identity = aligned_pairs(alignment, query, target)
        if identity >= self.max_identity or len(query_idx) / len(query) < self.min_coverage:
            return None
        return one_template(query, target, self.chainset.chain(index).cb, query_idx, target_idx, identity)

    def pick(self, index: int) -> TemplateFeatures | None:
        """Features for the whole chain `index` (crop them with .crop), or None."""
        mates = self.mates.get(int(index))
        if mates is None or self.rng.random() < self.drop:
            return None
        wanted = int(self.rng.integers(1, self.max_templates + 1))
        query = self.chainset.sequence(int(index))
        built = []
        for mate in self.rng.permutation(mates)[:self.tries]:
            template = self._align(query, int(mate))
            if template is not None:
                built.append(template)
                if len(built) == wanted:
                    break
        return stack(built)

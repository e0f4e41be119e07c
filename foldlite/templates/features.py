"""Template inputs for the network: aligned homologue structures as per-pair and per-residue features.

The network (foldlite.model.network.PairStack) reads, for each of up to T templates and each query pair
(i, j), the template's Cβ–Cβ distance between the residues aligned to i and j, plus three
per-residue numbers. This module only builds those arrays; the same builder serves inference
(hits from foldlite.templates.search) and training (alignments to other chains of the same train
cluster, see foldlite.training.sampler.TemplatePicker), so the network sees the same kind of input in both.

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
    """Network inputs from search hits (foldlite.templates.search.Hit) against a foldlite.templates.library.Library."""
    built = [one_template(query, library.sequence(hit.index), library.cb(hit.index), hit.query_idx,
                          hit.target_idx, hit.identity) for hit in list(hits)[:max_templates]]
    return stack(built)

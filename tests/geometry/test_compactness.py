"""The compactness term: a chain whose distogram says nothing about long-range pairs folds to a
globule of about the radius of gyration of real proteins of its length, instead of spreading out."""
from __future__ import annotations

import numpy as np

from foldlite.constants import NUM_DISTOGRAM_CLASSES
from foldlite.geometry.reconstruct import reconstruct
from foldlite.geometry.refine import RefineWeights, compact_radius, radius_of_gyration


def flat_distogram(length: int) -> np.ndarray:
    """Uninformative beyond neighbours: every pair half "> 22 Å", the rest spread over all bins;
    sequence neighbours sharply at ~5.5 Å (Cβ-Cβ of adjacent residues)."""
    probs = np.full((length, length, NUM_DISTOGRAM_CLASSES), 0.5 / (NUM_DISTOGRAM_CLASSES - 1), np.float32)
    probs[..., -1] = 0.5
    near = np.zeros(NUM_DISTOGRAM_CLASSES, np.float32)
    near[11] = 1.0  # bin centred near 5.5 Å
    for i in range(length - 1):
        probs[i, i + 1] = probs[i + 1, i] = near
    return probs


def test_compact_radius_matches_real_proteins():
    # Skolnick's fit: ~11 Å at 64 residues (1AHO's crystal structure: 10.4 Å), ~15.5 Å at 170
    assert 10.0 < compact_radius(64) < 11.5
    assert 15.0 < compact_radius(170) < 16.0


def test_flat_distogram_folds_compact_only_with_the_term():
    length = 80
    probs = flat_distogram(length)
    spread = reconstruct(probs, seed=0)
    compact = reconstruct(probs, seed=0, weights=RefineWeights(compactness=10.0))
    target = compact_radius(length)
    assert radius_of_gyration(spread.ca) > 1.5 * target
    assert radius_of_gyration(compact.ca) < 1.15 * target
    # the squeezed start is repaired: Cα-Cα bonds stay near 3.8 Å
    bonds = np.linalg.norm(np.diff(compact.ca, axis=0), axis=1)
    assert np.abs(bonds - 3.8).max() < 0.3


def test_term_is_off_by_default():
    probs = flat_distogram(30)
    default = reconstruct(probs, seed=0)
    explicit = reconstruct(probs, seed=0, weights=RefineWeights(compactness=0.0))
    assert np.array_equal(default.ca, explicit.ca)

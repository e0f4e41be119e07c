"""Smith–Waterman scores of the search (foldlite.templates.alignment.local_scores): parasail's SIMD
kernels where installed, Bio.Align elsewhere, the same scores either way."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from foldlite.data.chains import ChainSet, sample_chainset_path
from foldlite.templates.alignment import local_scores, make_aligner


@pytest.fixture(scope="module")
def pairs():
    """Queries (one with X, as normalize_sequence leaves unknown residues) and targets from the sample."""
    chains = ChainSet(sample_chainset_path())
    sequences = [chains.sequence(i) for i in range(0, 300, 7)]
    queries = [sequences[0], sequences[1][:40] + "XX" + sequences[1][40:], sequences[2][::-1]]
    return queries, sequences


def _bio_scores(query, targets):
    aligner = make_aligner()
    return np.array([aligner.score(query, target) for target in targets])


def test_scores_are_bio_aligns_with_or_without_parasail(pairs, monkeypatch):
    queries, targets = pairs
    expected = [_bio_scores(query, targets) for query in queries]
    for query, wanted in zip(queries, expected):
        np.testing.assert_array_equal(local_scores(query, targets), wanted)
    monkeypatch.setitem(sys.modules, "parasail", None)  # as on a machine without its wheel
    for query, wanted in zip(queries, expected):
        np.testing.assert_array_equal(local_scores(query, targets), wanted)


def test_a_score_beyond_16_bits_is_not_clipped():
    pytest.importorskip("parasail")
    query = "W" * 3100  # 11 per W-W pair: 34,100 > 32,767
    scores = local_scores(query, [query, "MKTAYIAKQR"])
    assert scores[0] == 11 * 3100
    assert scores[1] == _bio_scores(query, ["MKTAYIAKQR"])[0]

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
    from foldlite.templates.alignment import local_alignment

    score, query_idx, target_idx, identity = local_alignment(query, query)  # the traceback's 32-bit retry
    assert score == 11 * 3100 and identity == 1.0
    np.testing.assert_array_equal(query_idx, np.arange(3100))
    np.testing.assert_array_equal(target_idx, np.arange(3100))


def test_the_written_out_blosum62_is_biopythons():
    from Bio.Align import substitution_matrices

    from foldlite.templates.alignment import score_matrix
    from foldlite.tokenizer import STANDARD_RESIDUES

    bio = substitution_matrices.load("BLOSUM62")
    letters = STANDARD_RESIDUES + "X"
    expected = np.array([[bio[a, b] for b in letters] for a in letters])
    np.testing.assert_array_equal(score_matrix(), expected)


def _score_of(query, target, query_idx, target_idx):
    """The alignment score rebuilt from its residue pairs: BLOSUM62 of each pair, and a gap of length n
    (in either sequence, between two consecutive pairs) costing 12 + (n - 1), as GAP_OPEN / GAP_EXTEND."""
    from foldlite.templates.alignment import GAP_EXTEND, GAP_OPEN, blosum62

    matrix = blosum62()
    score = sum(matrix[query[i], target[j]] for i, j in zip(query_idx, target_idx))
    for step in (np.diff(query_idx) - 1, np.diff(target_idx) - 1):
        gaps = step[step > 0]
        score += len(gaps) * GAP_OPEN + (gaps - 1).sum() * GAP_EXTEND
    return score


def test_local_alignment_is_optimal_with_or_without_parasail(pairs, monkeypatch):
    """Its score is Bio.Align's optimum, and its residue pairs (with the gaps between them) add up to
    that score: the pairs are read correctly off either aligner's output."""
    from foldlite.templates.alignment import local_alignment

    queries, targets = pairs
    runs = []
    for without_parasail in (False, True):
        if without_parasail:
            monkeypatch.setitem(sys.modules, "parasail", None)
        runs.append([local_alignment(query, target) for query in queries for target in targets[:12]])
    expected = [_bio_scores(query, targets[:12]) for query in queries]
    for run in runs:
        for (score, query_idx, target_idx, identity), wanted, (query, target) in zip(
                run, np.concatenate(expected), [(q, t) for q in queries for t in targets[:12]]):
            assert score == wanted
            if len(query_idx):
                assert np.all(np.diff(query_idx) > 0) and np.all(np.diff(target_idx) > 0)
                assert _score_of(query, target, query_idx, target_idx) == pytest.approx(score)
                assert identity == pytest.approx(np.mean([query[i] == target[j] for i, j in zip(query_idx, target_idx)]))
    same = sum(np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2]) for a, b in zip(*runs))
    assert same >= 0.9 * len(runs[0])  # co-optimal alignments may differ; nearly all are the same


def test_a_search_process_does_not_import_bio_align(library_path):
    """The first search of a fold is what the fold waits for: it must not pay for Bio.Align's import
    (~0.1 s) where parasail aligns."""
    pytest.importorskip("parasail")
    import subprocess

    code = ("import sys; from foldlite.templates.library import load_library; "
            "from foldlite.templates.search import find_templates; from foldlite.data.chains import ChainSet, "
            "sample_chainset_path; chains = ChainSet(sample_chainset_path()); "
            f"hits = find_templates(chains.sequence(0), load_library({str(library_path)!r})); "
            "print(len(hits), 'Bio.Align' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) >= 1  # it found the chain itself (the library holds it)
    assert out[1] == "False"

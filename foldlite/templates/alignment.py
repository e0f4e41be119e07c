"""Sequence alignment, one place for all of foldlite: BLOSUM62, local alignments (parasail, else
Bio.Align), Bio.Align aligners, Karlin–Altschul statistics and the residue pairs of an alignment.

Used by the template search (local, BLAST's gap costs, so its E-values hold), by training's
template picker (the same, so training templates look like search hits) and by structure
comparison (global alignment of two sequences of the same protein, `compare_aligner`).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..tokenizer import STANDARD_RESIDUES

# Karlin–Altschul statistics of BLOSUM62 with gap costs 11 + 1 per residue (BLAST's defaults).
LAMBDA = 0.267
KAPPA = 0.041
# Bio.Align scores a gap of length n as open + (n - 1) * extend; BLAST as -(11 + n). So BLAST's 11/1
# (which the λ, K above belong to) is open -12, extend -1 here.
GAP_OPEN = -12.0
GAP_EXTEND = -1.0


def evalue(score: float, query_length: int, library_residues: int) -> float:
    """Karlin–Altschul E-value K m n e^(-λ S) (no edge-effect correction)."""
    return KAPPA * query_length * library_residues * math.exp(-LAMBDA * score)


def bit_score(score: float) -> float:
    return (LAMBDA * score - math.log(KAPPA)) / math.log(2.0)



# BLOSUM62 (Henikoff & Henikoff, PNAS 1992) over STANDARD_RESIDUES + X, as NCBI and Biopython
# distribute it. Written out so that the template search needs no Bio.Align import (~0.1 s of a fold's
# first search, which the fold waits for); tests/templates/test_alignment.py checks it against Biopython's.
_BLOSUM62_TABLE = """
   A  C  D  E  F  G  H  I  K  L  M  N  P  Q  R  S  T  V  W  Y  X
A  4  0 -2 -1 -2  0 -2 -1 -1 -1 -1 -2 -1 -1 -1  1  0  0 -3 -2  0
C  0  9 -3 -4 -2 -3 -3 -1 -3 -1 -1 -3 -3 -3 -3 -1 -1 -1 -2 -2 -2
D -2 -3  6  2 -3 -1 -1 -3 -1 -4 -3  1 -1  0 -2  0 -1 -3 -4 -3 -1
E -1 -4  2  5 -3 -2  0 -3  1 -3 -2  0 -1  2  0  0 -1 -2 -3 -2 -1
F -2 -2 -3 -3  6 -3 -1  0 -3  0  0 -3 -4 -3 -3 -2 -2 -1  1  3 -1
G  0 -3 -1 -2 -3  6 -2 -4 -2 -4 -3  0 -2 -2 -2  0 -2 -3 -2 -3 -1
H -2 -3 -1  0 -1 -2  8 -3 -1 -3 -2  1 -2  0  0 -1 -2 -3 -2  2 -1
I -1 -1 -3 -3  0 -4 -3  4 -3  2  1 -3 -3 -3 -3 -2 -1  3 -3 -1 -1
K -1 -3 -1  1 -3 -2 -1 -3  5 -2 -1  0 -1  1  2  0 -1 -2 -3 -2 -1
L -1 -1 -4 -3  0 -4 -3  2 -2  4  2 -3 -3 -2 -2 -2 -1  1 -2 -1 -1
M -1 -1 -3 -2  0 -3 -2  1 -1  2  5 -2 -2  0 -1 -1 -1  1 -1 -1 -1
N -2 -3  1  0 -3  0  1 -3  0 -3 -2  6 -2  0  0  1  0 -3 -4 -2 -1
P -1 -3 -1 -1 -4 -2 -2 -3 -1 -3 -2 -2  7 -1 -2 -1 -1 -2 -4 -3 -2
Q -1 -3  0  2 -3 -2  0 -3  1 -2  0  0 -1  5  1  0 -1 -2 -2 -1 -1
R -1 -3 -2  0 -3 -2  0 -3  2 -2 -1  0 -2  1  5 -1 -1 -3 -3 -2 -1
S  1 -1  0  0 -2  0 -1 -2  0 -2 -1  1 -1  0 -1  4  1 -2 -3 -2  0
T  0 -1 -1 -1 -2 -2 -2 -1 -1 -1 -1  0 -1 -1 -1  1  5  0 -2 -2  0
V  0 -1 -3 -2 -1 -3 -3  3 -2  1  1 -3 -2 -2 -3 -2  0  4 -3 -1 -1
W -3 -2 -4 -3  1 -2 -2 -3 -3 -2 -1 -4 -4 -2 -3 -3 -2 -3 11  2 -2
Y -2 -2 -3 -2  3 -3  2 -1 -2 -1 -1 -2 -3 -1 -2 -2 -2 -1  2  7 -1
X  0 -2 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -2 -1 -1  0  0 -1 -2 -1 -1
"""


@functools.lru_cache(maxsize=1)
def blosum62():
    """Bio.Align's BLOSUM62 (loaded once per process)."""
    from Bio.Align import substitution_matrices

    return substitution_matrices.load("BLOSUM62")


def make_aligner(mode: str = "local", open_gap: float = GAP_OPEN, extend_gap: float = GAP_EXTEND):
    """A Bio.Align.PairwiseAligner over BLOSUM62; the defaults are the search's (local, BLAST 11/1)."""
    from Bio.Align import PairwiseAligner

    aligner = PairwiseAligner(mode=mode, substitution_matrix=blosum62())
    aligner.open_gap_score = open_gap
    aligner.extend_gap_score = extend_gap
    return aligner


def local_scores(query: str, targets: list[str]) -> np.ndarray:
    """Smith–Waterman scores [N] of `query` against each target (BLOSUM62, GAP_OPEN / GAP_EXTEND): what
    make_aligner().score gives, computed by parasail's SIMD (striped) kernels where parasail is installed
    (x86-64 wheels; ~0.004 s instead of ~0.2-0.3 s for a 300-residue query against 150 chains), else by
    Bio.Align. The same integer scores either way: the same matrix over the 20 residues and X, and
    parasail's gap of length n costs open + (n - 1) * extend as Bio.Align's does (tested)."""
    try:
        import parasail
    except ImportError:  # no wheel for this machine (e.g. ARM): Bio.Align, ~50x slower
        aligner = make_aligner()
        return np.array([aligner.score(query, target) for target in targets], dtype=np.float64)
    open_cost, extend_cost = int(-GAP_OPEN), int(-GAP_EXTEND)
    profile = parasail.profile_create_16(query, parasail.blosum62)  # 16-bit lanes: twice the width of 32
    scores = np.empty(len(targets), dtype=np.float64)
    wide = None
    for k, target in enumerate(targets):
        result = parasail.sw_striped_profile_16(profile, target, open_cost, extend_cost)
        if result.saturated:  # a score beyond 16 bits (very long, very similar chains): again in 32
            if wide is None:
                wide = parasail.profile_create_32(query, parasail.blosum62)
            result = parasail.sw_striped_profile_32(wide, target, open_cost, extend_cost)
        scores[k] = result.score
    return scores


def compare_aligner():
    """Global alignment of two sequences of the same protein (model vs reference structure): any
    gap cost works there; -10 / -0.5 (EMBOSS needle's defaults) keeps the alignment gap-poor."""
    return make_aligner("global", -10.0, -0.5)


@functools.lru_cache(maxsize=1)
def score_matrix() -> np.ndarray:
    """BLOSUM62 as int32 [21, 21] over STANDARD_RESIDUES + X (index 20); read-only."""
    lines = _BLOSUM62_TABLE.split("\n")[2:-1]  # the rows; the first line is the column letters
    letters = STANDARD_RESIDUES + "X"
    rows = {line.split()[0]: [int(value) for value in line.split()[1:]] for line in lines}
    scores = np.array([rows[letter] for letter in letters], dtype=np.int32)
    scores.flags.writeable = False
    return scores


def local_alignment(query: str, target: str) -> tuple[float, np.ndarray, np.ndarray, float]:
    """An optimal local alignment of query and target (BLOSUM62, GAP_OPEN / GAP_EXTEND, as
    local_scores) -> (score, query_idx [A], target_idx [A] of its aligned residue pairs, identity over
    them; A = 0 and identity 0 when nothing aligns).

    parasail's SIMD traceback where installed (~0.2 ms at 300 x 300 residues, ~10x faster than Bio.Align,
    and no Bio.Align import in the search process), else Bio.Align's. Both return an optimal alignment;
    where several score the same they may pick different ones (measured on 1,180 valid query-hit pairs:
    4 differed, sharing > 94 % of their pairs)."""
    try:
        import parasail
    except ImportError:  # no wheel for this machine: Bio.Align
        alignment = make_aligner().align(query, target)[0]
        if len(alignment.aligned[0]) == 0:
            return float(alignment.score), np.zeros(0, np.int64), np.zeros(0, np.int64), 0.0
        return (float(alignment.score), *aligned_pairs(alignment, query, target))
    open_cost, extend_cost = int(-GAP_OPEN), int(-GAP_EXTEND)
    result = parasail.sw_trace_striped_16(query, target, open_cost, extend_cost, parasail.blosum62)
    if result.saturated:  # a score beyond 16 bits: again in 32
        result = parasail.sw_trace_striped_32(query, target, open_cost, extend_cost, parasail.blosum62)
    query_idx, target_idx = _cigar_pairs(result.cigar)
    if len(query_idx) == 0:
        return float(result.score), query_idx, target_idx, 0.0
    return float(result.score), query_idx, target_idx, _identity(query, target, query_idx, target_idx)


def _cigar_pairs(cigar) -> tuple[np.ndarray, np.ndarray]:
    """A parasail CIGAR -> (query_idx [A], target_idx [A]) of the aligned (match or mismatch) pairs.
    Each entry is length << 4 | operation, operations numbered as in "MIDNSHP=X" (SAM's order); I is a
    query residue facing a gap, D a target residue facing one."""
    query_at, target_at = cigar.beg_query, cigar.beg_ref
    query_parts, target_parts = [], []
    for code in cigar.seq:
        length, operation = int(code) >> 4, "MIDNSHP=X"[int(code) & 0xF]
        if operation in "M=X":
            query_parts.append(np.arange(query_at, query_at + length))
            target_parts.append(np.arange(target_at, target_at + length))
        if operation in "M=XI":
            query_at += length
        if operation in "M=XD":
            target_at += length
    if not query_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(query_parts).astype(np.int64), np.concatenate(target_parts).astype(np.int64)


def _identity(query: str, target: str, query_idx: np.ndarray, target_idx: np.ndarray) -> float:
    """Fraction of aligned pairs with the same residue."""
    q_arr = np.frombuffer(query.encode("ascii"), dtype=np.uint8)
    t_arr = np.frombuffer(target.encode("ascii"), dtype=np.uint8)
    return float(np.mean(q_arr[query_idx] == t_arr[target_idx]))


def aligned_pairs(alignment, query: str, target: str) -> tuple[np.ndarray, np.ndarray, float]:
    """A Bio.Align alignment -> (query_idx [A], target_idx [A] of the aligned residue pairs, identity)."""
    # alignment.aligned: ([[q0, q1], ...], [[t0, t1], ...]) gapless blocks
    q_blocks, t_blocks = alignment.aligned
    query_idx = np.concatenate([np.arange(a, b) for a, b in q_blocks]).astype(np.int64)
    target_idx = np.concatenate([np.arange(a, b) for a, b in t_blocks]).astype(np.int64)
    return query_idx, target_idx, _identity(query, target, query_idx, target_idx)

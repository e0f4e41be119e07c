"""Template search: find library chains whose sequence aligns to a query, and turn a hit into a Cα trace.

Three stages, a much simplified BLAST:

1. Word hits: every library position is indexed by the 3-mer starting there (built once per Library,
   ~1 s for 4 M residues, kept in library.cache). Each query 3-mer is expanded to all 3-mers scoring
   >= WORD_THRESHOLD against it with BLOSUM62 (BLAST's "neighbourhood words"); their library
   positions are the hits.
2. Two-hit diagonals and ungapped scores: hits are counted per (chain, diagonal); diagonals with at
   least two hits get the BLOSUM62 score of their best ungapped segment, computed for thousands of
   diagonals at once in numpy. A chain's prefilter score is its best diagonal. Exact k-mer counting
   alone misses most homologues below 30 % identity; the ungapped score finds them.
3. Smith–Waterman (Bio.Align.PairwiseAligner, local, BLOSUM62, BLAST gap costs 11/1) on the best
   `candidates` chains, with a Karlin–Altschul E-value over the whole library. Full alignments (for
   identity, coverage and residue pairs) are made only for hits that are reported.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .library import Library
from ..tokenizer import STANDARD_RESIDUES, normalize_sequence

K = 3  # k-mer length of the prefilter
WORD_THRESHOLD = 12  # a library 3-mer is a hit for a query 3-mer when their BLOSUM62 score is >= this
HIT_BUDGET = 2_000_000  # max k-mer hits per query; long queries raise the threshold to stay under it
MAX_DIAGONALS = 40_000  # (chain, diagonal) pairs given an ungapped score, most k-mer hits first
_CELLS_PER_CHUNK = 2_000_000  # diagonal x query cells scored at once (bounds memory to ~60 MB)
# Karlin–Altschul statistics of BLOSUM62 with gap costs 11 + 1 per residue (BLAST's defaults).
LAMBDA = 0.267
KAPPA = 0.041
# Bio.Align scores a gap of length n as open + (n - 1) * extend; BLAST as -(11 + n). So BLAST's 11/1
# (which the λ, K above belong to) is open -12, extend -1 here.
GAP_OPEN = -12.0
GAP_EXTEND = -1.0
_ALPHABET_SIZE = len(STANDARD_RESIDUES)
_NUM_KMERS = _ALPHABET_SIZE ** K
_CODE = np.full(256, -1, dtype=np.int64)  # ASCII -> 0..19, anything else (X) -> -1
for _i, _c in enumerate(STANDARD_RESIDUES):
    _CODE[ord(_c)] = _i


@dataclass
class Hit:
    """One library chain aligned to the query.

    Ranges are 0-based, end exclusive (the CLI prints them 1-based, inclusive).
    query_idx / target_idx: [A] int arrays of aligned residue pairs (query_idx[k] <-> target_idx[k]).
    identity: identical pairs / aligned pairs; coverage: aligned query residues / query length.
    """

    name: str
    index: int  # chain index in the library
    score: float  # Smith–Waterman raw score
    bits: float
    evalue: float
    identity: float
    coverage: float
    query_start: int
    query_end: int
    target_start: int
    target_end: int
    target_length: int
    query_idx: np.ndarray
    target_idx: np.ndarray

    @property
    def aligned_length(self) -> int:
        return len(self.query_idx)


def evalue(score: float, query_length: int, library_residues: int) -> float:
    """Karlin–Altschul E-value K m n e^(-λ S) (no edge-effect correction)."""
    return KAPPA * query_length * library_residues * math.exp(-LAMBDA * score)


def bit_score(score: float) -> float:
    return (LAMBDA * score - math.log(KAPPA)) / math.log(2.0)


def _blosum62():
    from Bio.Align import substitution_matrices

    return substitution_matrices.load("BLOSUM62")


def _aligner():
    from Bio.Align import PairwiseAligner

    aligner = PairwiseAligner(mode="local", substitution_matrix=_blosum62())
    aligner.open_gap_score = GAP_OPEN
    aligner.extend_gap_score = GAP_EXTEND
    return aligner


_SCORES: np.ndarray | None = None


def _score_matrix() -> np.ndarray:
    """BLOSUM62 as int32 [21, 21] over STANDARD_RESIDUES + X (index 20)."""
    global _SCORES
    if _SCORES is None:
        matrix, letters = _blosum62(), STANDARD_RESIDUES + "X"
        _SCORES = np.array([[matrix[a, b] for b in letters] for a in letters], dtype=np.int32)
    return _SCORES


# ---------------------------------------------------------------------------------------- prefilter

def _residue_codes(residues: np.ndarray) -> np.ndarray:
    """ASCII [N] uint8 -> [N] int64 in 0..19, 20 for anything else (X)."""
    codes = _CODE[residues]
    return np.where(codes < 0, _ALPHABET_SIZE, codes)


def _kmer_codes(residues: np.ndarray, valid_start: np.ndarray | None = None) -> np.ndarray:
    """ASCII residues [N] -> code of the k-mer starting at each position [N - K + 1], or -1 where the
    k-mer holds a non-standard residue or (valid_start False) crosses a chain end."""
    letters = _CODE[residues]  # [N]
    n = len(letters) - K + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    codes = np.zeros(n, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    for shift in range(K):
        part = letters[shift:shift + n]
        codes = codes * _ALPHABET_SIZE + part
        bad |= part < 0
    if valid_start is not None:
        bad |= ~valid_start[:n]
    codes[bad] = -1
    return codes


def kmer_index(library: Library) -> tuple[np.ndarray, np.ndarray]:
    """(starts [20^K + 1] int64, positions [H] int32): library rows whose k-mer has code c are
    positions[starts[c]:starts[c + 1]]. Cached in library.cache."""
    if "kmer_index" not in library.cache:
        rows = len(library.seq)
        # a k-mer may start at row r only if it ends inside the same chain
        chain_end = np.repeat(library.offsets + library.lengths, library.lengths)  # [R]
        valid_start = np.arange(rows) + K <= chain_end
        codes = _kmer_codes(library.seq, valid_start)  # [R - K + 1]
        keep = np.flatnonzero(codes >= 0)
        order = np.argsort(codes[keep], kind="stable")
        positions = keep[order].astype(np.int32)  # grouped by code, by row within a code
        counts = np.bincount(codes[keep], minlength=_NUM_KMERS)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        library.cache["kmer_index"] = (starts, positions)
    return library.cache["kmer_index"]


def _word_hits(query_codes: np.ndarray, starts: np.ndarray, positions: np.ndarray):
    """(query positions [H], library rows [H]) of all neighbourhood-word hits; the threshold rises
    above WORD_THRESHOLD for long or repetitive queries until H <= HIT_BUDGET."""
    qpos = np.flatnonzero(query_codes >= 0)
    qcodes = query_codes[qpos]  # [Q]
    scores = _score_matrix().astype(np.int16)
    all_codes = np.arange(_NUM_KMERS)
    word_score = np.zeros((len(qcodes), _NUM_KMERS), dtype=np.int16)  # [Q, 8000], |score| <= 33
    for k in range(K):  # sum of BLOSUM62 over the K letters
        place = _ALPHABET_SIZE ** (K - 1 - k)
        word_score += scores[(qcodes // place) % _ALPHABET_SIZE][:, (all_codes // place) % _ALPHABET_SIZE]
    posting_length = np.diff(starts)  # [8000]
    threshold = WORD_THRESHOLD
    while True:
        q_row, word = np.nonzero(word_score >= threshold)  # [W] each
        counts = posting_length[word]
        if counts.sum() <= HIT_BUDGET:
            break
        threshold += 1
    total = int(counts.sum())
    # gather the postings of every (query position, word) pair: hit h reads positions[first[h] + h]
    first = np.repeat(starts[word] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    rows = positions[first + np.arange(total)].astype(np.int64)  # [H]
    return np.repeat(qpos[q_row], counts), rows


def _ungapped_scores(query: np.ndarray, row0: np.ndarray, chains: np.ndarray, library: Library) -> np.ndarray:
    """Best ungapped segment score [D] of each diagonal: query residue i against library row
    row0[d] + i (only rows inside chain chains[d] count). query: [Lq] residue codes."""
    scores = _score_matrix()
    library_codes = library.cache.get("residue_codes")
    if library_codes is None:
        library_codes = library.cache["residue_codes"] = _residue_codes(library.seq).astype(np.uint8)  # [R]
    length = len(query)
    i = np.arange(length)
    best = np.zeros(len(row0), dtype=np.int64)
    step = max(1, _CELLS_PER_CHUNK // length)
    for lo in range(0, len(row0), step):
        rows = row0[lo:lo + step, None] + i[None, :]  # [D, Lq]
        chain = chains[lo:lo + step]
        inside = (rows >= library.offsets[chain][:, None]) & \
                 (rows < (library.offsets[chain] + library.lengths[chain])[:, None])
        pair = np.where(inside, scores[query[None, :], library_codes[np.clip(rows, 0, len(library_codes) - 1)]], 0)
        # best segment sum = max_j (P_j - min_{i<=j} P_i) over prefix sums P (P_0 = 0)
        prefix = np.zeros((len(rows), length + 1), dtype=np.int32)
        np.cumsum(pair, axis=1, out=prefix[:, 1:])
        best[lo:lo + step] = (prefix - np.minimum.accumulate(prefix, axis=1)).max(axis=1)
    return best


def prefilter(query: str, library: Library) -> tuple[np.ndarray, np.ndarray]:
    """(chain indices [N], best ungapped diagonal score [N]) of chains with a two-hit diagonal,
    best first."""
    starts, positions = kmer_index(library)
    query_bytes = np.frombuffer(query.encode("ascii"), dtype=np.uint8)
    qi, rows = _word_hits(_kmer_codes(query_bytes), starts, positions)  # [H] each
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    length = len(query)
    chain = library.residue_chain()[rows].astype(np.int64)  # [H]
    # Diagonal key, unique per (chain, diagonal): rows - qi (the library row facing query residue 0)
    # lies in (offset - Lq, offset + Lc); adding (c + 1) Lq keeps the chains' ranges apart.
    key = rows - qi + (chain + 1) * length
    diagonals, hits = np.unique(key, return_counts=True)
    keep = hits >= 2  # two hits on one diagonal: chance pairs are rare, homologous segments have many
    diagonals, hits = diagonals[keep], hits[keep]
    if len(diagonals) > MAX_DIAGONALS:
        top = np.argpartition(-hits, MAX_DIAGONALS)[:MAX_DIAGONALS]
        diagonals = diagonals[np.sort(top)]
    if len(diagonals) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # invert the key: chain c owns keys (offset_c + c Lq, offset_c + c Lq + Lc + Lq)
    key_base = library.offsets + np.arange(len(library)) * length
    diag_chain = np.searchsorted(key_base, diagonals, side="right") - 1
    row0 = diagonals - (diag_chain + 1) * length
    segment = _ungapped_scores(_residue_codes(query_bytes), row0, diag_chain, library)  # [D]
    # best diagonal per chain (diagonals are sorted by key, hence grouped by chain)
    group = np.concatenate([[0], np.flatnonzero(np.diff(diag_chain)) + 1])
    chains, best = diag_chain[group], np.maximum.reduceat(segment, group)
    order = np.argsort(-best, kind="stable")
    return chains[order], best[order]


# ------------------------------------------------------------------------------------------- search

def aligned_pairs(alignment, query: str, target: str) -> tuple[np.ndarray, np.ndarray, float]:
    """A Bio.Align alignment -> (query_idx [A], target_idx [A] of the aligned residue pairs, identity)."""
    # alignment.aligned: ([[q0, q1], ...], [[t0, t1], ...]) gapless blocks
    q_blocks, t_blocks = alignment.aligned
    query_idx = np.concatenate([np.arange(a, b) for a, b in q_blocks]).astype(np.int64)
    target_idx = np.concatenate([np.arange(a, b) for a, b in t_blocks]).astype(np.int64)
    q_arr = np.frombuffer(query.encode("ascii"), dtype=np.uint8)
    t_arr = np.frombuffer(target.encode("ascii"), dtype=np.uint8)
    return query_idx, target_idx, float(np.mean(q_arr[query_idx] == t_arr[target_idx]))


def _make_hit(aligner, query: str, library: Library, index: int, score: float) -> Hit:
    target = library.sequence(index)
    query_idx, target_idx, identity = aligned_pairs(aligner.align(query, target)[0], query, target)
    m, n = len(query), library.total_residues
    return Hit(name=str(library.names[index]), index=int(index), score=float(score), bits=bit_score(score),
               evalue=evalue(score, m, n), identity=identity, coverage=len(query_idx) / m,
               query_start=int(query_idx[0]), query_end=int(query_idx[-1]) + 1,
               target_start=int(target_idx[0]), target_end=int(target_idx[-1]) + 1,
               target_length=len(target), query_idx=query_idx, target_idx=target_idx)


def search(query_sequence: str, library: Library, max_hits: int = 10, max_evalue: float = 10.0,
           exclude_names: Iterable[str] = (), max_identity: float | None = None,
           candidates: int = 300, max_candidates: int = 1500) -> list[Hit]:
    """Library chains that align to the query with E-value <= max_evalue, best first.

    exclude_names: chains never reported (e.g. the query itself).
    max_identity: drop hits with identity >= max_identity (e.g. 0.95 drops near-identical copies).
    candidates: chains passed from the prefilter to Smith–Waterman. When identity exclusions leave
    fewer than max_hits, the next `candidates` are aligned too, up to max_candidates in all (a
    query with hundreds of near-identical copies in the library still gets its real homologues).
    """
    query = normalize_sequence(query_sequence, "query")
    if max_hits < 1:
        return []
    ranked, _ = prefilter(query, library)
    excluded = set(exclude_names)
    if excluded:
        ranked = ranked[~np.isin(library.names[ranked], list(excluded))]
    ranked = ranked[:max_candidates]
    aligner = _aligner()
    m, n = len(query), library.total_residues
    # the score with E = max_evalue: anything below it is not aligned in full
    min_score = (math.log(KAPPA * m * n) - math.log(max_evalue)) / LAMBDA
    hits: list[Hit] = []
    for start in range(0, len(ranked), candidates):
        batch = ranked[start:start + candidates]
        scores = np.array([aligner.score(query, library.sequence(int(i))) for i in batch])
        kept = dropped = 0
        for j in np.argsort(-scores, kind="stable"):
            if scores[j] < min_score or kept >= max_hits:
                break  # the rest of this batch scores lower: it could not be reported
            hit = _make_hit(aligner, query, library, int(batch[j]), float(scores[j]))
            if max_identity is not None and hit.identity >= max_identity:
                dropped += 1
                continue
            hits.append(hit)
            kept += 1
        if len(hits) >= max_hits or not dropped:
            break
    hits.sort(key=lambda h: (-h.score, h.index))
    return hits[:max_hits]


# ------------------------------------------------------------------------------------ template model

CA_STEP = 3.8  # Å between consecutive Cα


def _fill_gap(a: np.ndarray, b: np.ndarray, missing: int, away: np.ndarray) -> np.ndarray:
    """Cα [missing, 3] between a and b [3], `missing` + 1 equal steps.

    When a and b are at least (missing + 1) x 3.8 Å apart: evenly spaced on the straight line (the
    steps are then stretched; nothing better is known). Closer: on a circular arc through a and b,
    bowed towards `away` (made perpendicular to a-b), with steps of exactly 3.8 Å.
    """
    steps = missing + 1
    span = float(np.linalg.norm(b - a))
    if span >= steps * CA_STEP:
        return a + (np.arange(1, steps) / steps)[:, None] * (b - a)
    u = (b - a) / span if span > 1e-6 else np.array([1.0, 0.0, 0.0])  # along the chord
    w = away - np.dot(away, u) * u  # bulge direction, perpendicular to the chord
    if np.linalg.norm(w) < 1e-6:  # `away` along the chord: any perpendicular will do
        w = np.cross(u, [1.0, 0.0, 0.0] if abs(u[0]) < 0.9 else [0.0, 1.0, 0.0])
    w /= np.linalg.norm(w)
    # Arc of angle θ cut into `steps` chords of 3.8 Å: radius r = 3.8 / (2 sin(θ / 2n)) and the chord
    # a-b = 2 r sin(θ/2), so sin(θ/2) / sin(θ / 2n) = span / 3.8; the left side falls from n to 0 as θ
    # goes from 0 to 2π: bisect.
    target = span / CA_STEP
    low, high = 1e-9, 2.0 * np.pi
    for _ in range(60):
        theta = 0.5 * (low + high)
        if np.sin(theta / 2) / np.sin(theta / (2 * steps)) > target:
            low = theta
        else:
            high = theta
    theta = 0.5 * (low + high)
    radius = CA_STEP / (2.0 * np.sin(theta / (2 * steps)))
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
        out[:first] = out[first] + CA_STEP * np.arange(first, 0, -1)[:, None] * d
    if last < query_length - 1:  # C-terminal tail: continue the last step (last-1 -> last)
        d = direction(out[last - 1], out[last]) if last > first else np.array([1.0, 0.0, 0.0])
        out[last + 1:] = out[last] + CA_STEP * np.arange(1, query_length - last)[:, None] * d
    return out

"""Template search: find library chains whose sequence aligns to a query, and turn a hit into a Cα trace.

Three stages, a much simplified BLAST:

1. Word hits: every library position is indexed by the 3-mer starting there (built once per Library
   by a radix sort, ~0.2 s for 4 M residues, kept with the Library). Each query 3-mer is expanded to
   all 3-mers scoring >= WORD_THRESHOLD against it with BLOSUM62 (BLAST's "neighbourhood words");
   their library positions are the hits.
2. Two-hit diagonals and ungapped scores: hits are counted per (chain, diagonal); diagonals with at
   least two hits get the BLOSUM62 score of their best ungapped segment, computed for thousands of
   diagonals at once in numpy. A chain's prefilter score is its best diagonal. Exact k-mer counting
   alone misses most homologues below 30 % identity; the ungapped score finds them.
3. Smith–Waterman scores (alignment.local_scores: parasail's SIMD kernels, else Bio.Align; local,
   BLOSUM62, BLAST gap costs 11/1) of the best `candidates` chains, with a Karlin–Altschul E-value over
   the whole library. Full alignments (alignment.local_alignment: parasail's traceback, else Bio.Align;
   identity, coverage and residue pairs) are made only for hits that are reported.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

import numpy as np

from ..tokenizer import STANDARD_RESIDUES, normalize_sequence
from .alignment import KAPPA, LAMBDA, bit_score, evalue, local_alignment, local_scores, score_matrix
from .hits import Hit
from .library import Library
from .profile import digital_library, profile_search

K = 3  # k-mer length of the prefilter
WORD_THRESHOLD = 12  # a library 3-mer is a hit for a query 3-mer when their BLOSUM62 score is >= this
HIT_BUDGET = 2_000_000  # max k-mer hits per query; long queries raise the threshold to stay under it
MAX_DIAGONALS = 40_000  # (chain, diagonal) pairs given an ungapped score, most k-mer hits first
_INT32_KEYS_BELOW = np.iinfo(np.int32).max  # prefilter diagonal keys are int32 when they all fit below this
_THREADED_DIAGONALS = 4_000  # fewer diagonals are scored in one thread (numpy's per-call cost dominates)
# threads scoring diagonals: 2 where the process may use 2 cores (more gained little on 2 cores' memory)
_SCORE_THREADS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
_ALPHABET_SIZE = len(STANDARD_RESIDUES)
_NUM_KMERS = _ALPHABET_SIZE ** K
_CODE = np.full(256, -1, dtype=np.int64)  # ASCII -> 0..19, anything else (X) -> -1
for _i, _c in enumerate(STANDARD_RESIDUES):
    _CODE[ord(_c)] = _i


# Search thresholds. The E-value is the number of hits this good expected by chance in the whole
# library: 0.1 admits about one chance template per ten queries, whose low identity then earns it
# little trust (template_weight). Chosen on the valid split (40 chains, library train + valid, see
# tools/eval_templates.py): mean TM 0.669 at E <= 1e-3, 0.696 at 0.1, 0.693 at 1; hits at E 0.01-0.05
# still carried the fold (copied, TM 0.53-0.76), hits at E ~ 2 did not. The search's own default,
# 10, is for browsing and would hand the geometry random structures.
DEFAULT_MAX_EVALUE = 0.1
DEFAULT_MIN_COVERAGE = 0.3  # aligned query residues / query length; shorter hits restrain too little
DEFAULT_MAX_TEMPLATES = 4
# Which search finds templates: "profile" (HMMER3 phmmer, foldlite.templates.profile), "sw" (this
# module's k-mer prefilter + Smith–Waterman) or "both" (their hits together, combined_search). Chosen on the valid split (tools/measure_search.py,
# results/search_recall_valid.txt): see the README's template section.
SEARCH_METHODS = ("both", "profile", "sw")
DEFAULT_SEARCH = "both"


# ---------------------------------------------------------------------------------------- prefilter

def _residue_codes(residues: np.ndarray) -> np.ndarray:
    """ASCII [N] uint8 -> [N] int64 in 0..19, 20 for anything else (X)."""
    codes = _CODE[residues]
    return np.where(codes < 0, _ALPHABET_SIZE, codes)


def _kmer_codes(residues: np.ndarray, chain_ends: np.ndarray | None = None) -> np.ndarray:
    """ASCII residues [N] -> int16 code of the k-mer starting at each position [N - K + 1], or -1 where
    the k-mer holds a non-standard residue or runs past a chain's end (chain_ends [C]: the first row
    after each chain, for a library's concatenated chains). int16 (codes < 20^3 = 8000): a quarter of
    int64's memory traffic over a library's 4.6 M rows, and numpy sorts int16 by radix sort."""
    letters = _CODE.astype(np.int16)[residues]  # [N], -1 for X
    n = max(len(letters) - K + 1, 0)
    codes = np.zeros(n, dtype=np.int16)
    bad = np.zeros(n, dtype=bool)
    for shift in range(K):
        part = letters[shift:shift + n]
        codes *= _ALPHABET_SIZE
        codes += part
        bad |= part < 0
    if chain_ends is not None:
        for back in range(1, K):  # k-mers starting in a chain's last K - 1 rows run into the next chain
            rows = chain_ends - back
            bad[rows[(rows >= 0) & (rows < n)]] = True
    codes[bad] = -1
    return codes


def kmer_index(library: Library) -> tuple[np.ndarray, np.ndarray]:
    """(starts [20^K + 1] int64, positions [H] int32): library rows whose k-mer has code c are
    positions[starts[c]:starts[c + 1]]. Built once per library (Library.cached), ~0.2 s for the
    shipped library's 4.6 M residues."""
    def build():
        codes = _kmer_codes(library.seq, library.offsets + library.lengths)  # [R - K + 1] int16
        codes[codes < 0] = _NUM_KMERS  # unusable k-mers sort after every real code, then are cut off
        # a stable radix sort of int16 in linear time: 0.1 s here against 0.5 s for a merge sort of int64
        order = np.argsort(codes, kind="stable")  # grouped by code, by row within a code
        counts = np.bincount(codes, minlength=_NUM_KMERS + 1)[:_NUM_KMERS]
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return starts, order[:starts[-1]].astype(np.int32)

    return library.cached("kmer_index", build)


SEPARATOR_CODE = _ALPHABET_SIZE + 1  # code between chains in library_residue_codes: scores 0 against anything


def library_residue_codes(library: Library) -> np.ndarray:
    """[R + C + 1] uint8 residue codes (0..19, 20 for X) of the library's chains, each chain preceded
    by a SEPARATOR_CODE and the last one followed by one: chain c's row r is at r + c + 1. Built once per
    Library. The separators let the ungapped scores clip a diagonal to its own chain in one pass."""
    def build():
        codes = _residue_codes(library.seq).astype(np.uint8)
        padded = np.insert(codes, library.offsets, SEPARATOR_CODE)  # a separator before every chain
        return np.append(padded, np.uint8(SEPARATOR_CODE))

    return library.cached("residue_codes", build)


def warm_up(library: Library, profile: bool = True) -> None:
    """Build every derived array a search uses (k-mer index, residue codes, residue -> chain; with
    `profile`, HMMER's copy of the sequences), so the first query does not pay for them (and they can be
    built ahead, in another thread). Without it, combined_search builds HMMER's copy in its profile
    thread, beside the first query's k-mer search (~0.1 s sooner answered)."""
    kmer_index(library)
    library_residue_codes(library)
    library.residue_chain()
    if profile and DEFAULT_SEARCH in ("both", "profile"):
        digital_library(library)  # HMMER's copy of the sequences


def _word_hits(query_codes: np.ndarray, starts: np.ndarray, positions: np.ndarray):
    """(query positions [H] int64, library rows [H] in positions' int32) of all neighbourhood-word hits;
    the threshold rises above WORD_THRESHOLD for long or repetitive queries until H <= HIT_BUDGET."""
    qpos = np.flatnonzero(query_codes >= 0)
    qcodes = query_codes[qpos]  # [Q]
    scores = score_matrix().astype(np.int16)
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
    rows = positions[first + np.arange(total)]  # [H]; prefilter widens them only where its keys need it
    return np.repeat(qpos[q_row], counts), rows


def _ungapped_scores(query: np.ndarray, row0: np.ndarray, chains: np.ndarray, library: Library) -> np.ndarray:
    """Best ungapped segment score [D] of each diagonal: query residue i against library row
    row0[d] + i (only rows inside chain chains[d] count). query: [Lq] residue codes.

    Kadane's running maximum, one query residue at a time across all diagonals at once (arrays of D,
    not D x Lq: ~3x faster than prefix sums over a [D, Lq] block, which did not fit in cache)."""
    library_codes = library_residue_codes(library)  # [R + C + 1], chain c's row r at r + c + 1
    length = len(query)
    # int16 sums where they cannot overflow (|score| <= 11), int32 positions: less memory traffic
    sum_type = np.int16 if 11 * length < np.iinfo(np.int16).max else np.int32
    blosum = np.zeros((SEPARATOR_CODE + 1, SEPARATOR_CODE + 1), dtype=sum_type)  # BLOSUM62, 0 for the separator
    blosum[:SEPARATOR_CODE, :SEPARATOR_CODE] = score_matrix()
    profile = blosum[query]  # [Lq, 22]: query residue i's score against each library code
    # positions in library_codes: a diagonal's rows outside its chain are clipped onto the separators
    # on either side of the chain, which score 0
    start = (row0 + chains + 1).astype(np.int32)  # [D] position facing query residue 0
    low = (library.offsets[chains] + chains).astype(np.int32)  # [D] the separator before the chain
    high = low + library.lengths[chains].astype(np.int32) + 1  # [D] the separator after it
    best = np.zeros(len(row0), dtype=np.int64)

    def score_chunk(lo: int, hi: int) -> None:
        first, floor, ceiling = start[lo:hi], low[lo:hi], high[lo:hi]
        position = np.empty(hi - lo, dtype=np.int32)
        code = np.empty(hi - lo, dtype=np.uint8)
        score = np.empty(hi - lo, dtype=sum_type)
        ending_here = np.zeros(hi - lo, dtype=sum_type)  # best segment sum ending at residue i (>= 0)
        best_so_far = np.zeros(hi - lo, dtype=sum_type)
        for i in range(length):
            np.add(first, i, out=position)
            np.clip(position, floor, ceiling, out=position)
            np.take(library_codes, position, out=code)
            np.take(profile[i], code, out=score)
            np.add(ending_here, score, out=ending_here)
            np.maximum(ending_here, 0, out=ending_here)
            np.maximum(best_so_far, ending_here, out=best_so_far)
        best[lo:hi] = best_so_far

    if len(row0) < _THREADED_DIAGONALS or _SCORE_THREADS == 1:
        score_chunk(0, len(row0))
        return best
    # numpy lets go of the GIL in these array operations: two threads, each with half the diagonals
    # (independent: the same scores)
    bounds = np.linspace(0, len(row0), _SCORE_THREADS + 1).astype(int)
    with ThreadPoolExecutor(max_workers=_SCORE_THREADS) as pool:
        list(pool.map(score_chunk, bounds[:-1], bounds[1:]))
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
    # Diagonal key, unique per (chain, diagonal): rows - qi (the library row facing query residue 0)
    # lies in (offset - Lq, offset + Lc); adding (c + 1) Lq keeps the chains' ranges apart. int32
    # where every key fits (the shipped library and a 2,000-residue query: < 5e7): numpy sorts 32-bit
    # integers several times faster than 64-bit ones (np.unique's sort of ~2 M keys)
    fits = library.total_residues + (len(library) + 1) * length < _INT32_KEYS_BELOW
    key_type = np.int32 if fits else np.int64
    chain = library.residue_chain()[rows].astype(key_type)  # [H]
    key = rows.astype(key_type) - qi.astype(key_type) + (chain + 1) * key_type(length)
    diagonals, hits = np.unique(key, return_counts=True)
    diagonals = diagonals.astype(np.int64)
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

def _make_hit(query: str, library: Library, index: int, score: float) -> Hit:
    target = library.sequence(index)
    _, query_idx, target_idx, identity = local_alignment(query, target)
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
    m, n = len(query), library.total_residues
    # the score with E = max_evalue: anything below it is not aligned in full
    min_score = (math.log(KAPPA * m * n) - math.log(max_evalue)) / LAMBDA
    hits: list[Hit] = []
    for start in range(0, len(ranked), candidates):
        batch = ranked[start:start + candidates]
        scores = local_scores(query, [library.sequence(int(i)) for i in batch])
        kept = dropped = 0
        for j in np.argsort(-scores, kind="stable"):
            if scores[j] < min_score or kept >= max_hits:
                break  # the rest of this batch scores lower: it could not be reported
            hit = _make_hit(query, library, int(batch[j]), float(scores[j]))
            if max_identity is not None and hit.identity >= max_identity:
                dropped += 1
                continue
            hits.append(hit)
            kept += 1
        if len(hits) >= max_hits or not dropped:
            break
    hits.sort(key=lambda h: (-h.score, h.index))
    return hits[:max_hits]


# Smith–Waterman candidates when the profile search runs beside it: the distant relatives that rank
# low in the k-mer prefilter are the profile search's to find. Measured on 120 valid queries (shipped
# library, fold's defaults): 150 instead of 300 left 119 template lists identical (the other kept
# the same 4 templates, one with the profile's alignment) and took 18 % less search time. Since the
# scores come from parasail, more candidates cost almost nothing, but 1000 gave the same 60 valid
# folds as 150 (results/templates/candidates_valid_session10.txt).
COMBINED_CANDIDATES = 150


def combined_search(query_sequence: str, library: Library, max_hits: int = 10, max_evalue: float = 10.0,
                    exclude_names: Iterable[str] = (), max_identity: float | None = None) -> list[Hit]:
    """Smith–Waterman hits and profile-search hits together, best (lowest E-value) first.

    A chain both searches report keeps its Smith–Waterman alignment (the kind the network's
    template pathway was trained on; the profile's local alignments are often shorter) with the
    better of the two E-values; chains only the profile search finds (distant relatives) come with
    the profile's alignment and pair confidence.
    """
    options = dict(max_hits=max_hits, max_evalue=max_evalue, exclude_names=exclude_names, max_identity=max_identity)
    # HMMER runs in a second thread (pyhmmer releases the GIL) while Smith–Waterman runs here: on
    # two cores the pair takes about as long as Smith–Waterman alone
    with ThreadPoolExecutor(max_workers=1) as pool:
        profile = pool.submit(profile_search, query_sequence, library, **options)
        hits = {hit.index: hit for hit in search(query_sequence, library, candidates=COMBINED_CANDIDATES,
                                                 **options)}
        profile_hits = profile.result()
    for hit in profile_hits:
        if hit.index in hits:
            hits[hit.index].evalue = min(hits[hit.index].evalue, hit.evalue)
        else:
            hits[hit.index] = hit
    return sorted(hits.values(), key=lambda h: (h.evalue, -h.bits, h.index))[:max_hits]


def search_library(query_sequence: str, library: Library, method: str | None = None, **options) -> list[Hit]:
    """Search the library with one of SEARCH_METHODS (default DEFAULT_SEARCH): "sw" (search(), k-mer
    prefilter + Smith–Waterman), "profile" (foldlite.templates.profile, HMMER3) or "both"
    (combined_search); options are search()'s max_hits, max_evalue, exclude_names, max_identity."""
    method = DEFAULT_SEARCH if method is None else method
    if method not in SEARCH_METHODS:
        raise ValueError(f"unknown template search method {method!r}; choose from {', '.join(SEARCH_METHODS)}")
    run = {"both": combined_search, "profile": profile_search, "sw": search}[method]
    return run(query_sequence, library, **options)


def find_templates(sequence: str, library: Library, max_templates: int = DEFAULT_MAX_TEMPLATES,
                   min_coverage: float = DEFAULT_MIN_COVERAGE, max_evalue: float = DEFAULT_MAX_EVALUE,
                   exclude_names: Iterable[str] = (), max_identity: float | None = None,
                   method: str | None = None) -> list[Hit]:
    """Up to `max_templates` library hits usable as templates, best (highest score) first.

    A hit must have E-value <= max_evalue (default 0.1, see DEFAULT_MAX_EVALUE) and cover at least
    `min_coverage` of the query. exclude_names and max_identity are passed to the search (e.g. leave
    out the query itself and hits >= 95 % identical to it when benchmarking); method: one of
    SEARCH_METHODS (default DEFAULT_SEARCH, see search_library).
    """
    if max_templates < 1:
        return []
    key = _prefetch_key(sequence, library, max_templates, min_coverage, max_evalue, exclude_names, max_identity,
                        method)
    if key in _PREFETCHED:  # found elsewhere, handed over by remember_templates (same arguments, same answer)
        return _PREFETCHED.pop(key)
    # ask for a few more than needed: some may fail the coverage test
    hits = search_library(sequence, library, method, max_hits=3 * max_templates, max_evalue=max_evalue,
                          exclude_names=exclude_names, max_identity=max_identity)
    return [hit for hit in hits if hit.coverage >= min_coverage][:max_templates]


_PREFETCHED: dict[tuple, list[Hit]] = {}  # find_templates' arguments -> its answer, used once


def _prefetch_key(sequence, library, max_templates, min_coverage, max_evalue, exclude_names, max_identity,
                  method):
    return (sequence, id(library), max_templates, min_coverage, max_evalue, tuple(exclude_names), max_identity,
            DEFAULT_SEARCH if method is None else method)


def remember_templates(sequence: str, library: Library, hits: list[Hit]) -> None:
    """Keep `hits`, found elsewhere with find_templates' defaults (fold()'s), as the answer to the next
    find_templates(sequence, library) with those defaults: used once, then dropped. `foldlite fold`
    searches in a process of its own (foldlite.templates.service) and hands the hits over this way."""
    _PREFETCHED[_prefetch_key(sequence, library, DEFAULT_MAX_TEMPLATES, DEFAULT_MIN_COVERAGE, DEFAULT_MAX_EVALUE,
                              (), None, None)] = hits

"""Profile search for distant relatives: HMMER3 (pyhmmer) phmmer of the query over the library.

The query becomes a profile HMM (HMMER's single-sequence builder: BLOSUM62-derived emission
probabilities, position-specific gap costs) and the library's sequences are searched with HMMER's
pipeline (MSV, Viterbi and Forward filters, then domain alignment by posterior decoding). Against
plain Smith–Waterman this finds more relatives below 30 % identity at the same E-value and is
faster (the filters are SIMD-vectorised C): see the README's template section and
results/search_recall_valid.txt for the numbers.

    hits = profile_search(sequence, library, max_hits=10, max_evalue=0.1)   # list[Hit], best first

E-values are HMMER's, with Z = the number of library chains (database size in sequences).
A hit's residue pairs come from its best domain (the aligned Match states), extended with other
domains of the same chain that lie after or before it in both sequences (repeats, multi-domain
chains); each pair carries HMMER's posterior probability that it is aligned right (Hit.confidence),
which the template restraints use as a per-pair weight.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..tokenizer import normalize_sequence
from .hits import Hit
from .library import Library

PROFILE_CPUS = 1  # pyhmmer's search_hmm runs in the calling thread; one query, one core


def _alphabet():
    import pyhmmer

    return pyhmmer.easel.Alphabet.amino()


def digital_library(library: Library):
    """The library's sequences as a pyhmmer DigitalSequenceBlock, named by chain index (cached on
    the Library). Built by Easel's FASTA reader from one in-memory FASTA text: ~0.1 s for 21 k chains,
    against ~0.17 s for a TextSequence made and digitized per chain in Python (the first search of a
    fold waits for it)."""
    def build():
        import io

        import pyhmmer

        residues = library.seq.tobytes()  # every chain's letters, one after another
        fasta = b"".join(b">%d\n%s\n" % (i, residues[start:start + length]) for i, (start, length)
                         in enumerate(zip(library.offsets.tolist(), library.lengths.tolist())))
        with pyhmmer.easel.SequenceFile(io.BytesIO(fasta), format="fasta", digital=True,
                                        alphabet=_alphabet()) as reader:
            return reader.read_block()

    return library.cached("hmmer_block", build)


def domain_pairs(hmm_from: int, hmm_sequence: str, target_from: int, target_sequence: str,
                 posterior: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query_idx [A], target_idx [A], confidence [A]) of the residue pairs one HMMER domain aligns
    (indices 0-based).

    hmm_from, target_from: 1-based starts; hmm_sequence: the model row ('.' where the target has an
    insertion); target_sequence: the target row ('-' where it skips a model state); posterior:
    HMMER's posterior-probability row ('0'-'9' for 0-5 %, 5-15 %, ... 85-95 %, '*' for >= 95 %),
    read as d / 10 and 1.0 (None: all 1). A query profile built from one sequence has one match
    state per query residue, so state k is residue k.
    """
    model = np.frombuffer(hmm_sequence.encode("ascii"), dtype=np.uint8)
    target = np.frombuffer(target_sequence.encode("ascii"), dtype=np.uint8)
    in_model = model != ord(".")  # [columns] the column is a model state
    in_target = target != ord("-")  # [columns] the column holds a target residue
    query_pos = hmm_from - 1 + np.cumsum(in_model) - 1  # [columns] position where in_model
    target_pos = target_from - 1 + np.cumsum(in_target) - 1
    both = in_model & in_target
    if posterior is None:
        confidence = np.ones(int(both.sum()), dtype=np.float32)
    else:
        codes = np.frombuffer(posterior.encode("ascii"), dtype=np.uint8)[both]  # [A]
        confidence = np.where(codes == ord("*"), 1.0, (codes.astype(np.float32) - ord("0")) / 10.0)
        confidence = np.clip(confidence, 0.0, 1.0).astype(np.float32)
    return query_pos[both].astype(np.int64), target_pos[both].astype(np.int64), confidence


def _hit_pairs(hit, max_evalue: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Residue pairs and their confidence ([A] each) of a pyhmmer hit: its best-scoring domain plus
    colinear, non-overlapping others with an independent E-value <= max_evalue ([0] arrays when no
    domain aligns a residue pair)."""
    domains = sorted(hit.domains, key=lambda d: d.score, reverse=True)
    chosen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for rank, domain in enumerate(domains):
        if rank > 0 and domain.i_evalue > max_evalue:
            continue
        a = domain.alignment
        q, t, c = domain_pairs(a.hmm_from, a.hmm_sequence, a.target_from, a.target_sequence,
                               a.posterior_probabilities)
        if len(q) == 0:
            continue
        # keep a domain only if it lies wholly before or wholly after each chosen one, in both chains
        if all((q[-1] < cq[0] and t[-1] < ct[0]) or (q[0] > cq[-1] and t[0] > ct[-1]) for cq, ct, _ in chosen):
            chosen.append((q, t, c))
    if not chosen:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    chosen.sort(key=lambda pair: pair[0][0])
    return tuple(np.concatenate([part[k] for part in chosen]) for k in range(3))


def profile_search(query_sequence: str, library: Library, max_hits: int = 10, max_evalue: float = 10.0,
                   exclude_names: Iterable[str] = (), max_identity: float | None = None) -> list[Hit]:
    """Library chains whose HMMER E-value against the query profile is <= max_evalue, best first
    (same arguments and Hit records as foldlite.templates.search.search; Hit.score is the bit score)."""
    import pyhmmer

    query = normalize_sequence(query_sequence, "query")
    if max_hits < 1:
        return []
    alphabet = _alphabet()
    block = digital_library(library)
    background = pyhmmer.plan7.Background(alphabet)
    digital = pyhmmer.easel.TextSequence(name=b"query", sequence=query).digitize(alphabet)
    hmm, _, _ = pyhmmer.plan7.Builder(alphabet).build(digital, background)
    pipeline = pyhmmer.plan7.Pipeline(alphabet, background=background, Z=len(library), E=max_evalue,
                                      domE=max_evalue)
    excluded = set(exclude_names)
    q_arr = np.frombuffer(query.encode("ascii"), dtype=np.uint8)
    hits: list[Hit] = []
    for top in pipeline.search_hmm(hmm, block):  # best first
        if len(hits) >= max_hits:
            break
        index = int(top.name)
        name = str(library.names[index])
        if name in excluded or top.evalue > max_evalue or not top.domains:
            continue
        query_idx, target_idx, confidence = _hit_pairs(top, max_evalue)
        if len(query_idx) == 0:
            continue
        target = library.seq[library.offsets[index]:library.offsets[index] + library.lengths[index]]
        identity = float(np.mean(q_arr[query_idx] == target[target_idx]))
        if max_identity is not None and identity >= max_identity:
            continue
        hits.append(Hit(name=name, index=index, score=float(top.score), bits=float(top.score),
                        evalue=float(top.evalue), identity=identity, coverage=len(query_idx) / len(query),
                        query_start=int(query_idx[0]), query_end=int(query_idx[-1]) + 1,
                        target_start=int(target_idx[0]), target_end=int(target_idx[-1]) + 1,
                        target_length=int(library.lengths[index]), query_idx=query_idx, target_idx=target_idx,
                        confidence=confidence))
    return hits

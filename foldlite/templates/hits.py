"""A search hit: one library chain aligned to the query (the same record for every search method)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Hit:
    """One library chain aligned to the query.

    Ranges are 0-based, end exclusive (the CLI prints them 1-based, inclusive).
    query_idx / target_idx: [A] int arrays of aligned residue pairs (query_idx[k] <-> target_idx[k]).
    identity: identical pairs / aligned pairs; coverage: aligned query residues / query length.
    confidence: [A] how sure the search is of each aligned pair, in [0, 1] (the profile search:
    HMMER's posterior probability of the pair; Smith–Waterman: None, read as 1 everywhere).
    """

    name: str
    index: int  # chain index in the library
    score: float  # the method's ranking score: Smith–Waterman raw score, or HMMER bit score (profile)
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
    confidence: np.ndarray | None = None

    def pair_confidence(self) -> np.ndarray:
        """[A] float32 confidence of each aligned pair (ones when the search gives none)."""
        if self.confidence is None:
            return np.ones(len(self.query_idx), dtype=np.float32)
        return np.asarray(self.confidence, dtype=np.float32)

    @property
    def aligned_length(self) -> int:
        return len(self.query_idx)

"""Which record `foldlite fold` folds when, and what it knows of its input before the torch import.

longest_first orders the records (--order longest, the default), input_preview names the record that
folds first (its template search starts while torch is imported) and counts the records (one record
gets a figure process of its own), and fold_cost weighs a record for the progress bar's ETA.
"""
from __future__ import annotations

from typing import NamedTuple

from .fold_worker import RecordTask


def longest_first(tasks) -> list[RecordTask]:
    """Tasks in folding order, longest first (input order among equal lengths).

    Why (session 12, results/memory_order_session12.txt): glibc's heap keeps the blocks a record freed and
    fragments over records of mixed lengths. 250 test chains of 50-500 residues in input order grew one
    process to 1.71 GB (peak 1.83 GB), still growing at the end; longest first it reached 1.27 GB within
    the first records and stayed there (peak 1.34 GB). With workers, long records also no longer come last."""
    return sorted(tasks, key=lambda task: _longest_first_key(task.index, task.sequence))


def _longest_first_key(index: int, sequence: str) -> tuple[int, int]:
    return -len(sequence), index


def fold_cost(length: int) -> float:
    """A record's folding time in relative units, for the progress bar's ETA: the network's and the
    geometry's [L, L] work plus a share per record (search, outputs) like that of a 200-residue map.
    Fitted to 24 test chains of 74-470 residues folded serially (session 13: 0.9-1.5 s below 150
    residues, 2.7 s at 308, 4.5 s at 402)."""
    return float(length) ** 2 + 200.0 ** 2


class InputPreview(NamedTuple):
    """What the fold command knows of its input before the torch import: the record that folds first
    (--order) and how many records there are."""

    first_index: int
    first_sequence: str  # canonical
    count: int


def input_preview(args) -> InputPreview | None:
    """The input's preview; None when the input cannot be read (pass 1 of _fold_records makes the
    checks and reports what is wrong)."""
    from ..io.fasta import read_fasta
    from ..tokenizer import normalize_sequence

    try:
        if args.sequence is not None:
            return InputPreview(0, normalize_sequence(args.sequence, args.id), 1)
        if not args.input:
            return None
        sequences = [record.sequence for record in read_fasta(args.input)]
        if not sequences:
            return None
        first = 0 if args.order != "longest" else min(range(len(sequences)),
                                                      key=lambda index: _longest_first_key(index, sequences[index]))
        return InputPreview(first, sequences[first], len(sequences))
    except Exception:  # noqa: BLE001 (bad input: the checks report it)
        return None

"""Score a predicted structure against a reference: residues matched by sequence alignment."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..geometry.vectors import kabsch_rmsd
from ..structure import Structure
from ..templates.alignment import compare_aligner
from .metrics import lddt_ca, tm_score

MIN_ALIGNED_IDENTITY = 0.9  # identical fraction of aligned pairs: below this, these are not the same protein
MIN_ALIGNED_RESIDUES = 3


class AlignmentError(ValueError):
    """Two structures whose sequences do not align well enough to compare them residue by residue."""


def align_residues(model_sequence: str, reference_sequence: str) -> tuple[np.ndarray, np.ndarray]:
    """Global alignment (BLOSUM62, affine gaps) -> indices (model [n], reference [n]) of aligned pairs."""
    alignment = compare_aligner().align(model_sequence, reference_sequence)[0]
    model_idx, ref_idx = [], []
    for (m0, m1), (r0, r1) in zip(*alignment.aligned):
        model_idx.extend(range(m0, m1))
        ref_idx.extend(range(r0, r1))
    return np.array(model_idx, dtype=np.int64), np.array(ref_idx, dtype=np.int64)


@dataclass
class Comparison:
    """Scores of a model against a reference (TM-score and GDT normalised by the reference length)."""

    tm_score: float
    gdt_ts: float
    gdt_ha: float
    lddt_ca: float
    rmsd: float  # Å, Cα after optimal superposition of all aligned residues
    aligned_length: int
    reference_length: int
    model_length: int
    sequence_identity: float  # identical fraction of aligned pairs

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def compare(model: Structure, reference: Structure) -> Comparison:
    """Align sequences, then score Cα coordinates of the aligned residues."""
    if len(model) == len(reference) and model.sequence == reference.sequence:
        model_idx = ref_idx = np.arange(len(model))
    else:
        model_idx, ref_idx = align_residues(model.sequence, reference.sequence)
    identical = sum(model.sequence[i] == reference.sequence[j] for i, j in zip(model_idx, ref_idx))
    identity = identical / max(1, len(model_idx))
    if len(model_idx) < MIN_ALIGNED_RESIDUES or identity < MIN_ALIGNED_IDENTITY:
        raise AlignmentError(
            f"the sequences do not align: {len(model_idx)} aligned residues at {identity:.0%} identity "
            f"(need >= {MIN_ALIGNED_RESIDUES} at >= {MIN_ALIGNED_IDENTITY:.0%}); are these the same protein?")
    model_ca, ref_ca = model.ca[model_idx], reference.ca[ref_idx]
    tm = tm_score(model_ca, ref_ca, norm_length=len(reference))
    return Comparison(
        tm_score=float(tm.tm_score), gdt_ts=float(tm.gdt_ts), gdt_ha=float(tm.gdt_ha),
        lddt_ca=float(lddt_ca(model_ca, ref_ca)), rmsd=float(kabsch_rmsd(model_ca, ref_ca)),
        aligned_length=int(len(model_idx)), reference_length=len(reference), model_length=len(model),
        sequence_identity=float(identity))


def format_comparison(comparison: Comparison, model_name: str, reference_name: str) -> str:
    c = comparison
    return "\n".join([
        f"model:      {model_name} ({c.model_length} residues)",
        f"reference:  {reference_name} ({c.reference_length} residues)",
        f"aligned:    {c.aligned_length} residues, {c.sequence_identity:.1%} identical",
        f"TM-score:   {c.tm_score:.4f}  (normalised by the reference length)",
        f"GDT_TS:     {c.gdt_ts:.4f}",
        f"GDT_HA:     {c.gdt_ha:.4f}",
        f"lDDT-Cα:    {c.lddt_ca:.4f}",
        f"RMSD:       {c.rmsd:.3f} Å (Cα, aligned residues)",
    ])

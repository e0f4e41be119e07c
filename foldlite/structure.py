"""The Structure dataclass: what foldlite predicts, reads and writes. numpy only, no torch."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BACKBONE_ATOMS = ("N", "CA", "C", "O", "CB")  # atom order along axis 1 of Structure.coords


@dataclass
class AtomSite:
    """Every atom of a full-atom model (side chains, hydrogens, OXT), in file order.

    residue: int [N], the atom's residue as an index into the sequence (0-based, non-decreasing)
    name:    str [N], PDB atom name ("CA", "HG21", ...)
    element: str [N], element symbol ("C", "H", ...)
    coords:  float [N, 3] Å
    """

    residue: np.ndarray
    name: np.ndarray
    element: np.ndarray
    coords: np.ndarray

    def __post_init__(self):
        self.residue = np.asarray(self.residue, dtype=np.int64)
        self.name = np.asarray(self.name, dtype="<U4")
        self.element = np.asarray(self.element, dtype="<U2")
        self.coords = np.asarray(self.coords, dtype=np.float64)
        count = len(self.residue)
        if self.name.shape != (count,) or self.element.shape != (count,) or self.coords.shape != (count, 3):
            raise ValueError(f"AtomSite arrays disagree: residue {self.residue.shape}, name {self.name.shape}, "
                             f"element {self.element.shape}, coords {self.coords.shape}")
        if count and np.any(np.diff(self.residue) < 0):
            raise ValueError("AtomSite atoms must be ordered by residue")


@dataclass
class Structure:
    """One protein chain.

    sequence:   one-letter codes, length L (canonical: ALPHABET of foldlite.tokenizer)
    coords:     float [L, 5, 3] Å, atoms in BACKBONE_ATOMS order (CB is virtual for Gly)
    confidence: float [L], per-residue pLDDT 0-100 for predictions, B-factors for files read
    chain_id:   one character
    residue_numbers: int [L], author numbering (1..L by default)
    atom_mask:  bool [L, 5], False where an atom is absent (e.g. CB of Gly read from a file)
    atoms:      every atom of a full-atom model (foldlite.relax), or None for a backbone model; coords
                keeps that model's N, CA, C, O, CB either way, and writers write `atoms` when present
    """

    sequence: str
    coords: np.ndarray
    confidence: np.ndarray | None = None
    chain_id: str = "A"
    residue_numbers: np.ndarray | None = None
    atom_mask: np.ndarray | None = None
    name: str = "foldlite"
    meta: dict = field(default_factory=dict)
    atoms: AtomSite | None = None

    def __post_init__(self):
        length = len(self.sequence)
        self.coords = np.asarray(self.coords, dtype=np.float64)
        if self.coords.shape != (length, len(BACKBONE_ATOMS), 3):
            raise ValueError(f"coords must have shape [{length}, 5, 3], got {self.coords.shape}")
        self.confidence = (np.zeros(length) if self.confidence is None
                           else np.asarray(self.confidence, dtype=np.float64))
        if self.confidence.shape != (length,):
            raise ValueError(f"confidence must have shape [{length}], got {self.confidence.shape}")
        self.residue_numbers = (np.arange(1, length + 1) if self.residue_numbers is None
                                else np.asarray(self.residue_numbers, dtype=np.int64))
        self.atom_mask = (np.ones((length, len(BACKBONE_ATOMS)), dtype=bool) if self.atom_mask is None
                          else np.asarray(self.atom_mask, dtype=bool))
        if self.atoms is not None and len(self.atoms.residue) and (
                self.atoms.residue[0] < 0 or self.atoms.residue[-1] >= length):
            raise ValueError(f"atoms refer to residues outside 0..{length - 1}")

    def __len__(self) -> int:
        return len(self.sequence)

    @property
    def ca(self) -> np.ndarray:
        """Cα coordinates [L, 3] Å."""
        return self.coords[:, 1]

    @property
    def full_atom(self) -> bool:
        """True when the model has side chains (atoms is set)."""
        return self.atoms is not None

    @property
    def cb(self) -> np.ndarray:
        """Cβ coordinates [L, 3] Å (virtual for glycine)."""
        return self.coords[:, 4]

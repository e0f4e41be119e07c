"""The Structure dataclass: what foldlite predicts, reads and writes. numpy only, no torch."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BACKBONE_ATOMS = ("N", "CA", "C", "O", "CB")  # atom order along axis 1 of Structure.coords


@dataclass
class Structure:
    """One protein chain.

    sequence:   one-letter codes, length L (canonical: ALPHABET of foldlite.tokenizer)
    coords:     float [L, 5, 3] Å, atoms in BACKBONE_ATOMS order (CB is virtual for Gly)
    confidence: float [L], per-residue pLDDT 0-100 for predictions, B-factors for files read
    chain_id:   one character
    residue_numbers: int [L], author numbering (1..L by default)
    atom_mask:  bool [L, 5], False where an atom is absent (e.g. CB of Gly read from a file)
    """

    sequence: str
    coords: np.ndarray
    confidence: np.ndarray | None = None
    chain_id: str = "A"
    residue_numbers: np.ndarray | None = None
    atom_mask: np.ndarray | None = None
    name: str = "foldlite"
    meta: dict = field(default_factory=dict)

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

    def __len__(self) -> int:
        return len(self.sequence)

    @property
    def ca(self) -> np.ndarray:
        """Cα coordinates [L, 3] Å."""
        return self.coords[:, 1]

    @property
    def cb(self) -> np.ndarray:
        """Cβ coordinates [L, 3] Å (virtual for glycine)."""
        return self.coords[:, 4]

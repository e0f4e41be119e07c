"""Step 4 of the geometry: the hand. Distances cannot tell a structure from its mirror; the Cα
virtual torsion (+50° in a right-handed α-helix) can. Keep whichever of coords / mirror the
predicted torsion distribution likes more."""
from __future__ import annotations

import numpy as np

from ..constants import TORSION_BINS, TORSION_EDGES
from .backbone import ca_virtual_torsions
from .vectors import mirror

def torsion_log_likelihood(ca: np.ndarray, ca_torsion_probs: np.ndarray) -> float:
    """Σ_i log P_i(bin of the observed Cα virtual torsion) over residues 1..L-3."""
    tau = ca_virtual_torsions(np.asarray(ca, np.float64))
    valid = ~np.isnan(tau)
    if not valid.any():
        return 0.0
    bins = np.clip(np.searchsorted(TORSION_EDGES, tau[valid], side="right") - 1, 0, TORSION_BINS - 1)
    probs = np.asarray(ca_torsion_probs, np.float64)[valid, bins]
    return float(np.sum(np.log(np.maximum(probs, 1e-9))))


def prefers_mirror(ca: np.ndarray, ca_torsion_probs: np.ndarray) -> bool:
    """Whether the mirror image of ca [L, 3] has the more likely Cα torsions (ties keep ca)."""
    return torsion_log_likelihood(mirror(ca), ca_torsion_probs) > torsion_log_likelihood(ca, ca_torsion_probs)


def choose_hand(coords: np.ndarray, ca_torsion_probs: np.ndarray) -> np.ndarray:
    """Return coords [L, 3] or its mirror image, whichever has the more likely Cα torsions.
    Mirroring negates every torsion; ties keep the input."""
    coords = np.asarray(coords, np.float64)
    return mirror(coords) if prefers_mirror(coords, ca_torsion_probs) else coords

"""Shared numeric conventions: distance bins, angle bins, ideal geometry. Units are Å and radians."""
from __future__ import annotations

import numpy as np

# Cβ–Cβ distogram: 64 bins of 0.3125 Å between 2 and 22 Å, plus one overflow class (> 22 Å).
# Distances below 2 Å (never seen in real chains) fall into the first bin.
DISTOGRAM_MIN = 2.0
DISTOGRAM_MAX = 22.0
DISTOGRAM_BINS = 64
NUM_DISTOGRAM_CLASSES = DISTOGRAM_BINS + 1
DISTOGRAM_EDGES = np.linspace(DISTOGRAM_MIN, DISTOGRAM_MAX, DISTOGRAM_BINS + 1)  # [65] Å
DISTOGRAM_CENTERS = 0.5 * (DISTOGRAM_EDGES[:-1] + DISTOGRAM_EDGES[1:])  # [64] Å
# One number for the overflow class where a single distance is needed (expected distances, the MDS
# start): 25 Å, a little beyond the 22 Å edge, so "far" pairs are pushed apart rather than held at
# the edge. Plots instead clip the colour scale at DISTOGRAM_MAX (display only).
FAR_DISTANCE = 25.0
CONTACT_CUTOFF = 8.0  # Å, Cβ–Cβ
LDDT_THRESHOLDS = (0.5, 1.0, 2.0, 4.0)  # Å, lDDT's distance-error thresholds (metric and confidence)
LONG_RANGE_SEPARATION = 24  # |i - j| >= 24 residues

# Torsion heads: 36 bins of 10° over [-180°, 180°).
TORSION_BINS = 36
TORSION_EDGES = np.linspace(-np.pi, np.pi, TORSION_BINS + 1)
TORSION_CENTERS = 0.5 * (TORSION_EDGES[:-1] + TORSION_EDGES[1:])

# Sequence identity at and above which a hit is a copy of the query, not a template: benchmarks
# exclude such hits, and training never uses them as templates.
COPY_IDENTITY = 0.95

# 3-state secondary structure from DSSP's 8 states.
SS3_ALPHABET = "HEC"  # helix, strand, coil
DSSP_TO_SS3 = {"H": "H", "G": "H", "I": "H", "E": "E", "B": "E"}  # anything else -> C

# Ideal backbone geometry (Engh & Huber), Å and degrees.
CA_CA_DISTANCE = 3.80
N_CA_LENGTH = 1.458
CA_C_LENGTH = 1.525
C_N_LENGTH = 1.329
C_O_LENGTH = 1.231
CA_CB_LENGTH = 1.522
# A longer Cα–Cα step is a chain break (unobserved residues); as in the training-set README.
CHAIN_BREAK_CA_CA = 4.2


def distance_to_class(distance: np.ndarray) -> np.ndarray:
    """Distances in Å -> distogram class in [0, 64]; 64 means > 22 Å."""
    idx = np.searchsorted(DISTOGRAM_EDGES, distance, side="right") - 1
    return np.clip(idx, 0, DISTOGRAM_BINS).astype(np.int64)


def angle_to_bin(angle: np.ndarray) -> np.ndarray:
    """Angles in radians (any range) -> torsion bin in [0, 35]."""
    wrapped = (angle + np.pi) % (2 * np.pi)
    return np.clip((wrapped / (2 * np.pi) * TORSION_BINS).astype(np.int64), 0, TORSION_BINS - 1)


def dssp_to_ss3(dssp_codes: np.ndarray) -> np.ndarray:
    """DSSP 8-state ASCII codes (uint8 [L]) -> SS3 class indices [L] (0 H, 1 E, 2 C)."""
    table = np.full(256, 2, dtype=np.int64)
    for code, state in DSSP_TO_SS3.items():
        table[ord(code)] = SS3_ALPHABET.index(state)
    return table[np.asarray(dssp_codes, dtype=np.uint8)]

# Distogram classes whose upper edge is <= 8 Å: P(contact) = sum of these probabilities.
CONTACT_CLASSES = int(np.searchsorted(DISTOGRAM_EDGES, CONTACT_CUTOFF, side="right") - 1)

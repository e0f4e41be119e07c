"""Backbone geometry helpers shared by data, geometry and I/O (numpy only)."""
from __future__ import annotations

import numpy as np


def ideal_cb(n: np.ndarray, ca: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Virtual Cβ from N, CA, C ([..., 3] Å) with ideal tetrahedral geometry.

    Uses the widely used constants fitted to real structures (trRosetta / Engh-Huber geometry);
    glycine gets the same virtual Cβ.
    """
    b = ca - n
    c_vec = c - ca
    a = np.cross(b, c_vec)
    return -0.58273431 * a + 0.56802827 * b - 0.54067466 * c_vec + ca


def dihedral(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray) -> np.ndarray:
    """Dihedral angle (radians, in (-pi, pi]) of four points [..., 3]."""
    b0 = p0 - p1
    b1 = p2 - p1
    b2 = p3 - p2
    b1n = b1 / np.maximum(np.linalg.norm(b1, axis=-1, keepdims=True), 1e-8)
    v = b0 - np.sum(b0 * b1n, axis=-1, keepdims=True) * b1n
    w = b2 - np.sum(b2 * b1n, axis=-1, keepdims=True) * b1n
    x = np.sum(v * w, axis=-1)
    y = np.sum(np.cross(b1n, v) * w, axis=-1)
    return np.arctan2(y, x)


def backbone_torsions(n: np.ndarray, ca: np.ndarray, c: np.ndarray):
    """phi, psi [L] (radians; NaN where undefined at the chain ends)."""
    length = len(ca)
    phi = np.full(length, np.nan)
    psi = np.full(length, np.nan)
    if length > 1:
        phi[1:] = dihedral(c[:-1], n[1:], ca[1:], c[1:])
        psi[:-1] = dihedral(n[:-1], ca[:-1], c[:-1], n[1:])
    return phi, psi


def ca_virtual_torsions(ca: np.ndarray) -> np.ndarray:
    """Cα virtual torsion for residue i: dihedral(CA[i-1], CA[i], CA[i+1], CA[i+2]) [L], NaN at ends.

    Chiral: an α-helix gives about +50°, a mirrored helix -50°. The geometry module uses it to pick
    the hand of a structure built from distances.
    """
    length = len(ca)
    out = np.full(length, np.nan)
    if length >= 4:
        out[1:-2] = dihedral(ca[:-3], ca[1:-2], ca[2:-1], ca[3:])
    return out

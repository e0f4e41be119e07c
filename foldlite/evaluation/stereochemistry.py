"""Model quality without a reference: clashes, Ramachandran outliers, backbone bond/angle outliers.

numpy only, Å and degrees. Used to measure what relaxation does (tools/measure_relax.py) and to test it.

- Clashes (MolProbity's definition on heavy atoms): two heavy atoms more than three covalent bonds
  apart whose van der Waals spheres overlap by >= 0.4 Å. Radii are probe's (C 1.70, N 1.55, O 1.40,
  S 1.80 Å), which let ordinary N/O hydrogen bonds (>= 2.6 Å) pass. Bonds are found by distance within
  a residue (< 1.2 x the covalent radii sum), plus every peptide C(i)-N(i+1) and S-S pairs < 2.5 Å.
  Reported per 1,000 heavy atoms (MolProbity's clashscore counts hydrogens too, so its numbers run
  lower for the same structure).
- Ramachandran outliers: (φ, ψ) in the lowest-density 0.05 % of the train split's backbones, per
  residue class (general, Gly, Pro, pre-Pro), from the shipped table foldlite/weights/ramachandran.npz
  (tools/make_ramachandran.py). The first and last residue have no (φ, ψ) and are not counted.
- Bond-length and angle outliers: backbone and Cβ only (N, CA, C, O, CB; the atoms every foldlite
  model has, relaxed or not), more than 4 σ from Engh & Huber (2001) ideal values, as MolProbity flags.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ..geometry.backbone import backbone_torsions

VDW_RADIUS = {"C": 1.70, "N": 1.55, "O": 1.40, "S": 1.80}  # Å, probe's heavy-atom radii
COVALENT_RADIUS = {"C": 0.76, "N": 0.71, "O": 0.66, "S": 1.05}  # Å
CLASH_OVERLAP = 0.4  # Å
OUTLIER_SIGMA = 4.0

# Engh & Huber (2001): (atoms, ideal, sigma); bonds in Å, angles in degrees; "+" marks the next residue.
BONDS = ((("N", "CA"), 1.459, 0.020), (("CA", "C"), 1.525, 0.026), (("C", "O"), 1.229, 0.019),
         (("CA", "CB"), 1.530, 0.020), (("C", "+N"), 1.336, 0.023))
ANGLES = ((("N", "CA", "C"), 111.0, 2.7), (("CA", "C", "O"), 120.1, 2.1), (("N", "CA", "CB"), 110.6, 1.8),
          (("C", "CA", "CB"), 110.4, 2.0), (("CA", "C", "+N"), 117.2, 2.2), (("O", "C", "+N"), 122.7, 1.6),
          (("C", "+N", "+CA"), 121.7, 2.5))
RAMA_CLASSES = ("general", "glycine", "proline", "pre-proline")


@dataclass
class Atoms:
    """Heavy atoms of one chain. residue int [N], name str [N], element str [N], coords float [N, 3] Å."""

    residue: np.ndarray
    name: np.ndarray
    element: np.ndarray
    coords: np.ndarray


def heavy_atoms(structure) -> Atoms:
    """The heavy atoms of a foldlite Structure: every atom of a full-atom model (structure.atoms),
    else the backbone N, CA, C, O and CB (not Gly's virtual CB; not atoms masked absent)."""
    atoms = getattr(structure, "atoms", None)
    if atoms is not None:
        keep = atoms.element != "H"
        return Atoms(atoms.residue[keep], atoms.name[keep], atoms.element[keep], atoms.coords[keep])
    names = np.array(["N", "CA", "C", "O", "CB"])
    mask = structure.atom_mask.copy()  # [L, 5]
    mask[:, 4] &= np.array([aa != "G" for aa in structure.sequence])
    residue = np.nonzero(mask)[0]
    name = np.broadcast_to(names, mask.shape)[mask]
    return Atoms(residue, name, np.array([n[0] for n in name]), structure.coords[mask])


def _covalent_bonds(atoms: Atoms) -> list[set]:
    """Neighbour sets [N] of the covalent bond graph (see the module docstring)."""
    count = len(atoms.residue)
    neighbours = [set() for _ in range(count)]
    radius = np.array([COVALENT_RADIUS.get(e, 0.76) for e in atoms.element])  # [N] Å
    for residue in np.unique(atoms.residue):
        index = np.flatnonzero(atoms.residue == residue)  # atoms of this residue
        xyz = atoms.coords[index]
        dist = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)  # [n, n] Å
        bonded = dist < 1.2 * (radius[index][:, None] + radius[index][None])
        for a, b in zip(*np.nonzero(np.triu(bonded, 1))):
            neighbours[index[a]].add(index[b])
            neighbours[index[b]].add(index[a])
    lookup = {(int(r), str(n)): k for k, (r, n) in enumerate(zip(atoms.residue, atoms.name))}
    for (residue, name), k in lookup.items():
        if name == "C" and (residue + 1, "N") in lookup:
            other = lookup[(residue + 1, "N")]
            neighbours[k].add(other)
            neighbours[other].add(k)
    sulphur = np.flatnonzero(atoms.element == "S")
    for a in sulphur:
        for b in sulphur:
            if a < b and atoms.residue[a] != atoms.residue[b] and np.linalg.norm(atoms.coords[a] - atoms.coords[b]) < 2.5:
                neighbours[a].add(b)
                neighbours[b].add(a)
    return neighbours


def _within_three_bonds(neighbours: list[set], atom: int) -> set:
    seen = {atom}
    frontier = {atom}
    for _ in range(3):
        frontier = {n for a in frontier for n in neighbours[a]} - seen
        seen |= frontier
    return seen


def clash_pairs(atoms: Atoms, chunk: int = 1024) -> list[tuple[int, int, float]]:
    """Heavy-atom pairs (a, b, overlap Å) with a < b, more than three bonds apart, overlapping >= 0.4 Å."""
    radius = np.array([VDW_RADIUS.get(e, 1.70) for e in atoms.element])  # [N] Å
    limit = 2 * max(VDW_RADIUS.values()) - CLASH_OVERLAP
    neighbours = _covalent_bonds(atoms)
    pairs = []
    for start in range(0, len(radius), chunk):
        rows = np.arange(start, min(start + chunk, len(radius)))
        dist = np.linalg.norm(atoms.coords[rows, None] - atoms.coords[None], axis=-1)  # [R, N] Å
        close = (dist < limit) & (np.arange(len(radius))[None] > rows[:, None])
        for r, b in zip(*np.nonzero(close)):
            a = rows[r]
            overlap = radius[a] + radius[b] - dist[r, b]
            if overlap >= CLASH_OVERLAP and b not in _within_three_bonds(neighbours, a):
                pairs.append((int(a), int(b), float(overlap)))
    return pairs


def clashes_per_1000(atoms: Atoms) -> float:
    return 1000.0 * len(clash_pairs(atoms)) / max(len(atoms.residue), 1)


def _backbone_array(structure) -> np.ndarray:
    """[L, 5, 3] Å N, CA, C, O, CB (NaN where absent, and for Gly, whose CB is virtual)."""
    coords = np.array(structure.coords, dtype=np.float64)
    coords[~structure.atom_mask] = np.nan
    coords[np.array([aa == "G" for aa in structure.sequence]), 4] = np.nan
    return coords


def _atom(coords: np.ndarray, name: str) -> np.ndarray:
    """Positions of `name` [L, 3]; '+N' is the next residue's N ([L - 1, 3], from residue 1 on)."""
    index = ("N", "CA", "C", "O", "CB").index(name.lstrip("+"))
    return coords[1:, index] if name.startswith("+") else coords[:, index]


def _angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle a-b-c in degrees; a, b, c [M, 3] Å."""
    u, v = a - b, c - b
    cosine = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def geometry_outliers(structure) -> tuple[int, int, int, int]:
    """(bond outliers, bonds checked, angle outliers, angles checked) over the backbone and Cβ."""
    coords = _backbone_array(structure)
    counts = [0, 0, 0, 0]
    for names, ideal, sigma in BONDS:
        size = len(coords) - 1 if any(n.startswith("+") for n in names) else len(coords)
        a, b = (_atom(coords, n)[:size] for n in names)
        length = np.linalg.norm(a - b, axis=-1)  # [size] Å
        length = length[np.isfinite(length)]
        counts[0] += int((np.abs(length - ideal) > OUTLIER_SIGMA * sigma).sum())
        counts[1] += len(length)
    for names, ideal, sigma in ANGLES:
        size = len(coords) - 1 if any(n.startswith("+") for n in names) else len(coords)
        a, b, c = (_atom(coords, n)[:size] for n in names)
        angle = _angle(a, b, c)
        angle = angle[np.isfinite(angle)]
        counts[2] += int((np.abs(angle - ideal) > OUTLIER_SIGMA * sigma).sum())
        counts[3] += len(angle)
    return tuple(counts)


@lru_cache(maxsize=1)
def ramachandran_table() -> dict:
    """The shipped reference: density [4, B, B] over (φ, ψ) bins of [-180, 180)°, threshold [4]."""
    path = resources.files("foldlite") / "weights" / "ramachandran.npz"
    with resources.as_file(path) as real, np.load(real) as data:
        return {key: data[key] for key in data.files}


def ramachandran_classes(sequence: str) -> np.ndarray:
    """int [L]: 0 general, 1 Gly, 2 Pro, 3 pre-Pro (residue before a Pro; Gly and Pro keep their own)."""
    classes = np.zeros(len(sequence), dtype=np.int64)
    for i, aa in enumerate(sequence):
        if aa == "G":
            classes[i] = 1
        elif aa == "P":
            classes[i] = 2
        elif i + 1 < len(sequence) and sequence[i + 1] == "P":
            classes[i] = 3
    return classes


def _bin(angle: np.ndarray, bins: int) -> np.ndarray:
    return np.clip(((angle + 180.0) / 360.0 * bins).astype(np.int64), 0, bins - 1)


def ramachandran_outliers(structure) -> tuple[int, int]:
    """(outliers, residues with both φ and ψ) against the shipped reference."""
    table = ramachandran_table()
    density, threshold = table["density"], table["threshold"]
    phi, psi = np.degrees(backbone_torsions(structure.coords[:, 0], structure.coords[:, 1], structure.coords[:, 2]))
    classes = ramachandran_classes(structure.sequence)
    keep = np.isfinite(phi) & np.isfinite(psi)
    bins = density.shape[-1]
    values = density[classes[keep], _bin(phi[keep], bins), _bin(psi[keep], bins)]
    return int((values < threshold[classes[keep]]).sum()), int(keep.sum())


@dataclass
class Quality:
    clashes_per_1000: float
    heavy_atoms: int
    rama_outlier_pct: float
    bond_outliers: int
    bonds: int
    angle_outliers: int
    angles: int

    def to_dict(self) -> dict:
        return asdict(self)


def quality(structure) -> Quality:
    """All of the above for one Structure (backbone-only or full-atom)."""
    atoms = heavy_atoms(structure)
    rama, residues = ramachandran_outliers(structure)
    bond_bad, bonds, angle_bad, angles = geometry_outliers(structure)
    return Quality(clashes_per_1000(atoms), len(atoms.residue), 100.0 * rama / max(residues, 1),
                   bond_bad, bonds, angle_bad, angles)

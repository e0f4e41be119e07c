"""Reference-free model quality: clashes, Ramachandran outliers, bond/angle outliers."""
from __future__ import annotations

import numpy as np
import pytest

from foldlite.evaluation.stereochemistry import (Atoms, clash_pairs, geometry_outliers, heavy_atoms, quality,
                                      ramachandran_classes, ramachandran_outliers)
from foldlite.structure import Structure


@pytest.fixture(scope="module")
def native(chainset) -> Structure:
    """A real chain (experimental N, CA, C, O; ideal Cβ) from the sample set."""
    chain = chainset.chain(0)
    coords = np.concatenate([chain.backbone, chain.cb[:, None]], axis=1)  # [L, 5, 3] Å
    return Structure(sequence=chain.sequence, coords=coords)


def test_native_backbone_is_mostly_allowed_and_its_mirror_is_not(native):
    outliers, counted = ramachandran_outliers(native)
    assert counted == len(native) - 2
    assert outliers / counted < 0.02
    mirror = Structure(sequence=native.sequence, coords=native.coords * np.array([-1.0, 1.0, 1.0]))
    mirrored_outliers, _ = ramachandran_outliers(mirror)
    assert mirrored_outliers / counted > 0.2  # left-handed helices and mirrored strands


def test_ramachandran_classes():
    assert ramachandran_classes("AGPAPG").tolist() == [0, 1, 2, 3, 2, 1]  # A before G stays general


def test_stretched_bond_and_bent_angle_are_outliers(native):
    bonds_bad, bonds, angles_bad, angles = geometry_outliers(native)
    coords = native.coords.copy()
    k = 10
    direction = coords[k, 1] - coords[k, 0]
    coords[k, 0] -= 0.3 * direction / np.linalg.norm(direction)  # N-CA 0.3 Å longer (15 sigma)
    stretched = geometry_outliers(Structure(sequence=native.sequence, coords=coords))
    assert stretched[0] >= bonds_bad + 1 and stretched[1] == bonds
    assert stretched[2] >= angles_bad  # moving N also bends angles at it
    assert bonds == 5 * len(native) - 1 - sum(aa == "G" for aa in native.sequence)


def test_overlapping_atoms_clash_and_bonded_ones_do_not():
    # two carbons 2.5 Å apart in different residues, far in sequence: overlap 3.4 - 2.5 = 0.9 Å
    atoms = Atoms(residue=np.array([0, 5]), name=np.array(["CD", "CD"]), element=np.array(["C", "C"]),
                  coords=np.array([[0.0, 0, 0], [2.5, 0, 0]]))
    assert len(clash_pairs(atoms)) == 1
    atoms.coords[1, 0] = 3.1  # overlap 0.3 Å: below MolProbity's 0.4 Å
    assert clash_pairs(atoms) == []
    # a bonded pair (peptide C-N of consecutive residues) never counts
    bonded = Atoms(residue=np.array([0, 1]), name=np.array(["C", "N"]), element=np.array(["C", "N"]),
                   coords=np.array([[0.0, 0, 0], [1.33, 0, 0]]))
    assert clash_pairs(bonded) == []


def test_native_backbone_has_few_clashes(native):
    result = quality(native)
    assert result.heavy_atoms == len(heavy_atoms(native).residue)
    assert result.clashes_per_1000 < 10
    assert 0 <= result.rama_outlier_pct <= 100

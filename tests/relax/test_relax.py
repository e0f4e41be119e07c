"""Full-atom models: side chains, hydrogens and restrained Amber minimisation (needs openmm + pdbfixer)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openmm")
pytest.importorskip("pdbfixer")

from foldlite.io.pdb import read_structure, write_pdb  # noqa: E402
from foldlite.relax import RelaxError, relax_structure  # noqa: E402
from foldlite.structure import Structure  # noqa: E402

# heavy atoms per residue type (side chain + N, CA, C, O)
HEAVY_ATOMS = {"G": 4, "A": 5, "S": 6, "C": 6, "V": 7, "T": 7, "P": 7, "I": 8, "L": 8, "D": 8, "N": 8,
               "E": 9, "Q": 9, "K": 9, "M": 8, "H": 10, "F": 11, "R": 11, "Y": 12, "W": 14}
SEQUENCE = "ACDEFGHIKLMNPQRSTVWY" * 2  # every amino acid, twice


@pytest.fixture(scope="module")
def backbone(chainset) -> Structure:
    """40 residues of a real backbone (sample set) carrying all 20 amino acids, pLDDT 0..97.5."""
    chain = next(chainset.chain(i) for i in range(len(chainset)) if len(chainset.chain(i).sequence) >= 60)
    coords = np.concatenate([chain.backbone, chain.cb[:, None]], axis=1)[10:50]  # [40, 5, 3] Å
    return Structure(sequence=SEQUENCE, coords=coords, confidence=np.arange(40) * 2.5, name="all20")


@pytest.fixture(scope="module")
def relaxed(backbone):
    return relax_structure(backbone, threads=1)


def test_every_amino_acid_gets_its_side_chain_and_hydrogens(relaxed):
    atoms = relaxed.structure.atoms
    assert relaxed.structure.full_atom
    for i, aa in enumerate(SEQUENCE):
        names = set(atoms.name[(atoms.residue == i) & (atoms.element != "H")])
        expected = HEAVY_ATOMS[aa] + (1 if i == len(SEQUENCE) - 1 else 0)  # + OXT at the C terminus
        assert len(names) == expected, (i, aa, sorted(names))
        assert np.any((atoms.residue == i) & (atoms.element == "H")), (i, aa)
    assert "OXT" in set(atoms.name[atoms.residue == len(SEQUENCE) - 1])
    assert {"SG"} <= set(atoms.name[atoms.residue == 1]) and {"NE1", "CH2"} <= set(atoms.name[atoms.residue == 18])


def test_restraints_keep_the_backbone_and_nothing_is_nan(backbone, relaxed):
    moved = relaxed.structure.coords[:, :4] - backbone.coords[:, :4]  # N, CA, C, O [40, 4, 3] Å
    assert np.sqrt((moved ** 2).sum(-1).mean()) < 0.5
    assert relaxed.info["restrained_rmsd"] < 0.5
    assert np.all(np.isfinite(relaxed.structure.atoms.coords))
    assert relaxed.info["energy_end_kcal"] < relaxed.info["energy_start_kcal"]


def test_full_atom_pdb_keeps_plddt_on_every_atom_and_reads_back(backbone, relaxed):
    text = write_pdb(relaxed.structure)
    lines = [line for line in text.splitlines() if line.startswith("ATOM")]
    assert len(lines) == len(relaxed.structure.atoms.residue)
    assert all(len(line) == 80 for line in text.splitlines())
    for line in lines:
        residue = int(line[22:26]) - 1
        assert float(line[60:66]) == pytest.approx(backbone.confidence[residue], abs=0.005)
    hydrogen = next(line for line in lines if line[76:78].strip() == "H")
    assert hydrogen[12:16].strip().startswith("H")


@pytest.mark.parametrize("suffix", ["pdb", "cif"])
def test_full_atom_model_reads_back_as_the_same_backbone(tmp_path, relaxed, suffix):
    from foldlite.io.pdb import write_cif

    path = tmp_path / f"relaxed.{suffix}"
    path.write_text(write_pdb(relaxed.structure) if suffix == "pdb" else write_cif(relaxed.structure))
    back = read_structure(path)
    assert back.sequence == SEQUENCE
    np.testing.assert_allclose(back.coords[:, :4], relaxed.structure.coords[:, :4], atol=1e-3)
    if suffix == "cif":
        assert path.read_text().count("\nATOM ") == len(relaxed.structure.atoms.residue)


def test_unknown_residue_fails_with_a_reason(backbone):
    odd = Structure(sequence="X" + SEQUENCE[1:], coords=backbone.coords)
    with pytest.raises(RelaxError, match="unknown residues"):
        relax_structure(odd)

"""Regenerate the real-structure fixtures in this folder from the training-set file.

    python tests/data/make_fixtures.py /work/shared/data/pdb_chains.npz

Takes three small chains from the valid/test splits, rebuilds absolute coordinates
(center + xyz / 100), adds an ideal CB for non-glycine residues and writes them with Bio.PDB's
own writers (PDBIO / MMCIFIO), so the tests read files that foldlite did not write.
B-factors are synthetic (see README): the training set stores none.
Not run by the tests; the tests only read the files it wrote.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from Bio.PDB import MMCIFIO, PDBIO
from Bio.PDB.StructureBuilder import StructureBuilder

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from foldlite.backbone import ideal_cb  # noqa: E402
from foldlite.pdbio import ONE_TO_THREE  # noqa: E402

HERE = Path(__file__).resolve().parent
# name in the npz -> output file (two PDB, one mmCIF)
CHAINS = {"1AHO_A": "1AHO_A.pdb", "1F32_A": "1F32_A.pdb", "1B0X_A": "1B0X_A.cif"}


def synthetic_bfactor(i: int) -> float:
    return 20.0 + (i * 7) % 60 + 0.25


def main(npz_path: str) -> None:
    data = np.load(npz_path)
    names = list(data["name"])
    lengths = data["length"]
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for npz_name, file_name in CHAINS.items():
        index = names.index(npz_name)
        assert data["split"][index] in (1, 2), "fixtures must come from valid/test only"
        rows = slice(offsets[index], offsets[index] + lengths[index])
        seq = bytes(data["seq"][rows]).decode("ascii")
        xyz = data["center"][index].astype(np.float64) + data["xyz"][rows].astype(np.float64) / 100
        cb = ideal_cb(xyz[:, 0], xyz[:, 1], xyz[:, 2])
        start = int(data["pdb_start_resnum"][index])

        builder = StructureBuilder()
        builder.init_structure(npz_name[:4])
        builder.init_model(0)
        builder.init_chain(npz_name[-1])
        builder.init_seg("    ")
        for i, letter in enumerate(seq):
            builder.init_residue(ONE_TO_THREE[letter], " ", start + i, " ")
            atoms = [("N", xyz[i, 0]), ("CA", xyz[i, 1]), ("C", xyz[i, 2]), ("O", xyz[i, 3])]
            if letter != "G":
                atoms.append(("CB", cb[i]))
            for atom_name, coord in atoms:
                builder.init_atom(atom_name, np.round(coord, 3), synthetic_bfactor(i), 1.0, " ",
                                  f" {atom_name:<3}", element=atom_name[0])
        writer = MMCIFIO() if file_name.endswith(".cif") else PDBIO()
        writer.set_structure(builder.get_structure())
        writer.save(str(HERE / file_name))
        dssp = bytes(data["dssp"][rows]).decode("ascii")
        (HERE / f"{npz_name}.dssp").write_text(dssp + "\n")
        print(f"{npz_name}: {len(seq)} residues, split {data['split'][index]} -> {file_name}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/pdb_chains.npz")

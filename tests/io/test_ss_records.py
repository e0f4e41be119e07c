"""Predicted secondary structure in the written files: PDB HELIX/SHEET and mmCIF _struct_conf.

Biopython reads the atoms back; the records are read by their documented columns (PDB v3.3) and
through Biopython's MMCIF2Dict, and every residue they name must be a residue Biopython read, with
the same name. The string rebuilt from the records must equal the secondary structure written.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from Bio.PDB import MMCIFParser, PDBParser
from Bio.PDB.MMCIF2Dict import MMCIF2Dict

import foldlite
from foldlite.io.pdb import ss_segments, write_cif, write_pdb
from foldlite.structure import Structure

DATA = Path(__file__).resolve().parents[1] / "fixtures"
SS_CASES = [
    "CCHHHHHHHHCCCEEEEECCCEEEEECCCC",  # helix, two strands
    "HHHHHHHHHHHHHHHHHHHHHHHHHHHHHH",  # one helix end to end
    "ECHCEECHHCCCCCCCCCCCCCCCCCCCCE",  # one-residue segments, at both ends too
    "C" * 30,                          # nothing to record
]


def structure_30(numbers=None, icodes=None) -> Structure:
    from foldlite.io.pdb import read_structure

    base = read_structure(DATA / "1AHO_A.pdb")
    meta = {"insertion_codes": icodes} if icodes else {}
    return Structure(sequence=base.sequence[:30], coords=base.coords[:30], confidence=np.full(30, 80.0),
                     residue_numbers=numbers, name="ss", meta=meta)


def residues_read_by_biopython(path: Path, parser) -> dict:
    """(chain, number, insertion code) -> residue name, for every residue Biopython reads."""
    model = next(iter(parser.get_structure("x", str(path))))
    return {(chain.id, residue.id[1], residue.id[2].strip()): residue.get_resname()
            for chain in model for residue in chain}


def pdb_ss_from_records(text: str, residues: dict) -> str:
    """Rebuild the H/E/C string from HELIX and SHEET records, reading the PDB v3.3 columns."""
    keys = list(residues)
    ss = ["C"] * len(keys)
    for line in text.splitlines():
        if line.startswith("HELIX "):
            state, start, end = "H", (line[15:18], line[19], line[21:25], line[25]), \
                (line[27:30], line[31], line[33:37], line[37])
            assert int(line[71:76]) == keys.index(_key(end)) - keys.index(_key(start)) + 1  # length
        elif line.startswith("SHEET "):
            state, start, end = "E", (line[17:20], line[21], line[22:26], line[26]), \
                (line[28:31], line[32], line[33:37], line[37])
        else:
            continue
        for end_point in (start, end):  # each named residue is one Biopython read, same name
            assert residues[_key(end_point)] == end_point[0]
        for index in range(keys.index(_key(start)), keys.index(_key(end)) + 1):
            assert ss[index] == "C", "segments overlap"
            ss[index] = state
    return "".join(ss)


def _key(end_point):
    _, chain, number, icode = end_point
    return chain, int(number), icode.strip()


def cif_ss_from_records(path: Path, residues: dict) -> str:
    """Rebuild the H/E/C string from _struct_conf as Biopython's MMCIF2Dict reads it."""
    table = MMCIF2Dict(str(path))
    keys = list(residues)
    ss = ["C"] * len(keys)
    if "_struct_conf.conf_type_id" not in table:
        return "".join(ss)
    columns = ("conf_type_id", "beg_auth_asym_id", "beg_auth_seq_id", "pdbx_beg_PDB_ins_code",
               "end_auth_asym_id", "end_auth_seq_id", "pdbx_end_PDB_ins_code", "beg_auth_comp_id",
               "end_auth_comp_id", "beg_label_seq_id", "end_label_seq_id")
    rows = zip(*(table[f"_struct_conf.{c}"] for c in columns))
    for kind, chain, first, icode1, chain2, last, icode2, name1, name2, label1, label2 in rows:
        start = (chain, int(first), "" if icode1 == "?" else icode1)
        end = (chain2, int(last), "" if icode2 == "?" else icode2)
        assert residues[start] == name1 and residues[end] == name2
        i, j = keys.index(start), keys.index(end)
        assert (int(label1), int(label2)) == (i + 1, j + 1)  # label numbering: 1..L in file order
        for index in range(i, j + 1):
            assert ss[index] == "C", "segments overlap"
            ss[index] = {"HELX_P": "H", "STRN": "E"}[kind]
    # the strands are also in _struct_sheet_range, where most viewers look for them
    strands = [(int(a), int(b)) for a, b in zip(table.get("_struct_sheet_range.beg_label_seq_id", []),
                                                  table.get("_struct_sheet_range.end_label_seq_id", []))]
    assert strands == [(i + 1, j + 1) for state, i, j in ss_segments("".join(ss)) if state == "E"]
    return "".join(ss)


@pytest.mark.parametrize("ss", SS_CASES)
@pytest.mark.parametrize("numbering", ["default", "offset+icodes"])
def test_records_round_trip_through_biopython(ss, numbering, tmp_path):
    if numbering == "default":
        structure = structure_30()
    else:
        # 100..109, 109A, 109B, 110..127: insertion codes, also inside segments
        numbers = np.concatenate([np.arange(100, 110), [109, 109], np.arange(110, 128)])
        icodes = [""] * 10 + ["A", "B"] + [""] * 18
        structure = structure_30(numbers=numbers, icodes=icodes)
    pdb, cif = tmp_path / "s.pdb", tmp_path / "s.cif"
    pdb.write_text(write_pdb(structure, secondary_structure=ss))
    cif.write_text(write_cif(structure, secondary_structure=ss))
    residues = residues_read_by_biopython(pdb, PDBParser(QUIET=True))
    assert len(residues) == 30
    assert pdb_ss_from_records(pdb.read_text(), residues) == ss
    assert all(len(line) == 80 for line in pdb.read_text().splitlines())
    residues = residues_read_by_biopython(cif, MMCIFParser(QUIET=True))
    assert cif_ss_from_records(cif, residues) == ss


def test_without_secondary_structure_the_files_are_unchanged():
    structure = structure_30()
    assert write_pdb(structure) == write_pdb(structure, secondary_structure=None)
    assert not [line for line in write_pdb(structure).splitlines() if line.startswith(("HELIX", "SHEET"))]
    assert "_struct_conf" not in write_cif(structure)
    # with records, the atom lines stay exactly as they were
    with_ss = write_pdb(structure, secondary_structure=SS_CASES[0])
    assert [line for line in with_ss.splitlines() if not line.startswith(("HELIX", "SHEET"))] == \
        write_pdb(structure).splitlines()


def test_bad_secondary_structure_is_refused():
    with pytest.raises(ValueError, match="H/E/C per residue"):
        write_pdb(structure_30(), secondary_structure="H" * 29)
    with pytest.raises(ValueError, match="H/E/C per residue"):
        write_cif(structure_30(), secondary_structure="X" * 30)


def test_prediction_files_carry_its_secondary_structure(tiny_weights, tmp_path):
    model = foldlite.load_model(tiny_weights)
    prediction = foldlite.fold("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", model=model, templates=None)
    # an untrained model's states are arbitrary: set a pattern with every kind of segment
    pattern = "CHHHHHHHCCEEEECCEEEECCHCECCHHHH"[:len(prediction.sequence)].ljust(len(prediction.sequence), "C")
    probs = np.eye(3)[["HEC".index(s) for s in pattern]]  # [L, 3]
    prediction = dataclasses.replace(prediction, ss3_probs=probs)
    assert prediction.secondary_structure == pattern
    paths = prediction.save(tmp_path / "pdb", plots=False)
    residues = residues_read_by_biopython(paths["structure"], PDBParser(QUIET=True))
    assert pdb_ss_from_records(paths["structure"].read_text(), residues) == prediction.secondary_structure
    paths = prediction.save(tmp_path / "cif", fmt="cif", plots=False)
    residues = residues_read_by_biopython(paths["structure"], MMCIFParser(QUIET=True))
    assert cif_ss_from_records(paths["structure"], residues) == prediction.secondary_structure

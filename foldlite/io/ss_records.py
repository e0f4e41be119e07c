"""Secondary-structure records for the PDB and mmCIF writers (foldlite.io.pdb).

A 3-state string (H/E/C per residue) becomes one record per run of H or E: PDB HELIX/SHEET records
(v3.3 columns), mmCIF _struct_conf (HELX_P, STRN) with the strands again in _struct_sheet_range,
where wwPDB files and most viewers look for them. Viewers then draw the predicted helices and strands
instead of their own guess from the coordinates.
"""
from __future__ import annotations

import re

from ..structure import Structure


def ss_segments(secondary_structure: str) -> list[tuple[str, int, int]]:
    """Helices and strands of a 3-state string as (state 'H' | 'E', first, last), 0-based, inclusive.

    Every run is kept, one residue long included, so the records describe the string exactly.
    """
    segments = []
    for match in re.finditer(r"H+|E+", secondary_structure):
        segments.append((match.group()[0], match.start(), match.end() - 1))
    return segments


def _check_ss(structure: Structure, secondary_structure: str) -> list[tuple[str, int, int]]:
    if len(secondary_structure) != len(structure) or set(secondary_structure) - set("HEC"):
        raise ValueError(f"{structure.name}: secondary structure must be one of H/E/C per residue "
                         f"({len(structure)} residues), got {secondary_structure!r}")
    return ss_segments(secondary_structure)


def pdb_ss_records(structure: Structure, secondary_structure: str, chain_id: str, names: list[str],
                   icodes: list[str]) -> list[str]:
    """HELIX and SHEET records (PDB v3.3 columns) for the helices and strands; `names` and `icodes`:
    each residue's three-letter name and insertion code, as the writer spells them."""
    numbers = structure.residue_numbers

    def residue(i: int) -> str:  # resName and chainID of a segment end
        return f"{names[i]:>3} {chain_id}"

    helices, strands = [], []  # PDB order: all HELIX records, then all SHEET records
    for state, first, last in _check_ss(structure, secondary_structure):
        if state == "H":
            serial = (len(helices) + 1) % 1000  # 3 columns
            # serNum 8-10, helixID 12-14, start 16-26, end 28-38, class 39-40 (1: right-handed
            # alpha; a 3-state prediction does not tell 3-10 or pi helices apart), length 72-76
            helices.append(f"HELIX  {serial:>3} {serial:>3} {residue(first)} {int(numbers[first]):>4}"
                           f"{icodes[first]:1} {residue(last)} {int(numbers[last]):>4}{icodes[last]:1}"
                           f"{1:>2}{'':30} {last - first + 1:>5}")
        else:
            serial = (len(strands) + 1) % 1000
            # The prediction says which residues are in strands, not which strands pair: each strand
            # is written as a sheet of its own (strand 1 of 1, sense 0), so no pairing is invented.
            # strand 8-10, sheetID 12-14, numStrands 15-16, start 18-27, end 29-38, sense 39-40
            strands.append(f"SHEET  {1:>3} {serial:>3}{1:>2} {residue(first)}{int(numbers[first]):>4}"
                           f"{icodes[first]:1} {residue(last)}{int(numbers[last]):>4}{icodes[last]:1}{0:>2}")
    return helices + strands


def cif_ss_loops(structure: Structure, secondary_structure: str, chain_id: str, names: list[str],
                 icodes: list[str]) -> list[str]:
    """_struct_conf (helices HELX_P, strands STRN), _struct_conf_type, and the strands again as
    _struct_sheet_range (+ _struct_sheet), where wwPDB files and most viewers look for strands."""
    segments = _check_ss(structure, secondary_structure)
    if not segments:
        return []
    numbers = structure.residue_numbers

    def ends(first: int, last: int) -> list[str]:  # label and author spelling of both ends
        return [names[first], chain_id, str(first + 1), icodes[first] or "?",
                names[last], chain_id, str(last + 1), icodes[last] or "?",
                names[first], chain_id, str(int(numbers[first])),
                names[last], chain_id, str(int(numbers[last]))]

    range_columns = ["beg_label_comp_id", "beg_label_asym_id", "beg_label_seq_id", "pdbx_beg_PDB_ins_code",
                     "end_label_comp_id", "end_label_asym_id", "end_label_seq_id", "pdbx_end_PDB_ins_code",
                     "beg_auth_comp_id", "beg_auth_asym_id", "beg_auth_seq_id",
                     "end_auth_comp_id", "end_auth_asym_id", "end_auth_seq_id"]
    lines = ["loop_"] + [f"_struct_conf.{c}" for c in ["conf_type_id", "id", "pdbx_PDB_helix_id"]
                         + range_columns + ["pdbx_PDB_helix_class", "pdbx_PDB_helix_length"]]
    counts = {"H": 0, "E": 0}
    for state, first, last in segments:
        counts[state] += 1
        kind = "HELX_P" if state == "H" else "STRN"
        helix_class = "1" if state == "H" else "?"  # 1: right-handed alpha (as in the PDB records)
        lines.append(" ".join([kind, f"{kind}{counts[state]}", str(counts[state])] + ends(first, last)
                              + [helix_class, str(last - first + 1)]))
    lines += ["#", "loop_", "_struct_conf_type.id"]
    lines += [kind for kind, state in (("HELX_P", "H"), ("STRN", "E")) if counts[state]] + ["#"]
    strands = [(first, last) for state, first, last in segments if state == "E"]
    if strands:
        # one sheet per strand: which strands pair is not predicted (see pdb_ss_records)
        lines += ["loop_", "_struct_sheet.id", "_struct_sheet.number_strands"]
        lines += [f"S{k} 1" for k in range(1, len(strands) + 1)] + ["#", "loop_"]
        lines += [f"_struct_sheet_range.{c}" for c in ["sheet_id", "id"] + range_columns]
        lines += [" ".join([f"S{k}", "1"] + ends(first, last)) for k, (first, last) in enumerate(strands, 1)]
        lines.append("#")
    return lines

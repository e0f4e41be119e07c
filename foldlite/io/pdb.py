"""Read and write protein backbones (N, CA, C, O, CB) as PDB or mmCIF.

Reading uses Bio.PDB and keeps: the first model, the first alternate location (alphabetical,
usually 'A'), the 20 standard amino acids plus UNK (as X) and a few common modified residues
mapped to their parent (MSE -> M, SEP -> S, ...); ligands, water and other HETATM groups are
dropped. Residues without N, CA or C are skipped and listed in ``meta["skipped_residues"]``.
Absent CB (glycine, truncated side chains) and O are filled with ideal positions and marked
False in ``atom_mask``. Confidence is read from the CA B-factor.

Writing is done by hand so that every PDB line is exactly 80 columns (PDB format v3.3) and the
per-residue confidence (pLDDT for predictions) sits in the B-factor column of every atom. Given a
3-state secondary structure string (H/E/C per residue), the writers also record each helix and strand
(PDB HELIX/SHEET records; mmCIF _struct_conf, plus _struct_sheet_range for strands; written by
foldlite.io.ss_records), so viewers draw the predicted helices and strands instead of guessing their own.
"""
from __future__ import annotations

import gzip
import io
import os
import re
import zlib
from pathlib import Path

import numpy as np

from ..geometry.backbone import ideal_cb
from ..geometry.vectors import unit
from ..constants import C_O_LENGTH
from .safe_io import atomic_write_bytes, atomic_write_text
from .ss_records import cif_ss_loops, pdb_ss_records, ss_segments
from ..structure import BACKBONE_ATOMS, Structure

__all__ = ["StructureFileError", "read_structure", "read_chains", "write_pdb", "write_cif",
           "save_structure", "ss_segments", "STRUCTURE_SUFFIXES"]

THREE_TO_ONE = {
    "ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E",
    "GLY": "G", "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F",
    "PRO": "P", "SER": "S", "THR": "T", "TRP": "W", "TYR": "Y", "VAL": "V", "UNK": "X",
}
ONE_TO_THREE = {one: three for three, one in THREE_TO_ONE.items()}
# Modified residues whose parent amino acid is unambiguous; they are usually HETATM records
# inside the chain and dropping them would open a gap.
MODIFIED_TO_ONE = {
    "MSE": "M", "FME": "M", "SEC": "C", "CSO": "C", "CSD": "C", "CME": "C", "OCS": "C",
    "CSS": "C", "PYL": "K", "MLY": "K", "M3L": "K", "MLZ": "K", "KCX": "K", "LLP": "K",
    "ALY": "K", "SEP": "S", "TPO": "T", "PTR": "Y", "HYP": "P", "HIC": "H", "NEP": "H",
    "CGU": "E",
}
STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")
_CIF_SUFFIXES = (".cif", ".mmcif")
_ELEMENTS = {"N": "N", "CA": "C", "C": "C", "O": "O", "CB": "C"}


class StructureFileError(ValueError):
    """A structure file that cannot be used; the message names the file and the reason."""


# ----------------------------------------------------------------------------- reading

def _format_of(path: Path) -> tuple[str, bool]:
    """('pdb' | 'cif' | '', gzipped) from the file name."""
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    if gzipped:
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in _CIF_SUFFIXES:
        return "cif", gzipped
    if last in (".pdb", ".ent"):
        return "pdb", gzipped
    return "", gzipped


def _stem(path: Path) -> str:
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return Path(name).stem


def _load_text(path: Path, gzipped: bool) -> str:
    try:
        if gzipped:
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:  # zlib: a damaged .gz body
        raise StructureFileError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") \
            from None
    if b"\x00" in data:
        raise StructureFileError(f"{path}: binary content (NUL bytes); not a PDB/mmCIF text file")
    # Structure files are ASCII; latin-1 never fails, so odd bytes end up as parse errors.
    return data.decode("latin-1")


def _parse_model(path: str | os.PathLike):
    """Parse a file and return (first Bio.PDB model, 'pdb' | 'cif')."""
    path = Path(path)
    if not path.exists():
        raise StructureFileError(f"{path}: file not found")
    if path.is_dir():
        raise StructureFileError(f"{path}: is a directory, not a structure file")
    fmt, gzipped = _format_of(path)
    text = _load_text(path, gzipped)
    if not text.strip():
        raise StructureFileError(f"{path}: the file is empty")
    if not fmt:  # unknown suffix: mmCIF files must start with a data_ block
        fmt = "cif" if text.lstrip().startswith("data_") else "pdb"
    from Bio.PDB import MMCIFParser, PDBParser  # here: writing needs no Bio.PDB (~0.04 s to import)

    parser = MMCIFParser(QUIET=True) if fmt == "cif" else PDBParser(QUIET=True)
    try:
        parsed = parser.get_structure(_stem(path), io.StringIO(text))
    except Exception as exc:  # Bio.PDB raises many types (ValueError, KeyError, IndexError...)
        kind = "mmCIF" if fmt == "cif" else "PDB"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StructureFileError(f"{path}: cannot parse as {kind}: {detail}") from None
    models = list(parsed)
    if not models or not any(True for _ in models[0].get_atoms()):
        raise StructureFileError(f"{path}: no atoms found (is this a PDB/mmCIF file?)")
    return models[0], fmt


def _first_altloc(entity):
    """Bio.PDB picks the altloc with the highest occupancy; we want the first one."""
    from Bio.PDB.Entity import DisorderedEntityWrapper

    if isinstance(entity, DisorderedEntityWrapper):  # DisorderedAtom or DisorderedResidue
        return entity.child_dict[entity.disordered_get_id_list()[0]]
    return entity


def _ideal_o(ca: np.ndarray, c: np.ndarray, n_next: np.ndarray | None, n: np.ndarray) -> np.ndarray:
    """Approximate carbonyl O for a residue whose O is missing (marked absent in atom_mask)."""
    other = n_next if n_next is not None else n  # no next residue: use own N for the plane
    return c + C_O_LENGTH * unit(unit(c - ca) + unit(c - other))


def _chain_to_structure(chain, name: str, source: str, fmt: str) -> Structure | None:
    """Bio.PDB chain -> Structure, or None when it holds no usable amino acid."""
    letters, coords, masks, bfactors, numbers, icodes = [], [], [], [], [], []
    skipped = []
    for residue in chain:
        residue = _first_altloc(residue)
        hetflag, resseq, icode = residue.id
        resname = residue.get_resname().strip().upper()
        if hetflag == "W":
            continue
        if hetflag.strip() and resname not in MODIFIED_TO_ONE:
            continue  # ligand (including free amino acids), ion, sugar...
        letter = THREE_TO_ONE.get(resname) or MODIFIED_TO_ONE.get(resname)
        if letter is None:
            continue  # nucleotide or unknown group in an ATOM record
        atoms = {}
        for atom_name in BACKBONE_ATOMS:
            if atom_name in residue:
                atom = _first_altloc(residue[atom_name])
                atoms[atom_name] = (np.asarray(atom.coord, dtype=np.float64), atom.bfactor)
        missing = [a for a in ("N", "CA", "C") if a not in atoms]
        if missing:
            skipped.append(f"{resname} {resseq}{icode.strip()} (no {', '.join(missing)})")
            continue
        letters.append(letter)
        coords.append([atoms[a][0] if a in atoms else np.full(3, np.nan) for a in BACKBONE_ATOMS])
        masks.append([a in atoms for a in BACKBONE_ATOMS])
        bfactors.append(atoms["CA"][1])
        numbers.append(resseq)
        icodes.append(icode.strip())
    if not letters:
        return None
    coords = np.asarray(coords, dtype=np.float64)
    mask = np.asarray(masks, dtype=bool)
    n, ca, c = coords[:, 0], coords[:, 1], coords[:, 2]
    no_cb = ~mask[:, 4]
    coords[no_cb, 4] = ideal_cb(n[no_cb], ca[no_cb], c[no_cb])
    for i in np.flatnonzero(~mask[:, 3]):
        n_next = coords[i + 1, 0] if i + 1 < len(coords) else None
        coords[i, 3] = _ideal_o(ca[i], c[i], n_next, n[i])
    meta = {"source": source, "format": fmt, "skipped_residues": skipped}
    if any(icodes):
        meta["insertion_codes"] = icodes
    return Structure(sequence="".join(letters), coords=coords, confidence=np.asarray(bfactors),
                     chain_id=chain.id, residue_numbers=np.asarray(numbers), atom_mask=mask,
                     name=name, meta=meta)


def read_chains(path: str | os.PathLike) -> list[Structure]:
    """All protein chains of the first model, in file order (may be empty)."""
    model, fmt = _parse_model(path)
    path = Path(path)
    structures = (_chain_to_structure(chain, _stem(path), str(path), fmt) for chain in model)
    return [s for s in structures if s is not None]


def read_structure(path: str | os.PathLike, chain: str | None = None) -> Structure:
    """One protein chain from a .pdb/.ent/.cif/.mmcif file (optionally .gz).

    ``chain`` selects the chain by author chain id; by default the first protein chain.
    """
    model, fmt = _parse_model(path)
    path = Path(path)
    if chain is not None:
        if chain not in model:
            available = ", ".join(repr(c.id) for c in model) or "none"
            raise StructureFileError(f"{path}: no chain {chain!r}; chains in the file: {available}")
        structure = _chain_to_structure(model[chain], _stem(path), str(path), fmt)
        if structure is None:
            protein = [s.chain_id for s in read_chains(path)]
            raise StructureFileError(
                f"{path}: chain {chain!r} has no amino-acid residues with N, CA and C; "
                f"protein chains: {', '.join(map(repr, protein)) or 'none'}")
        return structure
    for bio_chain in model:
        structure = _chain_to_structure(bio_chain, _stem(path), str(path), fmt)
        if structure is not None:
            return structure
    raise StructureFileError(f"{path}: no protein chain (no amino-acid residues with N, CA and C)")


# ----------------------------------------------------------------------------- writing

def _atoms_to_write(structure: Structure, include_glycine_cb: bool):
    """Yield (residue index, atom name, element, xyz) for the atoms present, in file order: every atom
    of a full-atom model (structure.atoms), else the backbone."""
    if structure.atoms is not None:
        atoms = structure.atoms
        coords = np.round(atoms.coords, 3) + 0.0
        for i, atom_name, element, xyz in zip(atoms.residue, atoms.name, atoms.element, coords):
            yield int(i), str(atom_name), str(element), xyz
        return
    # Round first and add 0.0 so that tiny negatives print as 0.000, not -0.000.
    coords = np.round(structure.coords, 3) + 0.0
    for i, letter in enumerate(structure.sequence):
        for k, atom_name in enumerate(BACKBONE_ATOMS):
            if not structure.atom_mask[i, k]:
                continue
            if atom_name == "CB" and letter == "G" and not include_glycine_cb:
                continue  # glycine has no CB; ours is virtual
            yield i, atom_name, _ELEMENTS[atom_name], coords[i, k]


def _pdb_atom_name(atom_name: str, element: str) -> str:
    """Columns 13-16: a one-letter element's name starts in column 14 unless it fills all four."""
    return atom_name if len(atom_name) == 4 or len(element) == 2 else f" {atom_name:<3}"


def _insertion_codes(structure: Structure) -> list[str]:
    codes = structure.meta.get("insertion_codes") if structure.meta else None
    if codes is not None and len(codes) == len(structure):
        return [str(c)[:1] for c in codes]
    return [""] * len(structure)


def _check_writable(structure: Structure) -> None:
    if structure.atoms is not None and not np.all(np.isfinite(structure.atoms.coords)):
        raise ValueError(f"{structure.name}: coordinates contain NaN or infinity")
    if not np.all(np.isfinite(structure.coords[structure.atom_mask])):
        raise ValueError(f"{structure.name}: coordinates contain NaN or infinity")
    if not np.all(np.isfinite(structure.confidence)):
        raise ValueError(f"{structure.name}: confidence contains NaN or infinity")


def write_pdb(structure: Structure, include_glycine_cb: bool = False,
              secondary_structure: str | None = None) -> str:
    """PDB text: [HELIX, SHEET,] ATOM records (80 columns each), TER, END. Confidence goes in the
    B-factor; `secondary_structure` (H/E/C per residue) adds the HELIX and SHEET records."""
    _check_writable(structure)
    chain_id = structure.chain_id or "A"
    if len(chain_id) != 1:
        raise ValueError(f"chain id {chain_id!r} does not fit the PDB format (one character); "
                         "write mmCIF instead")
    coords = structure.coords[structure.atom_mask] if structure.atoms is None else structure.atoms.coords
    if coords.size and (coords.min() < -999.999 or coords.max() > 9999.999):
        raise ValueError(f"{structure.name}: coordinates outside the PDB range -999.999..9999.999")
    numbers = structure.residue_numbers
    if len(numbers) and (numbers.min() < -999 or numbers.max() > 9999):
        raise ValueError(f"{structure.name}: residue numbers outside the PDB range -999..9999")
    icodes = _insertion_codes(structure)
    lines = []
    if secondary_structure is not None:
        names = [ONE_TO_THREE[letter] for letter in structure.sequence]
        lines += pdb_ss_records(structure, secondary_structure, chain_id, names, icodes)
    serial = 0
    for i, atom_name, element, (x, y, z) in _atoms_to_write(structure, include_glycine_cb):
        serial += 1
        resname = ONE_TO_THREE[structure.sequence[i]]
        # Columns: record 1-6, serial 7-11, name 13-16 (1-letter elements start in col 14),
        # altloc 17, resname 18-20, chain 22, resseq 23-26, icode 27, x/y/z 31-54,
        # occupancy 55-60, B-factor 61-66, element 77-78, charge 79-80.
        lines.append(
            f"ATOM  {serial % 100000:>5} {_pdb_atom_name(atom_name, element)} {resname:>3} {chain_id}"
            f"{int(numbers[i]):>4}{icodes[i]:1}   {x:8.3f}{y:8.3f}{z:8.3f}"
            f"{1.0:6.2f}{structure.confidence[i]:6.2f}          {element:>2}  ")
    if len(structure):
        last = len(structure) - 1
        ter = (f"TER   {(serial + 1) % 100000:>5}      {ONE_TO_THREE[structure.sequence[last]]:>3} "
               f"{chain_id}{int(numbers[last]):>4}{icodes[last]:1}")
        lines.append(ter)
    lines.append("END")
    return "".join(f"{line:<80}\n" for line in lines)


def _cif_token(value: str) -> str:
    """A bare mmCIF value, or an error for values that would need quoting."""
    if not value or any(ch.isspace() for ch in value) or value[0] in "_#$'\"[];":
        raise ValueError(f"{value!r} cannot be written as an mmCIF chain id")
    return value


def write_cif(structure: Structure, include_glycine_cb: bool = False,
              secondary_structure: str | None = None) -> str:
    """Minimal mmCIF (an _atom_site loop) readable by Bio.PDB, PyMOL and ChimeraX;
    `secondary_structure` (H/E/C per residue) adds _struct_conf and _struct_sheet_range."""
    _check_writable(structure)
    # A blank PDB chain id has no mmCIF spelling; call it A.
    chain_id = _cif_token(structure.chain_id.strip() or "A")
    block = re.sub(r"[^A-Za-z0-9_.-]", "_", structure.name) or "foldlite"
    icodes = _insertion_codes(structure)
    columns = ["group_PDB", "id", "type_symbol", "label_atom_id", "label_alt_id", "label_comp_id",
               "label_asym_id", "label_entity_id", "label_seq_id", "pdbx_PDB_ins_code",
               "Cartn_x", "Cartn_y", "Cartn_z", "occupancy", "B_iso_or_equiv",
               "pdbx_formal_charge", "auth_seq_id", "auth_comp_id", "auth_asym_id",
               "auth_atom_id", "pdbx_PDB_model_num"]
    lines = [f"data_{block}", "#", f"_entry.id {block}", "#"]
    if secondary_structure is not None:
        names = [ONE_TO_THREE[letter] for letter in structure.sequence]
        lines += cif_ss_loops(structure, secondary_structure, chain_id, names, icodes)
    lines += ["loop_"] + [f"_atom_site.{column}" for column in columns]
    serial = 0
    for i, atom_name, element, (x, y, z) in _atoms_to_write(structure, include_glycine_cb):
        serial += 1
        resname = ONE_TO_THREE[structure.sequence[i]]
        number = int(structure.residue_numbers[i])
        lines.append(
            f"ATOM {serial} {element} {atom_name} . {resname} {chain_id} 1 {i + 1} "
            f"{icodes[i] or '?'} {x:.3f} {y:.3f} {z:.3f} 1.00 {structure.confidence[i]:.2f} ? "
            f"{number} {resname} {chain_id} {atom_name} 1")
    lines.append("#")
    return "\n".join(lines) + "\n"


def save_structure(structure: Structure, path: str | os.PathLike,
                   include_glycine_cb: bool = False, secondary_structure: str | None = None) -> None:
    """Write PDB (.pdb/.ent) or mmCIF (.cif/.mmcif), optionally .gz, atomically."""
    path = Path(path)
    fmt, gzipped = _format_of(path)
    if fmt == "pdb":
        text = write_pdb(structure, include_glycine_cb, secondary_structure)
    elif fmt == "cif":
        text = write_cif(structure, include_glycine_cb, secondary_structure)
    else:
        raise ValueError(f"{path}: unknown structure format; use one of "
                         f"{', '.join(STRUCTURE_SUFFIXES)} (optionally + .gz)")
    if gzipped:
        atomic_write_bytes(path, gzip.compress(text.encode("ascii"), mtime=0))
    else:
        atomic_write_text(path, text, encoding="ascii")

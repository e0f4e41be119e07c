"""pdbio (read/write PDB and mmCIF) and safe_io (atomic writes, safe file names)."""
import gzip
import os
from pathlib import Path

import numpy as np
import pytest
from Bio.PDB import MMCIFParser, PDBParser

from foldlite.geometry.backbone import ideal_cb
from foldlite.io.pdb import (StructureFileError, read_chains, read_structure, save_structure,
                            write_cif, write_pdb)
from foldlite.io.safe_io import atomic_write_bytes, atomic_write_text, safe_filename
from foldlite.structure import Structure

DATA = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURES = ["1AHO_A.pdb", "1F32_A.pdb", "1B0X_A.cif"]


def synthetic_bfactor(i):  # what tests/fixtures/make_fixtures.py wrote
    return 20.25 + (i * 7) % 60


def assert_same_structure(read_back, original, atol=1e-3):
    assert read_back.sequence == original.sequence
    assert read_back.chain_id == original.chain_id
    np.testing.assert_array_equal(read_back.residue_numbers, original.residue_numbers)
    np.testing.assert_array_equal(read_back.atom_mask, original.atom_mask)
    present = original.atom_mask
    np.testing.assert_allclose(read_back.coords[present], original.coords[present], atol=atol)
    np.testing.assert_allclose(read_back.confidence, original.confidence, atol=0.01)


def prediction_like(length=30, seed=0):
    """A Structure as the model would emit it: every mask True, unrounded values."""
    base = read_structure(DATA / "1AHO_A.pdb")
    rng = np.random.default_rng(seed)
    coords = base.coords[:length] + rng.normal(0, 0.1, (length, 5, 3))
    coords[:, 4] = ideal_cb(coords[:, 0], coords[:, 1], coords[:, 2])
    return Structure(sequence=base.sequence[:length], coords=coords,
                     confidence=rng.uniform(0, 100, length), name="pred")


def atom_lines(text):
    return [line for line in text.splitlines() if line.startswith(("ATOM", "HETATM"))]


# ----------------------------------------------------------------------------- reading fixtures

def test_read_real_pdb_fixture():
    s = read_structure(DATA / "1AHO_A.pdb")
    assert len(s) == 64 and s.chain_id == "A" and s.name == "1AHO_A"
    assert s.sequence.startswith("VKDGYIVDDVNCTYFCGRNA")
    assert s.residue_numbers.tolist() == list(range(1, 65))
    assert s.meta["format"] == "pdb" and s.meta["skipped_residues"] == []
    is_gly = np.array([c == "G" for c in s.sequence])
    np.testing.assert_array_equal(s.atom_mask[:, 4], ~is_gly)  # glycine CB is virtual
    assert s.atom_mask[:, :4].all()
    np.testing.assert_allclose(s.cb[is_gly], ideal_cb(s.coords[is_gly, 0], s.ca[is_gly],
                                                      s.coords[is_gly, 2]))
    np.testing.assert_allclose(s.confidence, [synthetic_bfactor(i) for i in range(64)])
    assert np.allclose(np.linalg.norm(np.diff(s.ca, axis=0), axis=1), 3.8, atol=0.15)


def test_read_real_cif_fixture():
    s = read_structure(DATA / "1B0X_A.cif")
    assert len(s) == 72 and s.meta["format"] == "cif"
    assert s.residue_numbers[0] == 23 and s.residue_numbers[-1] == 94


@pytest.mark.parametrize("fixture", FIXTURES)
@pytest.mark.parametrize("writer, suffix", [(write_pdb, ".pdb"), (write_cif, ".cif")])
def test_round_trip_real_chains(tmp_path, fixture, writer, suffix):
    original = read_structure(DATA / fixture)
    path = tmp_path / f"out{suffix}"
    path.write_text(writer(original))
    assert_same_structure(read_structure(path), original)


@pytest.mark.parametrize("suffix", [".pdb", ".cif", ".pdb.gz", ".cif.gz", ".mmcif", ".ent"])
def test_round_trip_prediction(tmp_path, suffix):
    pred = prediction_like()
    path = tmp_path / f"pred{suffix}"
    save_structure(pred, path)
    back = read_structure(path)
    expected_mask = np.ones((len(pred), 5), dtype=bool)
    expected_mask[:, 4] = [c != "G" for c in pred.sequence]  # glycine CB is not written
    np.testing.assert_array_equal(back.atom_mask, expected_mask)
    np.testing.assert_allclose(back.coords[expected_mask], pred.coords[expected_mask], atol=1e-3)
    np.testing.assert_allclose(back.confidence, pred.confidence, atol=0.01)
    assert back.sequence == pred.sequence
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left


def test_saved_gzip_is_gzip(tmp_path):
    save_structure(prediction_like(), tmp_path / "x.pdb.gz")
    assert gzip.decompress((tmp_path / "x.pdb.gz").read_bytes()).startswith(b"ATOM  ")


def test_unknown_output_suffix(tmp_path):
    with pytest.raises(ValueError, match="unknown structure format"):
        save_structure(prediction_like(), tmp_path / "x.xyz")


# ----------------------------------------------------------------------------- PDB format

def test_pdb_lines_are_80_columns_and_follow_the_spec():
    pred = prediction_like()
    text = write_pdb(pred)
    lines = text.splitlines()
    assert text.endswith("\n")
    assert all(len(line) == 80 for line in lines)
    assert lines[-1].rstrip() == "END" and lines[-2].startswith("TER   ")
    atoms = atom_lines(text)
    assert len(atoms) == 4 * len(pred) + sum(c != "G" for c in pred.sequence)
    first = atoms[0]
    assert first[0:6] == "ATOM  " and first[6:11] == "    1"
    assert first[12:16] == " N  " and first[17:20] == "VAL" and first[21] == "A"
    assert first[22:26] == "   1" and first[54:60] == "  1.00" and first[76:78] == " N"
    assert float(first[30:38]) == pytest.approx(pred.coords[0, 0, 0], abs=5e-4)
    assert atoms[1][12:16] == " CA "
    # Every atom of residue i carries confidence[i] in the B-factor column (61-66).
    for line in atoms:
        residue = int(line[22:26]) - 1
        assert line[60:66] == f"{pred.confidence[residue]:6.2f}"


def test_bfactor_read_by_biopython_is_confidence(tmp_path):
    pred = prediction_like()
    for name, text, parser in (("p.pdb", write_pdb(pred), PDBParser(QUIET=True)),
                               ("p.cif", write_cif(pred), MMCIFParser(QUIET=True))):
        (tmp_path / name).write_text(text)
        model = next(iter(parser.get_structure("p", str(tmp_path / name))))
        residues = list(model["A"])
        assert len(residues) == len(pred)
        for residue, confidence in zip(residues, pred.confidence):
            for atom in residue:
                assert atom.bfactor == pytest.approx(round(confidence, 2), abs=1e-6)


def test_glycine_cb_only_when_asked():
    pred = prediction_like()
    n_gly = pred.sequence.count("G")
    assert n_gly > 0
    default = atom_lines(write_pdb(pred))
    with_cb = atom_lines(write_pdb(pred, include_glycine_cb=True))
    assert len(with_cb) == len(default) + n_gly
    assert not any(line[17:20] == "GLY" and line[12:16] == " CB " for line in default)


def test_pdb_writer_refuses_what_does_not_fit():
    pred = prediction_like()
    pred.chain_id = "AB"
    with pytest.raises(ValueError, match="one character"):
        write_pdb(pred)
    pred = prediction_like()
    pred.coords[0, 0, 0] = 12345.0
    with pytest.raises(ValueError, match="PDB range"):
        write_pdb(pred)
    pred = prediction_like()
    pred.confidence[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_pdb(pred)


def test_cif_multi_letter_chain_round_trip(tmp_path):
    pred = prediction_like()
    pred.chain_id = "AB"
    (tmp_path / "x.cif").write_text(write_cif(pred))
    assert read_structure(tmp_path / "x.cif", chain="AB").chain_id == "AB"


def test_blank_chain_id(tmp_path):
    pred = prediction_like()
    pred.chain_id = " "
    (tmp_path / "x.pdb").write_text(write_pdb(pred))
    assert read_structure(tmp_path / "x.pdb").chain_id == " "
    (tmp_path / "x.cif").write_text(write_cif(pred))
    assert read_structure(tmp_path / "x.cif").chain_id == "A"


def test_insertion_codes_round_trip(tmp_path):
    pred = prediction_like(length=6)
    pred.residue_numbers = np.array([1, 2, 2, 2, 3, 4])
    pred.meta["insertion_codes"] = ["", "", "A", "B", "", ""]
    for suffix in (".pdb", ".cif"):
        save_structure(pred, tmp_path / f"x{suffix}")
        back = read_structure(tmp_path / f"x{suffix}")
        assert back.residue_numbers.tolist() == [1, 2, 2, 2, 3, 4]
        assert back.meta["insertion_codes"] == ["", "", "A", "B", "", ""]


# ----------------------------------------------------------------------------- chains, edge cases

def _chain_text(structure, chain_id):
    structure.chain_id = chain_id
    return "".join(line + "\n" for line in write_pdb(structure).splitlines()
                    if not line.startswith("END"))


@pytest.fixture
def two_chain_file(tmp_path):
    a = read_structure(DATA / "1AHO_A.pdb")
    b = read_structure(DATA / "1F32_A.pdb")
    water = ("HETATM 9001  O   HOH W   1      10.000  10.000  10.000  1.00 30.00           O  \n"
             "HETATM 9002  O   HOH W   2      12.000  10.000  10.000  1.00 30.00           O  \n")
    path = tmp_path / "complex.pdb"
    path.write_text(_chain_text(a, "A") + _chain_text(b, "B") + water + "END\n")
    return path


def test_default_chain_is_first_protein_chain(two_chain_file):
    assert len(read_structure(two_chain_file)) == 64


def test_select_chain(two_chain_file):
    b = read_structure(two_chain_file, chain="B")
    assert b.chain_id == "B" and len(b) == 116
    assert b.sequence == read_structure(DATA / "1F32_A.pdb").sequence


def test_unknown_chain_lists_available(two_chain_file):
    with pytest.raises(StructureFileError,
                       match=r"no chain 'Z'; chains in the file: 'A', 'B', 'W'"):
        read_structure(two_chain_file, chain="Z")


def test_non_protein_chain(two_chain_file):
    with pytest.raises(StructureFileError, match=r"chain 'W' has no amino-acid.*'A', 'B'"):
        read_structure(two_chain_file, chain="W")


def test_read_chains_returns_protein_chains(two_chain_file):
    assert [(s.chain_id, len(s)) for s in read_chains(two_chain_file)] == [("A", 64), ("B", 116)]


def _small_pdb_lines():
    # Residues 1-5 of 1AHO: V K D G Y.
    return write_pdb(prediction_like(length=5)).splitlines()


def test_modified_residue_ligand_and_second_model(tmp_path):
    lines = []
    for line in _small_pdb_lines():
        if line[17:20] == "LYS":  # pretend residue 2 is selenomethionine, as a HETATM
            line = "HETATM" + line[6:17] + "MSE" + line[20:]
        if line.startswith("END"):
            continue
        lines.append(line)
    lines.append("HETATM  999 ZN    ZN A 101      1.000   1.000   1.000  1.00 20.00          ZN  ")
    lines.append("HETATM 1000  CA  ALA A 102      1.000   1.000   1.000  1.00 20.00           C  ")
    text = "MODEL        1\n" + "\n".join(lines) + "\nENDMDL\nMODEL        2\n" + \
        "\n".join(lines[:5]) + "\nENDMDL\nEND\n"
    (tmp_path / "m.pdb").write_text(text)
    s = read_structure(tmp_path / "m.pdb")
    assert s.sequence == "VMDGY"  # MSE -> M; zinc and the free alanine ignored; model 1 only


def test_residue_without_ca_is_skipped_and_noted(tmp_path):
    lines = [line for line in _small_pdb_lines()
             if not (line[17:20] == "ASP" and line[12:16] == " CA ")]
    (tmp_path / "gap.pdb").write_text("\n".join(lines) + "\n")
    s = read_structure(tmp_path / "gap.pdb")
    assert s.sequence == "VKGY"
    assert s.residue_numbers.tolist() == [1, 2, 4, 5]
    assert s.meta["skipped_residues"] == ["ASP 3 (no CA)"]


def test_missing_o_is_filled_and_masked(tmp_path):
    lines = [line for line in _small_pdb_lines()
             if not (line[17:20] == "TYR" and line[12:16] == " O  ")]
    (tmp_path / "noo.pdb").write_text("\n".join(lines) + "\n")
    s = read_structure(tmp_path / "noo.pdb")
    assert not s.atom_mask[4, 3] and s.atom_mask[:4, 3].all()
    assert np.linalg.norm(s.coords[4, 3] - s.coords[4, 2]) == pytest.approx(1.231, abs=1e-3)


def test_first_altloc_is_used(tmp_path):
    lines = []
    for line in _small_pdb_lines():
        if line[17:20] == "VAL" and line[12:16] == " CA ":
            x = float(line[30:38])
            # altloc A (occupancy 0.40) first, then B (0.60) moved by 1 Å;
            # Bio.PDB on its own would pick B, the higher occupancy.
            lines.append(line[:16] + "A" + line[17:54] + "  0.40" + line[60:])
            lines.append(line[:16] + "B" + line[17:30] + f"{x + 1:8.3f}" + line[38:54] + "  0.60"
                         + line[60:])
        else:
            lines.append(line)
    (tmp_path / "alt.pdb").write_text("\n".join(lines) + "\n")
    s = read_structure(tmp_path / "alt.pdb")
    original = read_structure_text(_small_pdb_lines(), tmp_path)
    np.testing.assert_allclose(s.ca[0], original.ca[0], atol=1e-3)


def read_structure_text(lines, tmp_path):
    (tmp_path / "plain.pdb").write_text("\n".join(lines) + "\n")
    return read_structure(tmp_path / "plain.pdb")


# ----------------------------------------------------------------------------- errors

def test_missing_file(tmp_path):
    with pytest.raises(StructureFileError, match="file not found"):
        read_structure(tmp_path / "none.pdb")


def test_directory(tmp_path):
    with pytest.raises(StructureFileError, match="is a directory"):
        read_structure(tmp_path)


@pytest.mark.parametrize("name, content, match", [
    ("empty.pdb", "", "empty"),
    ("bad.pdb", "ATOM      1  N   ALA A   1      xx.000   1.000   1.000  1.00  0.00           N\n",
     "cannot parse as PDB"),
    ("text.pdb", "this is not a structure\n", "no atoms found"),
    ("bad.cif", "data_x\nloop_\n_atom_site.id\n1\n", "cannot parse as mmCIF"),
    ("text.cif", "hello\n", "cannot parse as mmCIF"),
    ("bin.pdb", "\x00\x01\x02", "binary"),
    ("ligand.pdb",
     "HETATM    1 ZN    ZN A   1      1.000   1.000   1.000  1.00 20.00          ZN  \n",
     "no protein chain"),
])
def test_unusable_files(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(StructureFileError, match=match) as info:
        read_structure(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "x.pdb.gz"
    path.write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(StructureFileError, match="cannot read"):
        read_structure(path)


def test_structure_file_error_is_value_error():
    assert issubclass(StructureFileError, ValueError)


# ----------------------------------------------------------------------------- safe_io

def test_atomic_write_replaces_and_cleans_up(tmp_path):
    path = tmp_path / "out.txt"
    atomic_write_text(path, "one\n")
    atomic_write_text(path, "two\r\n")
    assert path.read_bytes() == b"two\r\n"  # no newline translation
    atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert os.listdir(tmp_path) == ["out.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # like open(), not mkstemp's 0600


def test_atomic_write_failure_leaves_old_file(tmp_path):
    path = tmp_path / "out.txt"
    atomic_write_text(path, "old")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_atomic_write_into_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_text(tmp_path / "no" / "x.txt", "x")


def _is_safe(name):
    return (0 < len(name) <= 100 and not name.startswith((".", "-"))
            and all(c.isascii() and (c.isalnum() or c in "._-") for c in name))


@pytest.mark.parametrize("record_id", [
    "../../etc/x", "a/b", "a\\b", "x" * 300, "ü名前", "", ".", "..", "-rf", "CON", "nul.txt",
    "a b\tc\nd", "\x00", "é" * 200, ".hidden", "name.", "🧬",
])
def test_safe_filename_is_safe(record_id):
    name = safe_filename(record_id, set())
    assert _is_safe(name), name
    assert "/" not in name and name not in (".", "..")


def test_safe_filename_keeps_plain_ids():
    used = set()
    assert safe_filename("sp_P12345.2-x", used) == "sp_P12345.2-x"
    assert safe_filename("1abc_A", used) == "1abc_A"
    assert used == {"sp_p12345.2-x", "1abc_a"}


def test_safe_filename_is_unique():
    used = set()
    ids = ["a/b", "a_b", "a:b", "ABC", "abc", "Abc", "x" * 300, "x" * 301, "", "", "..", "."]
    names = [safe_filename(i, used) for i in ids]
    assert len({n.lower() for n in names}) == len(ids)  # unique even on case-insensitive disks
    assert names[0] != "a_b" and names[1] == "a_b"  # a changed id gets a hash, a plain one not
    assert names[3] == "ABC" and names[4].startswith("abc_")
    assert all(_is_safe(n) for n in names)


def test_safe_filename_accented_letters_are_transliterated():
    assert safe_filename("café", set()).startswith("cafe_")

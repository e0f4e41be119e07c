import zipfile
from pathlib import Path

import numpy as np
import pytest

from foldlite.data.build import BuildReport, ChainsetBuildError, build_chainset

from foldlite.data.dssp import assign_secondary_structure
from foldlite.constants import dssp_to_ss3
from foldlite.io.pdb import read_structure, save_structure, write_pdb
from foldlite.structure import Structure

DATA = Path(__file__).resolve().parents[1] / "fixtures"

# Keys and dtypes of /work/shared/data/pdb_chains.npz (see its README).
TRAINING_DTYPES = {"name": "U", "length": np.int32, "seq": np.uint8, "dssp": np.uint8,
                   "xyz": np.int16, "center": np.float32, "cluster": np.int32, "split": np.int8,
                   "pdb_start_resnum": np.int32}


def subset(structure: Structure, keep, chain_id=None) -> Structure:
    keep = np.asarray(keep)
    return Structure(sequence="".join(np.array(list(structure.sequence))[keep]),
                     coords=structure.coords[keep], confidence=structure.confidence[keep],
                     chain_id=chain_id or structure.chain_id,
                     residue_numbers=structure.residue_numbers[keep],
                     atom_mask=structure.atom_mask[keep], name=structure.name)


@pytest.fixture(scope="module")
def fixtures():
    names = ("1AHO_A.pdb", "1F32_A.pdb", "1B0X_A.cif")
    return {name: read_structure(DATA / name) for name in names}


@pytest.fixture(scope="module")
def built(tmp_path_factory, fixtures):
    folder = tmp_path_factory.mktemp("structures")
    aho, f32, b0x = fixtures["1AHO_A.pdb"], fixtures["1F32_A.pdb"], fixtures["1B0X_A.cif"]
    save_structure(aho, folder / "a.pdb")
    # 1F32 with residues 40-45 removed: one chain break.
    gap = np.r_[0:40, 46:len(f32)]
    save_structure(subset(f32, gap), folder / "b.cif")
    # Two chains in one file: B (12 residues) is too short.
    chain_a = write_pdb(b0x).replace("END" + " " * 77 + "\n", "")
    chain_b = write_pdb(subset(aho, np.arange(12), chain_id="B"))
    (folder / "c.pdb").write_text(chain_a + chain_b)
    # Bad inputs.
    (folder / "broken.pdb").write_text(
        "ATOM      1  N   ALA A   1      xx.000   1.000   1.000  1.00  0.00           N  \n")
    (folder / "water.pdb").write_text(
        "HETATM    1  O   HOH W   1      10.000  10.000  10.000  1.00 30.00           O  \nEND\n")
    far = aho.coords.copy()
    far[32:] += np.array([700.0, 0.0, 0.0])  # 700 Å apart: does not fit int16 at 0.01 Å
    save_structure(Structure(aho.sequence, far, aho.confidence), folder / "far.pdb")
    (folder / "notes.txt").write_text("not a structure")
    output = tmp_path_factory.mktemp("out") / "set.npz"
    report = build_chainset(folder, output)
    return report, output, gap


def test_report_counts_and_skip_reasons(built, fixtures):
    report, output, gap = built
    assert isinstance(report, BuildReport)
    assert report.files_seen == 7 and report.files_used == 3
    assert report.chains == 3 and report.kept == ["a_A", "b_A", "c_A"]
    assert report.residues == 64 + len(gap) + 72
    assert report.chain_breaks == 1
    reasons = dict(report.skipped)
    assert set(reasons) == {"broken.pdb", "c.pdb chain B", "far.pdb chain A", "notes.txt",
                            "water.pdb"}
    assert "cannot parse as PDB" in reasons["broken.pdb"]
    assert reasons["c.pdb chain B"] == "too short (12 residues < 20)"
    assert "int16" in reasons["far.pdb chain A"]
    assert "not a structure file" in reasons["notes.txt"]
    assert reasons["water.pdb"] == "no protein chain"
    text = report.format_report()
    assert text.startswith("wrote 3 chains") and "1 chain breaks" in text
    assert "c.pdb chain B: too short" in text and str(output) in text


def test_output_has_the_training_format(built):
    _, output, _ = built
    with zipfile.ZipFile(output) as archive:  # compressed like the training set
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
    data = np.load(output, allow_pickle=False)
    assert set(data.files) == set(TRAINING_DTYPES)
    for key, dtype in TRAINING_DTYPES.items():
        if dtype == "U":
            assert data[key].dtype.kind == "U"
        else:
            assert data[key].dtype == dtype, key
    chains, residues = len(data["name"]), int(data["length"].sum())
    assert data["name"].tolist() == ["a_A", "b_A", "c_A"]
    assert data["seq"].shape == data["dssp"].shape == (residues,)
    assert data["xyz"].shape == (residues, 4, 3)
    assert data["center"].shape == (chains, 3)
    assert data["cluster"].tolist() == [0, 1, 2]
    assert data["split"].tolist() == [0, 0, 0]
    assert data["pdb_start_resnum"].tolist() == [1, 2, 23]
    assert set(bytes(data["dssp"]).decode()) <= set("HGIEBTSC")


def test_coordinates_and_sequences_round_trip(built, fixtures):
    _, output, gap = built
    data = np.load(output)
    offsets = np.concatenate([[0], np.cumsum(data["length"])[:-1]])
    expected = [fixtures["1AHO_A.pdb"], subset(fixtures["1F32_A.pdb"], gap), fixtures["1B0X_A.cif"]]
    for i, structure in enumerate(expected):
        rows = slice(offsets[i], offsets[i] + data["length"][i])
        assert bytes(data["seq"][rows]).decode() == structure.sequence
        absolute = data["center"][i].astype(np.float64) + data["xyz"][rows] / 100.0
        np.testing.assert_allclose(absolute, structure.coords[:, :4], atol=0.006)
        # center = mean CA, rounded to 0.01 Å, as in the training set
        np.testing.assert_allclose(data["center"][i], structure.ca.mean(axis=0), atol=0.006)


def test_no_usable_chain_writes_nothing(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.cif").write_text("hello\n")
    with pytest.raises(ChainsetBuildError, match="no usable protein chains") as info:
        build_chainset(tmp_path / "in", tmp_path / "out.npz")
    assert info.value.report.skipped[0][0] == "broken.cif"
    assert not (tmp_path / "out.npz").exists()


def test_missing_input_dir(tmp_path):
    with pytest.raises(ChainsetBuildError, match="not a directory"):
        build_chainset(tmp_path / "nope", tmp_path / "out.npz")


@pytest.mark.parametrize("fixture, name", [("1AHO_A.pdb", "1AHO_A"), ("1F32_A.pdb", "1F32_A"),
                                           ("1B0X_A.cif", "1B0X_A")])
def test_secondary_structure_matches_real_dssp(fixture, name):
    structure = read_structure(DATA / fixture)
    backbone = [structure.coords[:, k] for k in range(4)]
    ours = assign_secondary_structure(*backbone, structure.sequence)
    reference = (DATA / f"{name}.dssp").read_text().strip()
    assert len(ours) == len(reference)
    as_ss3 = [dssp_to_ss3(np.frombuffer(s.encode(), dtype=np.uint8)) for s in (ours, reference)]
    assert np.mean(as_ss3[0] == as_ss3[1]) >= 0.95


def test_secondary_structure_short_chains():
    coords = np.zeros((2, 3))
    assert assign_secondary_structure(coords, coords, coords, coords) == "CC"
    assert assign_secondary_structure(*(np.zeros((0, 3)),) * 4) == ""

"""`foldlite evaluate`: residue matching by alignment, scores, and its errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from foldlite.cli import main
from foldlite.evaluation.compare import AlignmentError, compare
from foldlite.io.pdb import read_structure
from foldlite.structure import Structure

DATA = Path(__file__).resolve().parents[1] / "fixtures"


def _renumbered_fragment(structure: Structure, start: int, stop: int, offset: int) -> Structure:
    return Structure(sequence=structure.sequence[start:stop], coords=structure.coords[start:stop],
                     confidence=structure.confidence[start:stop],
                     residue_numbers=np.arange(stop - start) + offset, chain_id="B")


def test_identical_structures_score_perfectly():
    native = read_structure(DATA / "1F32_A.pdb")
    c = compare(native, native)
    assert c.tm_score == pytest.approx(1.0) and c.rmsd == pytest.approx(0.0, abs=1e-6)
    assert c.aligned_length == len(native)


def test_residues_are_matched_by_sequence_not_numbering(tmp_path):
    native = read_structure(DATA / "1F32_A.pdb")
    fragment = _renumbered_fragment(native, 10, len(native), offset=500)
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    rotation *= np.sign(np.linalg.det(rotation))
    fragment.coords = fragment.coords @ rotation.T + 7.0
    c = compare(fragment, native)
    assert c.aligned_length == len(native) - 10
    assert c.rmsd == pytest.approx(0.0, abs=1e-3)
    # TM-score is normalised by the reference: 10 missing residues cost exactly their share
    assert c.tm_score == pytest.approx((len(native) - 10) / len(native), abs=1e-3)


def test_unrelated_sequences_are_refused():
    with pytest.raises(AlignmentError, match="do not align"):
        compare(read_structure(DATA / "1AHO_A.pdb"), read_structure(DATA / "1F32_A.pdb"))


def test_cli_json_and_errors(tmp_path, capsys):
    native = DATA / "1F32_A.pdb"
    assert main(["evaluate", str(native), str(native), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tm_score"] == pytest.approx(1.0)
    assert main(["evaluate", str(native), str(native), "--reference-chain", "Z"]) == 2
    assert "no chain 'Z'" in capsys.readouterr().err
    assert main(["evaluate", str(DATA / "1AHO_A.pdb"), str(native)]) == 2
    assert "do not align" in capsys.readouterr().err
    ligand_only = tmp_path / "ligand.pdb"
    ligand_only.write_text("HETATM    1  O   HOH A   1       0.000   0.000   0.000  1.00  0.00           O\nEND\n")
    assert main(["evaluate", str(ligand_only), str(native)]) == 2
    assert "protein" in capsys.readouterr().err.lower()


def test_benchmark_cli_on_the_sample_and_its_errors(tmp_path, tiny_weights, capsys):
    from foldlite.data.chains import sample_chainset_path

    out = tmp_path / "bench.csv"
    args = ["benchmark", "--data", str(sample_chainset_path()), "--limit", "1", "--lengths", "30-60",
            "--weights", tiny_weights, "-o", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "foldlite" in printed and "ideal_helix" in printed and out.exists()
    assert main(args) == 2  # never overwrites without --overwrite
    assert "exists" in capsys.readouterr().err
    assert main(args[:6] + ["5-1"] + args[7:] + ["--overwrite"]) == 2
    assert "MIN <= MAX" in capsys.readouterr().err
    assert main(["benchmark", "--data", str(sample_chainset_path()), "--lengths", "5000-6000",
                 "--weights", tiny_weights, "-o", str(tmp_path / "b2.csv")]) == 2
    assert "no test chains" in capsys.readouterr().err


def test_benchmark_cli_on_a_folder_of_structures(tmp_path, tiny_weights, capsys):
    import shutil

    folder = tmp_path / "structures"
    folder.mkdir()
    for name in ("1AHO_A.pdb", "1B0X_A.cif"):
        shutil.copy(DATA / name, folder / name)
    (folder / "broken.pdb").write_text("not a structure\n")
    out = tmp_path / "bench.csv"
    assert main(["benchmark", "--data", str(folder), "--lengths", "30-200", "--weights", tiny_weights,
                 "--seed", "0", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "broken.pdb" in printed and "benchmark: 2 chains" in printed
    import csv

    names = {row["name"] for row in csv.DictReader(open(out)) if row["method"] == "foldlite"}
    assert len(names) == 2


def test_model_metrics_reports_the_split_it_measured(tiny_weights, capsys):
    from foldlite.data.chains import sample_chainset_path

    code = main(["model-metrics", "--data", str(sample_chainset_path()), "--split", "test", "--limit", "3",
                 "--lengths", "30-80", "--weights", tiny_weights])
    out = capsys.readouterr().out
    assert code == 0 and "3 test chains" in out
    for label in ("distogram cross-entropy", "contact precision", "Q3"):
        assert label in out

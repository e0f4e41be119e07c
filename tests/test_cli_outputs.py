"""fold's output folder: bad -o paths are refused before anything is folded (exit 2), and no file of a
record is replaced without --overwrite (refused and named, or the whole record skipped; never a mix)."""
from __future__ import annotations

import json

import pytest

import foldlite.api
from foldlite.cli import main

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQ"


def _snapshot(folder):
    """name -> bytes of every record file in folder (summary.tsv describes each run: it is rewritten)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "summary.tsv"}


@pytest.fixture
def no_folding(monkeypatch):
    """Fails the test if anything is folded."""
    def fold(*args, **kwargs):
        raise AssertionError("folded although the options were bad")

    monkeypatch.setattr(foldlite.api, "fold_models", fold)


@pytest.mark.parametrize("out", ["outfile", "outfile/sub"])
def test_an_output_path_that_is_or_is_under_a_file_is_refused_before_folding(tmp_path, tiny_weights, capsys,
                                                                             no_folding, out):
    (tmp_path / "outfile").write_text("a user's file\n")
    fasta = tmp_path / "in.fasta"
    fasta.write_text(f">a\n{SEQUENCE}\n>b\n{SEQUENCE}\n")
    code = main(["fold", str(fasta), "-o", str(tmp_path / out), "--weights", tiny_weights, "--templates", "none"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "outfile") in err
    assert (tmp_path / "outfile").read_text() == "a user's file\n"


@pytest.mark.parametrize("argv", [
    ["data", "build", "DATA", "-o", "FILE/sub.npz"],
    ["library", "build", "DATA", "-o", "FILE/lib.npz"],
    ["data", "build", "DATA", "-o", "DIR", "--overwrite"],
])
def test_single_file_outputs_are_checked_before_the_work(tmp_path, capsys, argv):
    """A file output under a file, or onto a folder, is found before the work, not when it is written."""
    from pathlib import Path

    data = Path(__file__).parent / "fixtures"
    (tmp_path / "FILE").write_text("x\n")
    (tmp_path / "DIR").mkdir()
    argv = [a.replace("DATA", str(data)).replace("FILE", str(tmp_path / "FILE")).replace("DIR", str(tmp_path / "DIR"))
            for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "chains" not in captured.out  # the build report: no work was done
    assert len(captured.err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DIR", "FILE"] and not any((tmp_path / "DIR").iterdir())


def test_another_format_never_mixes_with_a_finished_record(tmp_path, tiny_weights, capsys):
    """The issue's case: a PDB run, then --format cif --seed 3 into the same folder."""
    out = tmp_path / "o1"
    base = ["fold", "--sequence", SEQUENCE, "-o", str(out), "--weights", tiny_weights, "--templates", "none"]
    assert main(base) == 0
    before = _snapshot(out)
    assert set(before) == {"query.pdb", "query.json", "query_distogram.npz", "query.png"}
    capsys.readouterr()

    assert main(base + ["--format", "cif", "--seed", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "query.pdb" in err and "--overwrite" in err
    assert _snapshot(out) == before  # nothing replaced, nothing added

    assert main(base + ["--format", "cif", "--seed", "3", "--overwrite"]) == 0
    after = _snapshot(out)
    assert set(after) == {"query.cif", "query.json", "query_distogram.npz", "query.png"}  # the old PDB went too
    assert json.loads(after["query.json"])["seed"] == 3


def test_rerun_with_other_plot_option_skips_the_whole_record(tmp_path, tiny_weights, capsys):
    out = tmp_path / "o"
    base = ["fold", "--sequence", SEQUENCE, "-o", str(out), "--weights", tiny_weights, "--templates", "none"]
    assert main(base + ["--no-plots"]) == 0
    before = _snapshot(out)
    assert main(base + ["--seed", "7"]) == 0
    assert "skipped" in capsys.readouterr().out
    assert _snapshot(out) == before


def test_more_models_than_a_finished_run_is_refused(tmp_path, tiny_weights, capsys):
    out = tmp_path / "o"
    base = ["fold", "--sequence", SEQUENCE, "-o", str(out), "--weights", tiny_weights, "--templates", "none",
            "--no-plots"]
    assert main(base + ["--num-models", "2"]) == 0
    before = _snapshot(out)
    assert main(base + ["--num-models", "3"]) == 2
    assert "query_rank_1.pdb" in capsys.readouterr().err
    assert _snapshot(out) == before
    assert main(base + ["--num-models", "2"]) == 0  # the same options: a rerun, skipped
    assert _snapshot(out) == before


def test_leftovers_of_an_interrupted_record_are_replaced_as_a_whole(tmp_path, tiny_weights):
    """No structure file yet: what an interrupted run left (here with a figure and another seed) goes."""
    out = tmp_path / "o"
    base = ["fold", "--sequence", SEQUENCE, "-o", str(out), "--weights", tiny_weights, "--templates", "none"]
    assert main(base + ["--seed", "5"]) == 0
    (out / "query.pdb").unlink()  # as if the run had been killed before its last file
    assert main(base + ["--no-plots"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["query.json", "query.pdb", "query_distogram.npz", "summary.tsv"]
    assert json.loads((out / "query.json").read_text())["seed"] == 0


def test_overwrite_replaces_every_file_of_the_record(tmp_path, tiny_weights):
    out = tmp_path / "o"
    base = ["fold", "--sequence", SEQUENCE, "-o", str(out), "--weights", tiny_weights, "--templates", "none"]
    assert main(base) == 0
    assert main(base + ["--no-plots", "--seed", "4", "--overwrite"]) == 0
    # no figure of the old prediction beside the new one
    assert sorted(p.name for p in out.iterdir()) == ["query.json", "query.pdb", "query_distogram.npz", "summary.tsv"]
    assert json.loads((out / "query.json").read_text())["seed"] == 4


def test_a_nine_residue_record_error_names_the_file(tmp_path, tiny_weights, capsys):
    fasta = tmp_path / "short.fasta"
    fasta.write_text(f">ok\n{SEQUENCE}\n>tiny\nMKTAYIAKQ\n")
    assert main(["fold", str(fasta), "-o", str(tmp_path / "o"), "--weights", tiny_weights]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(fasta) in err and "'tiny'" in err and "length 9" in err
    assert not (tmp_path / "o").exists()


def test_a_file_output_in_a_new_folder_is_written(tmp_path):
    from pathlib import Path

    out = tmp_path / "new" / "folder" / "chains.npz"
    assert main(["data", "build", str(Path(__file__).parent / "fixtures"), "-o", str(out)]) == 0
    assert out.stat().st_size > 0

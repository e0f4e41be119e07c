"""CLI: main([...]) folds and writes parseable files; every bad input gets its message and exit code 2."""
from __future__ import annotations

import json

import numpy as np
import pytest

from foldlite.cli import main
from foldlite.io.pdb import read_structure

GOOD = ">p1 first\nMKTAYIAKQRQISFVKSHFSRQ\n>p2\nGSHMLEDPVAGKTLLE\n"


def _fasta(tmp_path, text, name="in.fasta"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_fold_writes_every_output_and_they_parse(tmp_path, tiny_weights, capsys):
    out = tmp_path / "out"
    assert main(["fold", _fasta(tmp_path, GOOD), "-o", str(out), "--weights", tiny_weights]) == 0
    for record, length in (("p1", 22), ("p2", 16)):
        structure = read_structure(out / f"{record}.pdb")
        assert len(structure) == length
        summary = json.loads((out / f"{record}.json").read_text())
        assert summary["id"] == record and summary["length"] == length
        assert len(summary["plddt"]) == length and len(summary["secondary_structure"]) == length
        np.testing.assert_allclose(structure.confidence, summary["plddt"], atol=0.01)
        with np.load(out / f"{record}_distogram.npz") as arrays:  # the [L, L] maps (--full-distogram: more)
            assert arrays["distance"].shape == arrays["contacts"].shape == arrays["pae"].shape == (length, length)
            assert "distogram" not in arrays.files
        assert (out / f"{record}.png").read_bytes()[:4] == b"\x89PNG"
    table = capsys.readouterr().out
    assert "2/2 folded" in table and "p1" in table


def test_fold_sequence_option_cif_and_no_plots(tmp_path, tiny_weights):
    out = tmp_path / "out"
    code = main(["fold", "--sequence", "mktayiakqrqisfvkshfsrq", "--id", "lower", "-o", str(out),
                 "--format", "cif", "--no-plots", "--weights", tiny_weights])
    assert code == 0
    assert read_structure(out / "lower.cif").sequence == "MKTAYIAKQRQISFVKSHFSRQ"
    assert not (out / "lower.png").exists()


def test_num_models_ranks_by_confidence(tmp_path, tiny_weights):
    out = tmp_path / "out"
    assert main(["fold", "--sequence", "MKTAYIAKQRQISFVKSHFSRQ", "-o", str(out), "--num-models", "3",
                 "--no-plots", "--weights", tiny_weights]) == 0
    scores = [json.loads((out / f"query_rank_{k}.json").read_text())["mean_plddt"] for k in (1, 2, 3)]
    assert scores == sorted(scores, reverse=True)
    seeds = {json.loads((out / f"query_rank_{k}.json").read_text())["seed"] for k in (1, 2, 3)}
    assert seeds == {0, 1, 2}


def test_rerun_skips_done_records_and_never_overwrites_without_flag(tmp_path, tiny_weights, capsys):
    out = tmp_path / "out"
    fasta = _fasta(tmp_path, GOOD)
    assert main(["fold", fasta, "-o", str(out), "--no-plots", "--weights", tiny_weights]) == 0
    pdb = out / "p1.pdb"
    pdb.write_text("user edit\n")
    assert main(["fold", fasta, "-o", str(out), "--no-plots", "--weights", tiny_weights]) == 0
    assert pdb.read_text() == "user edit\n"
    assert "skipped" in capsys.readouterr().out
    assert main(["fold", fasta, "-o", str(out), "--no-plots", "--overwrite", "--weights", tiny_weights]) == 0
    assert pdb.read_text().startswith(("ATOM", "HEADER", "REMARK", "MODEL", "HELIX", "SHEET"))


def test_same_seed_gives_the_same_structure(tmp_path, tiny_weights):
    texts = []
    for run in ("a", "b"):
        out = tmp_path / run
        main(["fold", "--sequence", "MKTAYIAKQRQISFVKSHFSRQ", "-o", str(out), "--no-plots", "--seed", "5",
              "--weights", tiny_weights])
        texts.append((out / "query.pdb").read_text())
    assert texts[0] == texts[1]


def test_unsafe_record_ids_stay_inside_the_output_folder(tmp_path, tiny_weights):
    text = ">../../etc/x\nMKTAYIAKQRQISFVKSHFSRQ\n>a/b\nMKTAYIAKQRQISFVKSHFSRQ\n>" + "é" * 300 + "\nMKTAYIAKQRQISFVK\n"
    out = tmp_path / "deep" / "out"
    assert main(["fold", _fasta(tmp_path, text), "-o", str(out), "--no-plots", "--weights", tiny_weights]) == 0
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".json")
    assert len(written) == 3 and all(out in p.parents for p in written)
    ids = {json.loads(p.read_text())["id"] for p in written}
    assert ids == {"../../etc/x", "a/b", "é" * 300}


BAD_INPUTS = {
    "empty": ("", "empty"),
    "no_records": ("just some text\n", "FASTA"),
    "gap": (">x\nMKT-AYI\n", "position 4"),
    "chain_break": (">x\nMKTAYIAKQR:QISFVK\n", "position 11"),
    "digit": (">x\nMKTAYIAK1QRQ\n", "position 9"),
    "empty_sequence": (">x\n>y\nMKTAYIAKQRQ\n", "x"),
    "duplicate": (">x\nMKTAYIAKQRQ\n>x\nMKTAYIAKQRQ\n", "x"),
    "too_short": (">x\nMKTA\n", "x"),
    "pdb_file": ("ATOM      1  N   MET A   1      11.104   6.134  -6.504  1.00  0.00           N\n", "PDB"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_fasta_exits_2_with_one_line_and_writes_nothing(tmp_path, tiny_weights, capsys, case):
    text, expected = BAD_INPUTS[case]
    out = tmp_path / "out"
    assert main(["fold", _fasta(tmp_path, text), "-o", str(out), "--weights", tiny_weights]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error" in err and expected.lower() in err.lower()
    assert not out.exists() or not any(out.iterdir())


def test_bad_record_after_good_ones_writes_nothing(tmp_path, tiny_weights):
    out = tmp_path / "out"
    text = GOOD + ">bad\nMKTAYIAK QRQ\n"
    assert main(["fold", _fasta(tmp_path, text), "-o", str(out), "--weights", tiny_weights]) == 2
    assert not out.exists()


def test_binary_file_and_missing_file(tmp_path, tiny_weights, capsys):
    binary = tmp_path / "x.fasta"
    binary.write_bytes(bytes(range(256)) * 4)
    assert main(["fold", str(binary), "-o", str(tmp_path / "o"), "--weights", tiny_weights]) == 2
    assert main(["fold", str(tmp_path / "missing.fasta"), "-o", str(tmp_path / "o"), "--weights", tiny_weights]) == 2
    err = capsys.readouterr().err
    assert "binary" in err.lower() and "missing.fasta" in err


@pytest.mark.parametrize("argv, expected", [
    (["fold", "--sequence", "MKTAYIAKQRQ", "-o", "OUT", "--num-models", "0"], "at least 1"),
    (["fold", "--sequence", "MKTAYIAKQRQ", "-o", "OUT", "--seed", "-1"], "seed"),
    (["fold", "--sequence", "MKTAYIAKQRQ", "-o", "OUT", "--frobnicate"], "unrecognized"),
    (["fold", "--sequence", "MKTAYIAKQRQ", "-o", "OUT", "--format", "xyz"], "invalid choice"),
    (["fold", "-o", "OUT"], "FASTA file or --sequence"),
])
def test_invalid_options_exit_2(tmp_path, capsys, argv, expected, tiny_weights):
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv] + ["--weights", tiny_weights]
    assert main(argv) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cuda_without_cuda_is_a_clear_error(tmp_path, capsys, tiny_weights):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["fold", "--sequence", "MKTAYIAKQRQ", "-o", str(tmp_path / "o"), "--device", "cuda",
                 "--weights", tiny_weights]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_broken_weights_files_are_named(tmp_path, capsys):
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(b"PK\x03\x04garbage")
    assert main(["fold", "--sequence", "MKTAYIAKQRQ", "-o", str(tmp_path / "o"), "--weights", str(truncated)]) == 2
    err = capsys.readouterr().err
    assert "trunc.pt" in err and "format version 1" in err


def test_500_records_are_streamed_with_bounded_memory(tmp_path, tiny_weights, monkeypatch):
    """500 records: read one at a time, each written and dropped, so memory does not grow with the count.

    Folding itself is replaced by a copy of one real prediction (500 real folds take minutes; every
    other test folds for real): this checks the record loop, the writing and what is kept per record.
    """
    import dataclasses
    import inspect
    import pathlib
    import tracemalloc

    import foldlite.api
    from foldlite.cli import _fold_records, build_parser

    rng = np.random.default_rng(0)
    alphabet = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    count, length = 500, 24
    text = "".join(f">r{i}\n{''.join(rng.choice(alphabet, length))}\n" for i in range(count))
    fasta = _fasta(tmp_path, text)
    out = tmp_path / "out"
    args = build_parser().parse_args(["fold", fasta, "-o", str(out)])
    assert inspect.isgenerator(_fold_records(args))  # records are read one at a time, not held in a list

    model = foldlite.api.load_model(tiny_weights)
    real = foldlite.api.fold("M" * length, model=model, templates=None, keep_attention=False)
    memory = {}

    def quick_fold(sequence, record_id="query", **kwargs):
        number = int(record_id[1:])
        if number in (100, count - 1):
            # pathlib interns every file name (sys.intern); when the interpreter's table of interned
            # strings is rebuilt, its new table (megabytes, made once) is traced while the old one was
            # not: not memory per record, so pathlib's allocations are left out of the count
            snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, pathlib.__file__)])
            memory[number] = sum(stat.size for stat in snapshot.statistics("filename"))
        structure = dataclasses.replace(real.structure, sequence=sequence, name=record_id)
        return [dataclasses.replace(real, id=record_id, sequence=sequence, structure=structure)]

    monkeypatch.setattr(foldlite.api, "fold_models", quick_fold)
    tracemalloc.start()
    try:
        code = main(["fold", fasta, "-o", str(out), "--no-plots", "--quiet", "--weights", tiny_weights])
    finally:
        tracemalloc.stop()
    assert code == 0 and len(list(out.glob("*.pdb"))) == count
    # 400 more records written: Python-level memory grew by less than 1 MB (a few hundred bytes each)
    assert memory[count - 1] - memory[100] < 1_000_000, memory


def test_a_record_that_fails_to_fold_gives_exit_1_and_the_rest_are_written(tmp_path, tiny_weights,
                                                                            monkeypatch, capsys):
    import foldlite.api

    real_fold = foldlite.api.fold_models

    def failing_fold(sequence, **kwargs):
        if kwargs.get("record_id") == "p2":
            raise RuntimeError("simulated failure")
        return real_fold(sequence, **kwargs)

    monkeypatch.setattr(foldlite.api, "fold_models", failing_fold)
    out = tmp_path / "out"
    assert main(["fold", _fasta(tmp_path, GOOD), "-o", str(out), "--no-plots", "--weights", tiny_weights]) == 1
    assert (out / "p1.pdb").exists() and not (out / "p2.pdb").exists()
    assert "simulated failure" in capsys.readouterr().out


def test_train_recipe_only_for_new_runs(tmp_path, capsys):
    """--recipe picks the network of a new run; with --resume it would be silently ignored, so it is refused."""
    code = main(["train", "--out", str(tmp_path / "run"), "--resume", "--recipe", "small"])
    assert code == 2
    assert "--recipe" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()

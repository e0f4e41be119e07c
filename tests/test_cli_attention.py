"""`foldlite attention`: the grid figure and the per-head table are written, scored against a reference
when given; bad input exits 2 with one line and writes nothing."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from foldlite.cli import main
from foldlite.io.pdb import read_structure

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TWO = ">p1 first\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n>p2\nGSHMLEDPVAGKTLLEAAKK\n"


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_fasta_records_get_a_figure_and_a_table(tmp_path, tiny_weights, capsys):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(TWO)
    out = tmp_path / "out"
    assert main(["attention", str(fasta), "-o", str(out), "--weights", tiny_weights]) == 0
    for record in ("p1", "p2"):
        assert (out / f"{record}_attention.png").read_bytes()[:4] == b"\x89PNG"
        rows = _rows(out / f"{record}_attention.tsv")
        # 2 layers x 4 heads, then the pair stack (no probe fitted for the tiny weights: said on stderr)
        assert [r["map"] for r in rows] == [f"L{l}H{h}" for l in (1, 2) for h in (1, 2, 3, 4)] + ["pair_stack"]
        assert all(r["lr_top_l5_precision"] == "nan" for r in rows)  # nothing to score against
    captured = capsys.readouterr()
    assert "no --reference" in captured.out and "attention probe" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["p1_attention.png", "p1_attention.tsv",
                                                     "p2_attention.png", "p2_attention.tsv"]


def test_reference_scores_every_head_and_the_probe(tmp_path, tiny_weights, monkeypatch, capsys):
    from foldlite.evaluation.attention import network_maps, sample_pairs, fit_probe
    from foldlite.evaluation.metrics import contact_precision
    from foldlite.model.attention_probe import PROBE_ENV, symmetrized_apc
    from foldlite.model.checkpoint import model_from_checkpoint, read_checkpoint, sha256_of

    reference = read_structure(FIXTURES / "1AHO_A.pdb")
    network = model_from_checkpoint(read_checkpoint(tiny_weights), tiny_weights).eval()
    attention, contacts = network_maps(network, reference.sequence)
    # a probe for the tiny weights, fitted on this one chain (only the plumbing is tested here)
    x, y, _ = sample_pairs(symmetrized_apc(attention), reference.cb, np.random.default_rng(0), 2000)
    probe = fit_probe(x, y, 1e-3, num_heads=4)
    probe.weights_sha256 = sha256_of(tiny_weights)
    probe.save(tmp_path / "probe.npz")
    monkeypatch.setenv(PROBE_ENV, str(tmp_path / "probe.npz"))

    out = tmp_path / "out"
    assert main(["attention", reference.sequence, "--id", "1AHO_A", "-o", str(out), "--weights", tiny_weights,
                 "--reference", str(FIXTURES / "1AHO_A.pdb")]) == 0
    rows = {r["map"]: r for r in _rows(out / "1AHO_A_attention.tsv")}
    assert len(rows) == 8 + 2
    features = symmetrized_apc(attention)
    for c in range(8):
        expected = contact_precision(features[c], reference.cb, min_sep=24)
        assert float(rows[f"L{c // 4 + 1}H{c % 4 + 1}"]["lr_top_l5_precision"]) == pytest.approx(expected, abs=1e-4)
        assert float(rows[f"L{c // 4 + 1}H{c % 4 + 1}"]["probe_weight"]) == pytest.approx(probe.weights[c], abs=1e-4)
    assert float(rows["pair_stack"]["lr_top_l5_precision"]) == pytest.approx(
        contact_precision(contacts, reference.cb, min_sep=24), abs=1e-4)
    assert 0 <= float(rows["attention_probe"]["lr_top_l5_precision"]) <= 1
    assert "best heads" in capsys.readouterr().out


def test_a_reference_with_missing_residues_is_aligned(tmp_path, tiny_weights):
    reference = read_structure(FIXTURES / "1AHO_A.pdb")
    assert main(["attention", "X" * 5 + reference.sequence, "-o", str(tmp_path / "o"), "--weights", tiny_weights,
                 "--reference", str(FIXTURES / "1AHO_A.pdb")]) == 0
    assert len(_rows(tmp_path / "o" / "query_attention.tsv")) == 9


@pytest.mark.parametrize("argv, message", [
    (["missing.fasta"], "missing.fasta: no such FASTA file"),
    (["MKTAYIAKQRQ1SFVKSHFSRQ"], "'1' at position 12"),
    (["MKTAY"], "no such FASTA file; as a sequence"),
    (["MKTAYIAKQRQISFVKSHFSRQ", "--reference", "FIXTURES/1F32_A.pdb"], "does not match the sequence"),
    (["FASTA2", "--reference", "FIXTURES/1AHO_A.pdb"], "needs a single record"),
    (["MKTAYIAKQRQISFVKSHFSRQ", "--reference", "nowhere.pdb"], "nowhere.pdb"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, tiny_weights, capsys, argv, message):
    fasta = tmp_path / "two.fasta"
    fasta.write_text(TWO)
    argv = [str(fasta) if a == "FASTA2" else a.replace("FIXTURES", str(FIXTURES)) for a in argv]
    out = tmp_path / "out"
    assert main(["attention", *argv, "-o", str(out), "--weights", tiny_weights]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_modified_residues_are_read_as_their_parents_and_said(tmp_path, tiny_weights, capsys):
    assert main(["attention", "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVU", "-o", str(tmp_path / "o"),
                 "--weights", tiny_weights]) == 0
    assert "U" in capsys.readouterr().err
    assert len(_rows(tmp_path / "o" / "query_attention.tsv")) == 9


def test_existing_outputs_are_kept_without_overwrite(tmp_path, tiny_weights, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "query_attention.tsv").write_text("mine\n")
    sequence = "MKTAYIAKQRQISFVKSHFSRQ"
    assert main(["attention", sequence, "-o", str(out), "--weights", tiny_weights]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "query_attention.tsv").read_text() == "mine\n" and not (out / "query_attention.png").exists()
    assert main(["attention", sequence, "-o", str(out), "--weights", tiny_weights, "--overwrite"]) == 0
    assert _rows(out / "query_attention.tsv")[0]["map"] == "L1H1"
    (tmp_path / "file").write_text("")
    assert main(["attention", sequence, "-o", str(tmp_path / "file"), "--weights", tiny_weights]) == 2

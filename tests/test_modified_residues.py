"""Residues folded as others (U as C, O as K, B/Z/J as X) are said: a warning, and the JSON lists them."""
from __future__ import annotations

import json

import pytest

import foldlite
from foldlite.api import ModifiedResidueWarning
from foldlite.cli import main
from foldlite.io.fasta import parse_fasta_text
from foldlite.tokenizer import ModifiedResidue, modified_residues

# U at 4, B at 11, z (lower case) at 20
GIVEN = "MKTUAYIAKQBRQISFVKSzHFSRQ"
EXPECTED = [{"position": 4, "given": "U", "folded_as": "C"},
            {"position": 11, "given": "B", "folded_as": "X"},
            {"position": 20, "given": "Z", "folded_as": "X"}]


def test_modified_residues_lists_every_substitution():
    assert modified_residues(GIVEN) == [ModifiedResidue(**m) for m in EXPECTED]
    assert modified_residues("MKOJ*") == [ModifiedResidue(3, "O", "K"), ModifiedResidue(4, "J", "X")]
    assert modified_residues("MKTAYX") == []  # X is what the user wrote: nothing was changed
    assert parse_fasta_text(f">r\n{GIVEN[:12]}\n{GIVEN[12:]}\n")[0].modified == tuple(
        ModifiedResidue(**m) for m in EXPECTED)


def test_fold_warns_and_keeps_them(tiny_weights):
    model = foldlite.load_model(tiny_weights)
    with pytest.warns(ModifiedResidueWarning, match=r"U \(selenocysteine\) at 4 as C"):
        prediction = foldlite.fold(GIVEN, model=model, templates=None)
    assert prediction.sequence[3] == "C" and prediction.sequence[10] == "X"
    assert prediction.summary()["modified_residues"] == EXPECTED
    assert foldlite.fold("MKTAYIAKQRQISFVK", model=model, templates=None).summary()["modified_residues"] == []


def test_cli_warns_on_stderr_and_writes_them_into_the_json(tmp_path, tiny_weights, capsys):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(f">seleno\n{GIVEN}\n>plain\nMKTAYIAKQRQISFVK\n")
    out = tmp_path / "out"
    assert main(["fold", str(fasta), "-o", str(out), "--no-plots", "--quiet", "--weights", tiny_weights,
                 "--templates", "none"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1  # one line per record with substitutions, not one more from the library
    assert str(fasta) in warnings[0] and "'seleno'" in warnings[0]
    assert "U (selenocysteine) at 4 as C" in warnings[0] and "B (Asx (D or N)) at 11 as X" in warnings[0]
    assert json.loads((out / "seleno.json").read_text())["modified_residues"] == EXPECTED
    assert json.loads((out / "plain.json").read_text())["modified_residues"] == []
    # B and Z are written as UNK residues
    residues = {line[17:20] for line in (out / "seleno.pdb").read_text().splitlines() if line.startswith("ATOM")}
    assert "UNK" in residues

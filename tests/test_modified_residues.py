"""Residues folded as others (U as C, O as K, B/Z/J as X) are said: a warning, and the JSON lists them."""
from __future__ import annotations

import pytest

import foldlite
from foldlite.api import ModifiedResidueWarning
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

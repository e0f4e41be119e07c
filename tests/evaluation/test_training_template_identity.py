"""tools/training_template_identity.py: the training templates it measures are real, non-copy hits."""
from __future__ import annotations

from foldlite.constants import COPY_IDENTITY
from tools_loader import load_tool


def _tool():
    return load_tool("training_template_identity")


def test_identities_are_of_built_templates_below_the_copy_limit(chainset):
    # the sample data holds no train split: its valid chains and their cluster mates stand in
    identities, with_mates, train = _tool().training_identities(chainset, count=30, seed=0, split="valid")
    assert 0 < with_mates <= train
    assert len(identities) > 0
    assert ((identities > 0) & (identities < COPY_IDENTITY)).all()


def test_main_prints_the_percentiles(chainset, capsys):
    assert _tool().main(["--data", str(chainset.path), "--chains", "10", "--split", "valid"]) == 0
    assert "identity percentiles" in capsys.readouterr().out

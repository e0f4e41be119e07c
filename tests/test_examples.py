"""The examples run as shipped: the quickstart script executes and the notebook holds the same cells."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from foldlite.io.fasta import read_fasta_all

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_example_fasta_is_valid():
    records = read_fasta_all(EXAMPLES / "proteins.fasta")
    assert [r.id for r in records][:2] == ["ubiquitin_human", "protein_G_B1"]


def test_notebook_matches_the_script():
    sys.path.insert(0, str(EXAMPLES))
    from make_notebook import script_cells

    notebook = json.loads((EXAMPLES / "quickstart.ipynb").read_text())
    expected = script_cells((EXAMPLES / "quickstart.py").read_text())
    assert [(c["cell_type"], "".join(c["source"])) for c in notebook["cells"]] == expected


@pytest.mark.slow
def test_quickstart_script_runs_with_the_shipped_weights(tmp_path):
    result = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py"), str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mean pLDDT" in result.stdout
    for name in ("ubiquitin.pdb", "ubiquitin.json", "ubiquitin_overview.png", "ubiquitin_attention.png"):
        assert (tmp_path / name).stat().st_size > 0

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


def test_notebook_cells_have_ids():
    notebook = json.loads((EXAMPLES / "quickstart.ipynb").read_text())
    assert (notebook["nbformat"], notebook["nbformat_minor"]) >= (4, 5)
    ids = [cell.get("id") for cell in notebook["cells"]]
    assert all(ids) and len(set(ids)) == len(ids)


@pytest.mark.slow
def test_notebook_executes_and_shows_the_figures_and_the_3d_view(tmp_path, monkeypatch):
    """Run headless as Jupyter would (a local kernel): the figures are shown inline, the 3D view is shown,
    and the notebook leaves no files beside itself."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's temporary output folder goes here
    monkeypatch.delenv("MPLBACKEND", raising=False)  # as in a plain Jupyter: the kernel's inline backend
    before = sorted(p.relative_to(EXAMPLES) for p in EXAMPLES.rglob("*") if "__pycache__" not in p.parts)
    notebook = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    nbformat.validate(notebook)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    after = sorted(p.relative_to(EXAMPLES) for p in EXAMPLES.rglob("*") if "__pycache__" not in p.parts)
    assert after == before

    def shown(cell, mime):
        return [out["data"][mime] for out in cell.get("outputs", []) if mime in out.get("data", {})]

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not [o for o in c.outputs if o.output_type == "error"] for c in code_cells)
    figure_cells = [c for c in code_cells if "pred.plot()" in c.source or "plt.subplots" in c.source]
    assert len(figure_cells) == 2 and all(shown(c, "image/png") for c in figure_cells)
    html = "".join(shown(code_cells[-1], "text/html"))
    assert "3Dmol" in html and "ATOM" in html  # the viewer, with the predicted structure in it


ATTENTION = EXAMPLES / "attention_to_fold.ipynb"


def test_attention_notebook_matches_its_script_and_is_committed_without_outputs():
    sys.path.insert(0, str(EXAMPLES))
    from make_notebook import script_cells

    notebook = json.loads(ATTENTION.read_text(encoding="utf-8"))
    expected = script_cells((EXAMPLES / "attention_to_fold.py").read_text(encoding="utf-8"))
    assert [(c["cell_type"], "".join(c["source"])) for c in notebook["cells"]] == expected
    assert all(not c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code")
    ids = [cell.get("id") for cell in notebook["cells"]]
    assert all(ids) and len(set(ids)) == len(ids)


@pytest.mark.slow
def test_attention_notebook_executes_and_shows_a_figure_at_every_stage(tmp_path, monkeypatch):
    """From attention to a fold, executed as Jupyter would: the hand-computed layer matches the model,
    each stage's figure is shown inline, the TM-score is printed, nothing is left beside the notebook."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's PDB goes to a temporary folder here
    monkeypatch.delenv("MPLBACKEND", raising=False)
    before = sorted(p.relative_to(EXAMPLES) for p in EXAMPLES.rglob("*") if "__pycache__" not in p.parts)
    notebook = nbformat.read(ATTENTION, as_version=4)
    nbformat.validate(notebook)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    after = sorted(p.relative_to(EXAMPLES) for p in EXAMPLES.rglob("*") if "__pycache__" not in p.parts)
    assert after == before

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not [o for o in c.outputs if o.output_type == "error"] for c in code_cells)
    figure_cells = [c for c in code_cells if "plt.show()" in c.source or "display(plot_attention" in c.source]
    assert len(figure_cells) == 7
    for cell in figure_cells:
        assert any("image/png" in out.get("data", {}) for out in cell.outputs), cell.source[:80]
    text = "".join(out.get("text", "") for c in code_cells for out in c.outputs if out.output_type == "stream")
    assert "max |hand - model|" in text and "single sequence: TM-score" in text
    assert any(tmp_path.glob("foldlite_attention_*/1AHO_A.pdb"))  # written to the temporary folder

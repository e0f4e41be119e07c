"""fold(relax=True) / foldlite fold --relax and the pairwise confidence on Prediction, files and figure."""
from __future__ import annotations

import json

import numpy as np
import pytest

import foldlite
from foldlite.cli import main
from foldlite.io.pdb import read_structure

pytest.importorskip("openmm")
pytest.importorskip("pdbfixer")

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


@pytest.fixture(scope="module")
def relaxed(model):
    return foldlite.fold(SEQ, model=model, seed=1, templates=None, relax=True)


def test_prediction_carries_pae_and_ptm(relaxed):
    length = len(SEQ)
    assert relaxed.pae.shape == (length, length)
    assert np.all(relaxed.pae >= 0) and np.all(np.isfinite(relaxed.pae))
    np.testing.assert_allclose(relaxed.pae, relaxed.pae.T)
    assert 0.0 <= relaxed.ptm <= 1.0
    summary = relaxed.summary()
    assert summary["ptm"] == pytest.approx(relaxed.ptm, abs=1e-4) and summary["mean_pae"] > 0


def test_relaxed_prediction_is_full_atom_and_keeps_its_unrelaxed_model(relaxed):
    assert relaxed.relaxed and relaxed.relax_info["status"] == "ok"
    assert relaxed.structure.full_atom and not relaxed.unrelaxed.full_atom
    moved = relaxed.structure.coords[:, 1] - relaxed.unrelaxed.coords[:, 1]  # Cα [L, 3] Å
    # an untrained model's backbone is far from ideal, so it moves more than a real one (test_relax: < 0.5 Å)
    assert np.sqrt((moved ** 2).sum(-1).mean()) < 2.0
    np.testing.assert_array_equal(relaxed.plddt, relaxed.unrelaxed.confidence)
    assert relaxed.timings["relax"] > 0
    assert " CZ " in relaxed.to_pdb()  # Phe, Tyr and Arg side chains


def test_save_writes_relaxed_and_unrelaxed_models_and_the_pae(tmp_path, relaxed):
    paths = relaxed.save(tmp_path, name="r")
    assert paths["unrelaxed"].name == "r_unrelaxed.pdb"
    full, backbone = read_structure(paths["structure"]), read_structure(paths["unrelaxed"])
    assert full.sequence == backbone.sequence == SEQ
    assert paths["structure"].read_text().count("\nATOM") > 3 * paths["unrelaxed"].read_text().count("\nATOM")
    with np.load(paths["distogram"]) as arrays:
        np.testing.assert_allclose(arrays["pae"], relaxed.pae, atol=0.02)
        assert float(arrays["ptm"]) == pytest.approx(relaxed.ptm, abs=1e-6)
    summary = json.loads(paths["json"].read_text())
    assert summary["relax"]["status"] == "ok" and summary["files"]["unrelaxed"] == "r_unrelaxed.pdb"


def test_figure_has_a_pae_panel_with_colour_bar(relaxed):
    import matplotlib.pyplot as plt

    figure = relaxed.plot()
    titles = [axis.get_title() for axis in figure.axes]
    assert any("PAE" in title and "pTM" in title for title in titles)
    assert any("predicted distance error" in axis.get_ylabel() for axis in figure.axes)  # its colour bar
    plt.close(figure)


def test_view_shows_side_chains_as_sticks_only_for_full_atom_models(relaxed):
    pytest.importorskip("py3Dmol")
    assert "stick" in relaxed.view().startjs
    assert "stick" not in relaxed.view(sidechains=False).startjs


def test_failed_relax_keeps_the_unrelaxed_model_and_the_exit_code_says_so(tmp_path, tiny_weights, monkeypatch,
                                                                          capsys):
    import foldlite.relax.pipeline as pipeline

    def broken(structure, **_):
        raise pipeline.RelaxError("minimisation diverged (test)")

    monkeypatch.setattr(pipeline, "relax_structure", broken)
    prediction = foldlite.fold(SEQ, model=foldlite.load_model(tiny_weights), templates=None, relax=True)
    assert not prediction.relaxed and not prediction.structure.full_atom
    assert prediction.relax_info["status"] == "failed: minimisation diverged (test)"

    out = tmp_path / "out"
    code = main(["fold", "--sequence", SEQ, "--id", "p", "-o", str(out), "--relax", "--no-plots",
                 "--templates", "none", "--weights", tiny_weights])
    assert code == 1
    assert len(read_structure(out / "p.pdb")) == len(SEQ)  # the unrelaxed model, written
    assert not (out / "p_unrelaxed.pdb").exists()
    table = capsys.readouterr().out
    assert "relax failed: minimisation diverged (test)" in table
    assert json.loads((out / "p.json").read_text())["relax"]["status"].startswith("failed")


def test_cli_relax_writes_a_full_atom_model(tmp_path, tiny_weights, capsys):
    out = tmp_path / "out"
    assert main(["fold", "--sequence", SEQ, "--id", "p", "-o", str(out), "--relax", "--no-plots",
                 "--templates", "none", "--weights", tiny_weights]) == 0
    assert (out / "p_unrelaxed.pdb").exists()
    text = (out / "p.pdb").read_text()
    assert " HA " in text and " OXT " in text
    assert "pTM" in capsys.readouterr().out

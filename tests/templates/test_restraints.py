"""Template-guided geometry (foldlite.templates) and its use by fold() and `foldlite fold`.

Everything runs on a library built from the bundled sample chain set and the tiny untrained model,
so any good structure below comes from the template restraints, not from the network.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import foldlite
import foldlite.templates.resolve as resolve_module
from foldlite.api import SINGLE_SEQUENCE_WEIGHTS, run_network
from foldlite.geometry.backbone import ca_virtual_torsions
from foldlite.cli import main
from foldlite.geometry.confidence import expected_lddt
from foldlite.constants import angle_to_bin
from foldlite.geometry.reconstruct import DEFAULT_RESTARTS, reconstruct
from foldlite.templates.library import Library
from foldlite.evaluation.metrics import tm_score
from foldlite.templates.restraints import MAX_WEIGHT, combine, template_restraints, template_weight
from foldlite.templates.search import find_templates
from foldlite.templates.resolve import resolve_templates


@pytest.fixture(scope="module")
def chain(chainset):
    """A short sample chain (fast to fold) that is in the library under its own name."""
    index = int(np.flatnonzero((chainset.lengths >= 50) & (chainset.lengths <= 70))[0])
    return chainset.chain(index)


@pytest.fixture(scope="module")
def with_self_template(chain, model, library):
    return foldlite.fold(chain.sequence, model=model, record_id=chain.name, templates=library)


def test_template_weight_follows_identity():
    assert template_weight(0.05) == 0.0 and template_weight(0.10) == 0.0
    assert 0.0 < template_weight(0.2) < template_weight(0.3) < MAX_WEIGHT
    assert template_weight(0.4) == template_weight(1.0) == MAX_WEIGHT


def test_self_template_reproduces_the_native_structure(with_self_template, chain):
    prediction = with_self_template
    assert prediction.templates[0]["name"] == chain.name and prediction.templates[0]["identity"] == 1.0
    assert tm_score(prediction.structure.ca, chain.backbone[:, 1]).tm_score > 0.8
    # the stored distogram stays the network's; the geometry used the restrained one
    assert prediction.restrained_distogram is not None
    assert not np.allclose(prediction.restrained_distogram, prediction.distogram)
    np.testing.assert_allclose(prediction.restrained_distogram.sum(-1), 1.0, atol=1e-4)


def test_own_restraints_match_true_distances_and_torsions(chain, library):
    hits = find_templates(chain.sequence, library)
    assert hits and hits[0].name == chain.name
    restraints = template_restraints(hits[:1], library, len(chain.sequence))
    length = len(chain.sequence)
    # the template distogram peaks at the true Cβ distance (bins are 0.3125 Å; the chain is its own
    # template, identity 1, so sigma is DISTANCE_SIGMA = 0.3 Å)
    true = np.linalg.norm(chain.cb[:, None] - chain.cb[None, :], axis=-1)
    centres = np.append(np.linspace(2.15625, 21.84375, 64), 25.0)
    peak = centres[restraints.distogram.argmax(-1)]
    in_range = (true > 3.0) & (true < 21.0)
    assert np.median(np.abs(peak - true)[in_range]) < 0.5
    # torsions: known for every residue but the chain ends, and at the native's bin
    known = restraints.residue_weight > 0
    assert not known[0] and not known[-2] and not known[-1] and known[1:-2].mean() > 0.9
    native = angle_to_bin(ca_virtual_torsions(chain.backbone[:, 1])[known])
    assert np.mean(np.abs(restraints.torsion[known].argmax(-1) - native) <= 1) > 0.95
    assert restraints.distogram.shape == (length, length, 65) and restraints.torsion.shape == (length, 36)


def test_restraints_do_not_depend_on_how_rows_are_chunked(chain, library, monkeypatch):
    """The binning runs ahead in helper threads, chunk by chunk (restraints._binned_row_chunks): with
    4-row chunks (many chunks, threads) the arrays equal those of one chunk (no threads), bit for bit."""
    import foldlite.templates.restraints as restraints_module

    hits = find_templates(chain.sequence, library)
    monkeypatch.setattr(restraints_module, "_ROW_CHUNK", 10_000)
    whole = template_restraints(hits, library, len(chain.sequence))
    monkeypatch.setattr(restraints_module, "_ROW_CHUNK", 4)
    chunked = template_restraints(hits, library, len(chain.sequence))
    for name, expected, got in zip(whole._fields, whole, chunked):
        assert np.array_equal(expected, got), name


def test_weights_are_zero_where_nothing_is_aligned_and_combined_rows_sum_to_one(chain, library):
    # an unrelated 20-residue N-terminal extension: aligned nowhere
    query = "PGWSNDEHYRPGWSNDEHYR" + chain.sequence
    hits = find_templates(query, library)
    assert hits and hits[0].name == chain.name
    restraints = template_restraints(hits[:1], library, len(query))
    aligned = np.zeros(len(query), dtype=bool)
    aligned[hits[0].query_idx] = True
    assert not aligned[:20].any()
    weight = restraints.pair_weight
    assert np.all(weight[~aligned] == 0) and np.all(weight[:, ~aligned] == 0)
    assert np.all(np.diag(weight) == 0) and weight.max() <= MAX_WEIGHT
    off_diagonal = aligned[:, None] & aligned[None, :] & ~np.eye(len(query), dtype=bool)
    # each pair is trusted by identity times the search's confidence in both aligned residues
    expected = np.zeros_like(weight)
    sure = hits[0].pair_confidence()
    expected[np.ix_(hits[0].query_idx, hits[0].query_idx)] = template_weight(hits[0].identity) * np.outer(sure, sure)
    np.testing.assert_allclose(weight[off_diagonal], expected[off_diagonal], rtol=1e-5)
    assert np.all(restraints.residue_weight[:20] == 0)

    rng = np.random.default_rng(0)
    pred = rng.dirichlet(np.ones(65), size=(len(query), len(query))).astype(np.float32)
    pred = 0.5 * (pred + pred.transpose(1, 0, 2))  # network distograms are symmetric
    torsion = rng.dirichlet(np.ones(36), size=len(query)).astype(np.float32)
    distogram, mixed_torsion = combine(pred, torsion, restraints)
    np.testing.assert_allclose(distogram.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(mixed_torsion.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(distogram, distogram.transpose(1, 0, 2), atol=1e-6)
    assert np.array_equal(distogram[:20], pred[:20])  # weight 0: the prediction exactly


def test_no_templates_is_the_network_only_pipeline(chain, model):
    a = foldlite.fold(chain.sequence, model=model, seed=2, templates="none")
    b = foldlite.fold(chain.sequence, model=model, seed=2, templates=None)
    assert np.array_equal(a.structure.coords, b.structure.coords)
    assert a.templates == [] and a.restrained_distogram is None and a.summary()["templates"] == []
    # exactly what fold() did before templates existed
    net = run_network(model, chain.sequence, keep_attention=False)
    result = reconstruct(net.distogram, net.ca_torsion, seed=2, num_restarts=DEFAULT_RESTARTS, clean_restarts=2,
                         weights=SINGLE_SEQUENCE_WEIGHTS)  # fold()'s geometry without template restraints
    assert np.array_equal(a.structure.coords, result.coords - result.coords[:, 1].mean(axis=0))  # fold centres it
    np.testing.assert_allclose(a.plddt, model.calibration(expected_lddt(net.distogram, result.coords[:, 4])))


def test_exclusion_by_name_removes_the_self_hit(chain, model, library):
    hits = find_templates(chain.sequence, library, exclude_names={chain.name})
    assert chain.name not in [h.name for h in hits]
    prediction = foldlite.fold(chain.sequence, model=model, templates=library, exclude_templates=[chain.name],
                               max_template_identity=0.95)
    assert all(t["name"] != chain.name and t["identity"] < 0.95 for t in prediction.templates)


def test_chance_hits_are_rejected(library):
    rng = np.random.default_rng(3)
    random_sequence = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=80))
    assert find_templates(random_sequence, library) == []


def test_summary_and_saved_json_list_the_template(with_self_template, chain, tmp_path):
    summary = with_self_template.summary()
    entry = summary["templates"][0]
    assert entry["name"] == chain.name and entry["query_range"][0] >= 1
    assert set(entry) >= {"name", "identity", "coverage", "evalue", "query_range", "template_range"}
    paths = with_self_template.save(tmp_path, plots=False)
    saved = json.loads(paths["json"].read_text())
    assert saved["templates"][0]["name"] == chain.name


def test_resolve_templates_auto_none_and_cache(library_path, monkeypatch):
    assert resolve_templates(None) is None and resolve_templates("none") is None
    monkeypatch.setattr(resolve_module, "default_library_path", lambda: library_path)
    first = resolve_templates("auto")
    assert isinstance(first, Library) and resolve_templates(str(library_path)) is first  # cached
    monkeypatch.setattr(resolve_module, "default_library_path", lambda: library_path.parent / "absent.npz")
    assert resolve_templates("auto") is None  # no shipped library: fold without templates
    with pytest.raises(TypeError):
        resolve_templates(3)


def test_cli_fold_reports_templates(tmp_path, tiny_weights, library_path, chain, capsys):
    out = tmp_path / "out"
    assert main(["fold", "--sequence", chain.sequence, "--id", "q", "-o", str(out), "--no-plots",
                 "--weights", tiny_weights, "--templates", str(library_path)]) == 0
    assert json.loads((out / "q.json").read_text())["templates"][0]["name"] == chain.name
    table = capsys.readouterr().out
    assert "template" in table and f"{chain.name} 100%" in table

    out = tmp_path / "none"
    assert main(["fold", "--sequence", chain.sequence, "--id", "q", "-o", str(out), "--no-plots",
                 "--weights", tiny_weights, "--templates", "none"]) == 0
    assert json.loads((out / "q.json").read_text())["templates"] == []


@pytest.mark.parametrize("content", [None, b"not a library"])
def test_cli_bad_library_exits_2_with_one_line(tmp_path, tiny_weights, capsys, content):
    path = tmp_path / "lib.npz"
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "out"
    assert main(["fold", "--sequence", "MKTAYIAKQRQISFVKSHFSRQ", "-o", str(out), "--weights", tiny_weights,
                 "--templates", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lib.npz" in err
    assert not out.exists()

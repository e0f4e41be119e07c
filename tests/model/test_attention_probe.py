"""The attention-only contact probe: APC on a hand example, symmetry and range of its probabilities,
its file round trip, refusals (other weights, damaged file), and Prediction.attention_contacts."""
from __future__ import annotations

import numpy as np
import pytest

import foldlite
from foldlite.model.attention_probe import (PROBE_ENV, AttentionProbe, ProbeError, attention_contacts,
                                            default_probe_path, load_probe, symmetrized_apc)


def test_apc_matches_a_hand_computed_example():
    # A + Aᵀ = [[0, 1, 2], [1, 0, 3], [2, 3, 0]]: row sums 3, 4, 5; total 12;
    # APC_ij = F_ij - r_i r_j / 12
    raw = np.array([[[0, 1, 0], [0, 0, 3], [2, 0, 0]]], dtype=np.float32)
    expected = np.array([[0 - 9 / 12, 1 - 12 / 12, 2 - 15 / 12],
                         [1 - 12 / 12, 0 - 16 / 12, 3 - 20 / 12],
                         [2 - 15 / 12, 3 - 20 / 12, 0 - 25 / 12]])
    np.testing.assert_allclose(symmetrized_apc(raw)[0], expected, atol=1e-6)


def test_apc_removes_a_rank_one_background_and_keeps_symmetry():
    rng = np.random.default_rng(0)
    u = rng.random(12)
    background = np.outer(u, u)[None]  # [1, L, L]: the kind of signal APC is there to remove
    np.testing.assert_allclose(symmetrized_apc(background / 2), 0.0, atol=1e-6)
    maps = rng.random((3, 12, 12)).astype(np.float32)
    apc = symmetrized_apc(maps)
    np.testing.assert_allclose(apc, apc.transpose(0, 2, 1), atol=1e-6)
    np.testing.assert_allclose(apc.sum(axis=(1, 2)), 0.0, atol=1e-4)  # the background takes the total
    with pytest.raises(ValueError, match=r"\[C, L, L\]"):
        symmetrized_apc(maps[0])


def _probe(channels=4, heads=2, sha=""):
    rng = np.random.default_rng(1)
    return AttentionProbe(weights=rng.normal(size=channels), bias=-2.0, mean=rng.normal(size=channels) * 0.01,
                          scale=rng.random(channels) + 0.5, num_heads=heads, weights_sha256=sha,
                          provenance={"command": "test"})


def test_probe_probabilities_are_symmetric_in_range_and_round_trip(tmp_path):
    probe = _probe()
    maps = np.random.default_rng(2).dirichlet(np.ones(15), size=(4, 15)).astype(np.float32)  # rows sum to 1
    probs = probe.predict(maps)
    assert probs.shape == (15, 15) and probs.dtype == np.float32
    assert np.all((probs > 0) & (probs < 1))
    np.testing.assert_allclose(probs, probs.T, atol=1e-6)
    # the same as the written-out formula
    features = symmetrized_apc(maps)
    logits = np.einsum("c,cij->ij", probe.weights, (features - probe.mean[:, None, None]) / probe.scale[:, None, None])
    np.testing.assert_allclose(probs, 1 / (1 + np.exp(-(logits + probe.bias))), atol=1e-5)
    path = tmp_path / "probe.npz"
    probe.save(path)
    again = AttentionProbe.load(path)
    np.testing.assert_array_equal(again.weights, probe.weights)
    assert again.provenance == {"command": "test"} and again.num_heads == 2
    np.testing.assert_allclose(again.predict(maps), probs)
    with pytest.raises(ProbeError, match="takes 4 maps"):
        probe.predict(maps[:3])


def test_damaged_or_missing_probe_files_are_named(tmp_path):
    with pytest.raises(ProbeError, match="no attention probe file"):
        AttentionProbe.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ProbeError, match="bad.npz: not a readable attention probe"):
        AttentionProbe.load(bad)


def test_a_probe_for_other_weights_is_refused():
    maps = np.full((4, 12, 12), 1 / 12, dtype=np.float32)
    probe = _probe(sha="abcdef1234567890")
    with pytest.raises(ProbeError, match="fitted for weights abcdef123456"):
        attention_contacts(maps, "foldlite 0.1.0 weights 999999999999", probe=probe)
    assert attention_contacts(maps, "foldlite 0.1.0 weights abcdef123456", probe=probe).shape == (12, 12)
    with pytest.raises(ProbeError, match="keep_attention=False"):
        attention_contacts(None, "", probe=probe)


def test_the_shipped_probe_is_for_the_shipped_weights():
    from foldlite.model.checkpoint import default_weights_path, sha256_of

    probe = load_probe(default_probe_path())
    assert probe.weights_sha256 == sha256_of(default_weights_path())
    assert probe.num_features == 48 and probe.num_heads == 8  # 6 layers x 8 heads
    for key in ("command", "date", "train_chains", "l2"):
        assert probe.provenance[key]


def test_prediction_attention_contacts_with_a_probe_for_its_weights(tiny_weights, tmp_path, monkeypatch):
    from foldlite.model.checkpoint import sha256_of

    model = foldlite.load_model(tiny_weights)
    sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
    pred = foldlite.fold(sequence, model=model, templates=None)
    channels = pred.attention.shape[0]  # 2 layers x 4 heads
    path = tmp_path / "tiny_probe.npz"
    _probe(channels, 4, sha=sha256_of(tiny_weights)).save(path)
    monkeypatch.setenv(PROBE_ENV, str(path))
    contacts = pred.attention_contacts
    assert contacts.shape == (len(sequence), len(sequence))
    np.testing.assert_allclose(contacts, contacts.T, atol=1e-6)
    assert np.all((contacts > 0) & (contacts < 1))
    monkeypatch.delenv(PROBE_ENV)  # the shipped probe: fitted for the shipped weights, not these
    with pytest.raises(ProbeError, match="fitted for weights"):
        pred.attention_contacts


@pytest.mark.slow
def test_prediction_attention_contacts_with_the_shipped_model():
    sequence = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
    pred = foldlite.fold(sequence, templates=None, num_restarts=1)
    contacts = pred.attention_contacts
    assert contacts.shape == (len(sequence), len(sequence))
    np.testing.assert_allclose(contacts, contacts.T, atol=1e-6)
    assert np.all((contacts > 0) & (contacts < 1)) and contacts.std() > 0

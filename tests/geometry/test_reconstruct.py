"""Tests for foldlite.geometry: distogram -> coordinates -> backbone.

Fixture: tests/fixtures/geometry_chain.npz holds two real chains (N, CA, C, O in 0.01 Å, see
tests/fixtures/README): 'small' (1PCH_A, 88 residues) and 'large' (1P99_A, 255 residues).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from foldlite.geometry import backbone, chain_terms, confidence, distances, hand, mds, refine, vectors
from foldlite.geometry.reconstruct import DEFAULT_RESTARTS, TEMPLATE_START_RESTARTS, reconstruct
from foldlite.geometry.backbone import ca_virtual_torsions, ideal_cb
from foldlite.constants import DISTOGRAM_CENTERS, NUM_DISTOGRAM_CLASSES

torch.set_num_threads(1)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "geometry_chain.npz"


def load_chain(name: str = "small") -> np.ndarray:
    """Backbone [L, 4, 3] (N, CA, C, O) in Å."""
    return np.load(FIXTURE)[f"{name}_xyz"].astype(np.float64) / 100.0


def chain_cb(xyz: np.ndarray) -> np.ndarray:
    return ideal_cb(xyz[:, 0], xyz[:, 1], xyz[:, 2])


def random_rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


@pytest.fixture(scope="module")
def small_sharp():
    """Small real chain, its sharp (σ = 0.5 Å) Cβ distogram and a torsion distribution."""
    xyz = load_chain("small")
    probs = distances.distogram_from_distances(vectors.pairwise_distances(chain_cb(xyz)), sigma=0.5)
    torsions = distances.torsion_probs_from_angles(ca_virtual_torsions(xyz[:, 1]))
    return xyz, probs.astype(np.float32), torsions


# ---------------------------------------------------------------------------------------------
# expected distances and MDS
# ---------------------------------------------------------------------------------------------

def test_expected_distances_one_hot_and_overflow():
    probs = np.zeros((3, 3, NUM_DISTOGRAM_CLASSES), np.float32)
    probs[0, 1, 10] = probs[1, 0, 10] = 1.0  # a bin centre
    probs[0, 2, 64] = probs[2, 0, 64] = 1.0  # overflow
    probs[1, 2, 20] = probs[2, 1, 20] = probs[1, 2, 21] = probs[2, 1, 21] = 0.5
    for i in range(3):
        probs[i, i, 0] = 1.0
    dist, weight = distances.expected_distances(probs, far_distance=25.0)
    assert dist[0, 1] == pytest.approx(DISTOGRAM_CENTERS[10], abs=1e-5)
    assert dist[0, 2] == pytest.approx(25.0)
    assert dist[1, 2] == pytest.approx(0.5 * (DISTOGRAM_CENTERS[20] + DISTOGRAM_CENTERS[21]), abs=1e-5)
    np.testing.assert_allclose(np.diag(dist), 0.0)
    np.testing.assert_allclose(dist, dist.T)
    assert weight[0, 1] == pytest.approx(1.0, abs=1e-5)  # sharp and in range
    assert weight[0, 2] == pytest.approx(0.0, abs=1e-6)  # only "far"
    assert 0.0 < weight[1, 2] < weight[0, 1]  # in range but spread over two bins


def test_mds_exact_distances_and_invariance():
    ca = load_chain("small")[:, 1]
    dist = vectors.pairwise_distances(ca)
    coords = mds.classical_mds(dist)
    np.testing.assert_allclose(vectors.pairwise_distances(coords), dist, atol=1e-6)
    assert vectors.kabsch_rmsd(coords, ca, allow_mirror=True) < 1e-6
    # Rotating and translating the chain changes nothing: the input is distances only.
    moved = ca @ random_rotation(3).T + np.array([10.0, -4.0, 7.0])
    coords_moved = mds.classical_mds(vectors.pairwise_distances(moved))
    np.testing.assert_allclose(vectors.pairwise_distances(coords_moved), dist, atol=1e-6)


def test_completed_far_distances_are_close_to_truth():
    cb = chain_cb(load_chain("large"))
    dist = vectors.pairwise_distances(cb)
    trusted = (dist < 22.0).astype(float)
    far = dist >= 22.0
    for max_nodes in (400, 60):  # exact shortest paths, then the landmark approximation
        completed = mds.complete_distances(dist, trusted, max_nodes=max_nodes)
        rel = np.abs(completed[far] - dist[far]) / dist[far]
        assert rel.mean() < (0.03 if max_nodes == 400 else 0.12), (max_nodes, rel.mean())
        np.testing.assert_array_equal(completed[~far], dist[~far])


def test_stress_polish_fixed_point_and_descent():
    ca = load_chain("small")[:, 1]
    dist = vectors.pairwise_distances(ca)
    weight = np.ones_like(dist)
    assert vectors.kabsch_rmsd(mds.stress_polish(ca, dist, weight, 10), ca) < 1e-9

    def stress(x):
        return np.sum((vectors.pairwise_distances(x) - dist) ** 2)

    noisy = ca + np.random.default_rng(0).normal(0.0, 1.0, ca.shape)
    polished = [mds.stress_polish(noisy, dist, weight, n) for n in (1, 5, 20)]
    values = [stress(noisy)] + [stress(x) for x in polished]
    assert all(a >= b for a, b in zip(values, values[1:])), values
    assert vectors.kabsch_rmsd(polished[-1], ca, allow_mirror=True) < 0.05


def exact_coords(dist, torsions=None, steps=30):
    """The exact-distance path: classical MDS, SMACOF on the relative stress, then the hand."""
    coords = mds.classical_mds(dist)
    coords = mds.stress_polish(coords, dist, 1.0 / np.maximum(dist, 1.0) ** 2, steps)
    return coords if torsions is None else hand.choose_hand(coords, torsions)


def test_coords_from_exact_distances_recovers_real_chain():
    ca = load_chain("small")[:, 1]
    torsions = distances.torsion_probs_from_angles(ca_virtual_torsions(ca))
    coords = exact_coords(vectors.pairwise_distances(ca), torsions)
    assert vectors.kabsch_rmsd(coords, ca) < 0.1  # right hand, no mirror allowed
    unhanded = exact_coords(vectors.pairwise_distances(ca))
    assert vectors.kabsch_rmsd(unhanded, ca, allow_mirror=True) < 0.1


# ---------------------------------------------------------------------------------------------
# hand
# ---------------------------------------------------------------------------------------------

def test_choose_hand_undoes_a_mirror():
    ca = load_chain("small")[:, 1]
    torsions = distances.torsion_probs_from_angles(ca_virtual_torsions(ca))
    mirrored = ca * np.array([-1.0, 1.0, 1.0])
    assert vectors.kabsch_rmsd(mirrored, ca) > 5.0
    assert vectors.kabsch_rmsd(hand.choose_hand(mirrored, torsions), ca) < 1e-9
    np.testing.assert_array_equal(hand.choose_hand(ca, torsions), ca)


def test_ideal_helix_stays_right_handed():
    helix = backbone.ideal_helix_ca(24)
    tau = ca_virtual_torsions(helix)
    assert np.nanmean(np.rad2deg(tau)) == pytest.approx(50.0, abs=2.0)
    assert np.linalg.norm(helix[1] - helix[0]) == pytest.approx(3.8, abs=0.05)
    torsions = distances.torsion_probs_from_angles(tau)
    # From exact Cα distances...
    coords = exact_coords(vectors.pairwise_distances(helix), torsions)
    assert vectors.kabsch_rmsd(coords, helix) < 0.01
    # ... and through the full pipeline from a sharp Cβ distogram.
    cb = backbone.build_backbone(helix)[:, 4]
    probs = distances.distogram_from_distances(vectors.pairwise_distances(cb), sigma=0.5)
    result = reconstruct(probs, torsions, seed=0)
    rebuilt_tau = np.rad2deg(ca_virtual_torsions(result.ca)[2:-3])
    assert np.all(rebuilt_tau > 30.0) and np.all(rebuilt_tau < 70.0), rebuilt_tau
    assert vectors.kabsch_rmsd(result.ca, helix) < 0.5  # measured 0.30 Å


# ---------------------------------------------------------------------------------------------
# refinement and the full pipeline
# ---------------------------------------------------------------------------------------------

def test_reconstruct_sharp_distogram_real_chain(small_sharp):
    xyz, probs, torsions = small_sharp
    result = reconstruct(probs, torsions, seed=0)
    rmsd = vectors.kabsch_rmsd(result.ca, xyz[:, 1])  # proper rotations only: the hand must be right
    assert rmsd < 0.6, rmsd  # measured 0.40 Å
    assert vectors.kabsch_rmsd(result.ca * np.array([-1.0, 1.0, 1.0]), xyz[:, 1]) > 5.0
    assert result.coords.shape == (len(xyz), 5, 3)
    np.testing.assert_array_equal(result.coords[:, 1], result.ca)
    bonds = np.linalg.norm(np.diff(result.ca, axis=0), axis=-1)
    assert np.all(np.abs(bonds - 3.8) < 0.2), (bonds.min(), bonds.max())
    nonlocal_ = vectors.pairwise_distances(result.ca)[np.triu_indices(len(xyz), 3)]
    assert nonlocal_.min() > 3.5  # no clashes
    assert len(result.restart_losses) == DEFAULT_RESTARTS
    assert result.loss == result.restart_losses[result.best_restart]
    assert set(result.timings) >= {"mds", "refine", "choice", "total"}
    # the chosen structure's own expected lDDT comes back with it
    np.testing.assert_allclose(result.expected_lddt, confidence.expected_lddt(probs, result.coords[:, 4]))


def test_the_structure_with_the_highest_expected_lddt_is_chosen(small_sharp, monkeypatch):
    xyz, probs, torsions = small_sharp
    # without torsions (the hands are then told apart by the energy) the lowest energy wins
    plain = reconstruct(probs, None, seed=0, num_restarts=2)
    assert plain.loss == min(plain.restart_losses)
    np.testing.assert_allclose(plain.expected_lddt, confidence.expected_lddt(probs, plain.coords[:, 4]))
    real = confidence.ExpectedLddt.of_each

    for favoured in (0, DEFAULT_RESTARTS - 1):
        def favour(scorer, cbs):  # the real scores, but one structure made the likeliest
            scores = real(scorer, cbs)
            scores[favoured] = np.ones_like(scores[favoured])
            return scores

        monkeypatch.setattr(confidence.ExpectedLddt, "of_each", favour)
        assert reconstruct(probs, torsions, seed=0).best_restart == favoured


def test_reconstruct_without_torsions_picks_hand_from_virtual_cb(small_sharp):
    xyz, probs, _ = small_sharp
    result = reconstruct(probs, None, seed=0, num_restarts=2)
    assert vectors.kabsch_rmsd(result.ca, xyz[:, 1]) < 0.6  # measured 0.40 Å


def test_reconstruction_is_invariant_to_a_rigid_motion_of_the_true_chain(small_sharp):
    """The whole path (distances -> distogram -> MDS -> refinement -> backbone) sees only distances:
    a randomly rotated and translated chain gives the same structure up to a rigid motion."""
    from scipy.spatial.transform import Rotation

    xyz, probs, torsions = small_sharp
    reference = reconstruct(probs, torsions, seed=0)
    moved = xyz @ Rotation.random(random_state=3).as_matrix().T + np.array([30.0, -12.0, 7.0])
    moved_probs = distances.distogram_from_distances(vectors.pairwise_distances(chain_cb(moved)), sigma=0.5)
    moved_torsions = distances.torsion_probs_from_angles(ca_virtual_torsions(moved[:, 1]))
    result = reconstruct(moved_probs.astype(np.float32), moved_torsions, seed=0)
    assert vectors.kabsch_rmsd(result.coords.reshape(-1, 3), reference.coords.reshape(-1, 3)) < 0.1
    assert vectors.kabsch_rmsd(result.ca, moved[:, 1]) == pytest.approx(
        vectors.kabsch_rmsd(reference.ca, xyz[:, 1]), abs=0.1)


def test_reconstruct_is_deterministic(small_sharp):
    xyz, probs, torsions = small_sharp
    a = reconstruct(probs[:40, :40], torsions[:40], seed=7, num_restarts=3, steps=30, polish_steps=10)
    b = reconstruct(probs[:40, :40], torsions[:40], seed=7, num_restarts=3, steps=30, polish_steps=10)
    np.testing.assert_array_equal(a.coords, b.coords)
    assert a.restart_losses == b.restart_losses
    c = reconstruct(probs[:40, :40], torsions[:40], seed=8, num_restarts=3, steps=30, polish_steps=10)
    assert c.restart_losses[2] != a.restart_losses[2]  # restart 2 is jittered with the seed
    d = reconstruct(probs[:40, :40], torsions[:40], seed=8, num_restarts=3, steps=30, polish_steps=10,
                        clean_restarts=0)
    assert not np.array_equal(d.coords, a.coords)


def test_refine_lowers_energy_and_handles_batches(small_sharp):
    xyz, probs, torsions = small_sharp
    ca = xyz[:, 1]
    noisy = ca + np.random.default_rng(0).normal(0.0, 1.0, ca.shape)
    energy = refine._Energy(probs, None, refine.RefineWeights())
    start = energy(noisy[:, None].astype(np.float32)).item() / len(ca)
    x = refine._adam(energy, noisy[:, None].astype(np.float32), 60, lr=0.3, lr_end=0.02)  # [L, 1, 3]
    loss = energy(x).item() / len(ca)
    refined = x[:, 0].astype(np.float64)
    assert refined.shape == ca.shape and loss < start
    assert vectors.kabsch_rmsd(refined, ca) < vectors.kabsch_rmsd(noisy, ca)
    energy = refine._Energy(probs, torsions, refine.RefineWeights())
    energy.use_torsion = True
    batch = np.stack([noisy, ca], axis=1).astype(np.float32)  # [L, 2, 3]
    out = refine._adam(energy, batch, 5, lr=0.2, lr_end=0.02)
    losses = energy(out)
    assert out.shape == batch.shape and losses.shape == (2,)


def test_pair_gradient_matches_finite_differences(small_sharp):
    xyz, probs, torsions = small_sharp
    n = 30
    energy = refine._Energy(probs[:n, :n], torsions[:n], refine.RefineWeights())
    energy.use_torsion = True
    rng = np.random.default_rng(1)
    # Jitter, and squeeze a little so the clash and bond terms are active too.
    x = 0.9 * xyz[:n, 1][:, None] + rng.normal(0, 0.3, (n, 1, 3))  # float64
    energy.refresh(x)
    grad = energy.gradient(x)
    h = 1e-5
    for flat_index in rng.choice(x.size, 12, replace=False):
        bump = np.zeros(x.size)
        bump[flat_index] = h
        bump = bump.reshape(x.shape)
        numeric = (energy(x + bump) - energy(x - bump)).item() / (2 * h)
        assert grad.reshape(-1)[flat_index] == pytest.approx(numeric, rel=1e-3, abs=1e-2)


def test_virtual_cb_close_to_real_cb():
    xyz = load_chain("large")
    vcb = chain_terms.virtual_cb(xyz[:, None, 1])[0][:, 0]
    err = np.linalg.norm(vcb - chain_cb(xyz), axis=-1)
    assert np.sqrt(np.mean(err ** 2)) < 0.6  # measured 0.4 Å (fitted offset, not per residue)


# ---------------------------------------------------------------------------------------------
# backbone from Cα
# ---------------------------------------------------------------------------------------------

def test_build_backbone_on_real_chain():
    for name in ("small", "large"):
        xyz = load_chain(name)
        bb = backbone.build_backbone(xyz[:, 1])
        assert bb.shape == (len(xyz), 5, 3)
        np.testing.assert_array_equal(bb[:, 1], xyz[:, 1])

        def rms(a, b):
            return np.sqrt(np.mean(np.sum((a - b) ** 2, axis=-1)))

        # Measured: N 0.18/0.21, C 0.22/0.16, O 0.68/0.54 Å (small/large).
        assert rms(bb[:, 0], xyz[:, 0]) < 0.3
        assert rms(bb[:, 2], xyz[:, 2]) < 0.3
        assert rms(bb[:, 3], xyz[:, 3]) < 0.8
        assert rms(bb[:, 4], chain_cb(xyz)) < 0.35
        n_ca = np.linalg.norm(bb[:, 0] - bb[:, 1], axis=-1)
        ca_c = np.linalg.norm(bb[:, 2] - bb[:, 1], axis=-1)
        c_n = np.linalg.norm(bb[:-1, 2] - bb[1:, 0], axis=-1)
        c_o = np.linalg.norm(bb[:, 3] - bb[:, 2], axis=-1)
        assert np.all(np.abs(n_ca - 1.458) < 0.1)
        assert np.all(np.abs(ca_c - 1.525) < 0.1)
        assert np.all(np.abs(c_n - 1.329) < 0.1)
        assert np.all(np.abs(c_o[:-1] - 1.231) < 0.05)  # the last O is the raw model prediction
        cos_angle = np.sum(vectors.unit(bb[:, 0] - bb[:, 1]) * vectors.unit(bb[:, 2] - bb[:, 1]), -1)
        angle = np.degrees(np.arccos(cos_angle))  # N-CA-C
        assert 105.0 < angle.mean() < 117.0


def test_fit_backbone_model_matches_embedded_table():
    chains = [load_chain("small"), load_chain("large")]
    weights, cb_offset = backbone.fit_backbone_model(chains)
    assert weights.shape == (21, 9) and cb_offset.shape == (3,)
    np.testing.assert_allclose(cb_offset, backbone.CB_OFFSET, atol=0.1)
    # Fitted on only two chains, the model should still describe them about as well as the table.
    ca = chains[1][:, 1]
    padded = backbone._pad_trace(ca)
    local_fit = backbone._backbone_features(padded) @ weights
    local_table = backbone._backbone_features(padded) @ backbone.BACKBONE_W
    assert np.sqrt(np.mean((local_fit - local_table) ** 2)) < 0.3


# ---------------------------------------------------------------------------------------------
# edge cases
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [1, 2, 3, 4])
def test_tiny_chains(length):
    helix = backbone.ideal_helix_ca(length)
    dist = vectors.pairwise_distances(helix)
    probs = distances.distogram_from_distances(dist)
    torsions = distances.torsion_probs_from_angles(ca_virtual_torsions(helix))
    for tp in (torsions, None):
        result = reconstruct(probs, tp, seed=0, steps=10, polish_steps=5)
        assert result.coords.shape == (length, 5, 3) and np.all(np.isfinite(result.coords))
        if length >= 2:
            bond = np.linalg.norm(result.ca[1] - result.ca[0])
            assert abs(bond - 3.8) < 0.3
    bb = backbone.build_backbone(helix)
    assert bb.shape == (length, 5, 3) and np.all(np.isfinite(bb))
    assert np.all(np.abs(np.linalg.norm(bb[:, 0] - bb[:, 1], axis=-1) - 1.458) < 0.1)
    coords = exact_coords(dist)
    assert coords.shape == (length, 3)
    np.testing.assert_allclose(vectors.pairwise_distances(coords), dist, atol=1e-6)
    assert mds.classical_mds(dist, np.ones_like(dist)).shape == (length, 3)


def test_empty_chain():
    result = reconstruct(np.zeros((0, 0, NUM_DISTOGRAM_CLASSES), np.float32))
    assert result.coords.shape == (0, 5, 3)
    assert backbone.build_backbone(np.zeros((0, 3))).shape == (0, 5, 3)


def test_extra_start_from_a_template_trace_is_refined_beside_the_restarts(small_sharp):
    xyz, probs, torsions = small_sharp
    native = xyz[:, 1] @ random_rotation(3).T + 40.0  # any frame: starts are re-centred
    result = reconstruct(probs, torsions, seed=0, extra_starts=[native], num_restarts=3)
    assert len(result.restart_losses) == 4
    # started at the answer, it ends at the lowest energy (the best MDS restart reaches the same minimum)
    assert result.restart_losses[3] < min(result.restart_losses[:3]) + 0.01
    assert vectors.kabsch_rmsd(result.ca, xyz[:, 1]) < 0.6
    # by default one MDS restart runs beside a template start (TEMPLATE_START_RESTARTS), three without
    # one or without torsions to choose its hand
    default = reconstruct(probs, torsions, seed=0, extra_starts=[native])
    assert len(default.restart_losses) == TEMPLATE_START_RESTARTS + 1
    assert vectors.kabsch_rmsd(default.ca, xyz[:, 1]) < 0.6
    assert len(reconstruct(probs, None, seed=0, extra_starts=[native]).restart_losses) == DEFAULT_RESTARTS + 1
    assert len(reconstruct(probs, torsions, seed=0).restart_losses) == DEFAULT_RESTARTS
    with pytest.raises(ValueError, match="extra start"):
        reconstruct(probs, torsions, extra_starts=[native[:-1]])

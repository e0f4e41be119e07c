"""Tests for foldlite.evaluation.metrics: goldens from the TMscore program plus hand-checked small cases.

The goldens (tests/fixtures/golden_tmscore.json, PDB pairs in tests/fixtures/golden/) were made by
tools/make_golden_metrics.py with Debian's TMscore; TMscore itself is not needed here.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from foldlite.evaluation.metrics import contact_precision, lddt_ca, q3, tm_d0, tm_score

from foldlite.geometry.vectors import kabsch, kabsch_rmsd, superpose

DATA = Path(__file__).resolve().parents[1] / "fixtures"
GOLDEN = json.loads((DATA / "golden_tmscore.json").read_text(encoding="utf-8"))
PAIRS = {pair["name"]: pair for pair in GOLDEN["pairs"]}


def read_ca(path: Path) -> dict[int, np.ndarray]:
    """Residue number -> Cα [3] from the ATOM records of a PDB file (the columns TMscore reads)."""
    atoms = {}
    for line in path.read_text().splitlines():
        if line.startswith("ATOM") and line[12:16].strip() == "CA":
            atoms[int(line[22:26])] = np.array([float(line[30:38]), float(line[38:46]), float(line[46:54])])
    return atoms


def load_pair(name: str):
    """(model [L, 3], native [L, 3], mask [L]) in native residue order; absent model residues masked."""
    pair = PAIRS[name]
    model, native = read_ca(DATA / pair["model"]), read_ca(DATA / pair["native"])
    numbers = sorted(native)
    mask = np.array([k in model for k in numbers])
    model_ca = np.array([model.get(k, np.full(3, np.nan)) for k in numbers])  # NaN where absent
    return model_ca, np.array([native[k] for k in numbers]), mask


def random_rigid(rng: np.random.Generator):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))  # proper rotation
    return q, rng.uniform(-50, 50, size=3)


def single_fit_tm(model_ca: np.ndarray, ref_ca: np.ndarray) -> float:
    """TM-score after one global Kabsch fit on all residues: what the search must beat."""
    dist = np.linalg.norm(superpose(model_ca, ref_ca) - ref_ca, axis=1)
    return float(np.mean(1.0 / (1.0 + (dist / tm_d0(len(ref_ca))) ** 2)))


# ---------------------------------------------------------------------------------- goldens


def test_goldens_cover_the_range():
    tms = [pair["tm_score"] for pair in GOLDEN["pairs"]]
    assert len(tms) >= 12
    assert min(tms) < 0.25 and max(tms) > 0.9


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_tm_score_matches_tmscore_program(name):
    pair = PAIRS[name]
    model_ca, native_ca, mask = load_pair(name)
    result = tm_score(model_ca, native_ca, mask=mask)
    assert result.aligned_length == pair["n_common"]
    assert len(native_ca) == pair["native_length"]
    assert result.d0 == pytest.approx(pair["d0"], abs=0.005)  # TMscore prints d0 with 2 decimals
    assert result.tm_score == pytest.approx(pair["tm_score"], abs=0.01)
    assert result.gdt_ts == pytest.approx(pair["gdt_ts"], abs=0.01)
    assert result.gdt_ha == pytest.approx(pair["gdt_ha"], abs=0.01)
    assert result.rmsd == pytest.approx(pair["rmsd"], abs=0.01)


def test_search_beats_a_single_global_fit():
    # A hinge motion: one global fit splits the difference between the two parts; TMscore's search
    # finds the superposition of the larger part. The golden shows the program does the same.
    model_ca, native_ca, _ = load_pair("n220_hinge110")
    searched = tm_score(model_ca, native_ca).tm_score
    single = single_fit_tm(model_ca, native_ca)
    assert searched == pytest.approx(PAIRS["n220_hinge110"]["tm_score"], abs=0.01)
    assert searched > single + 0.1


def test_best_superposition_is_returned():
    model_ca, native_ca, _ = load_pair("n80_hinge70")
    result = tm_score(model_ca, native_ca)
    dist = np.linalg.norm(model_ca @ result.rotation.T + result.translation - native_ca, axis=1)
    assert np.mean(1.0 / (1.0 + (dist / result.d0) ** 2)) == pytest.approx(result.tm_score, abs=1e-9)
    assert np.linalg.det(result.rotation) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------- TM-score / GDT


def test_identical_structures_score_perfectly():
    _, native_ca, _ = load_pair("n60_smooth15")
    result = tm_score(native_ca, native_ca)
    assert result.tm_score == pytest.approx(1.0)
    assert result.gdt_ts == pytest.approx(1.0) and result.gdt_ha == pytest.approx(1.0)
    assert result.rmsd == pytest.approx(0.0, abs=1e-6)
    assert kabsch_rmsd(native_ca, native_ca) == pytest.approx(0.0, abs=1e-6)
    assert lddt_ca(native_ca, native_ca) == pytest.approx(1.0)


def test_scores_invariant_under_rigid_motion_of_model():
    rng = np.random.default_rng(0)
    model_ca, native_ca, _ = load_pair("n80_hinge70")
    rotation, translation = random_rigid(rng)
    moved = model_ca @ rotation.T + translation
    before, after = tm_score(model_ca, native_ca), tm_score(moved, native_ca)
    assert after.tm_score == pytest.approx(before.tm_score, abs=1e-9)
    assert after.gdt_ts == pytest.approx(before.gdt_ts, abs=1e-12)
    assert after.gdt_ha == pytest.approx(before.gdt_ha, abs=1e-12)
    assert after.rmsd == pytest.approx(before.rmsd, abs=1e-9)
    assert lddt_ca(moved, native_ca) == pytest.approx(lddt_ca(model_ca, native_ca), abs=1e-12)


def test_d0_formula_and_small_length_floor():
    assert tm_d0(100) == pytest.approx(1.24 * 85 ** (1 / 3) - 1.8)
    assert tm_d0(20) == 0.5 and tm_d0(10) == 0.5


def test_tm_score_of_tiny_chains_does_not_crash():
    points = np.array([[0.0, 0, 0], [3.8, 0, 0], [3.8, 3.8, 0]])
    assert tm_score(points, points).tm_score == pytest.approx(1.0)
    assert tm_score(points[:1], points[:1]).tm_score == pytest.approx(1.0)


def test_mask_excludes_residues_but_keeps_normalisation():
    model_ca, native_ca, _ = load_pair("n60_smooth15")
    mask = np.ones(len(native_ca), dtype=bool)
    mask[:10] = False
    garbage = model_ca.copy()
    garbage[:10] += 100.0  # must not matter
    masked = tm_score(garbage, native_ca, mask=mask)
    subset = tm_score(model_ca[10:], native_ca[10:], norm_length=len(native_ca), d0=tm_d0(len(native_ca)))
    assert masked.tm_score == pytest.approx(subset.tm_score, abs=1e-12)
    assert masked.aligned_length == len(native_ca) - 10


# ---------------------------------------------------------------------------------- superposition


def test_kabsch_recovers_a_known_rotation():
    rng = np.random.default_rng(1)
    mobile = rng.normal(size=(20, 3)) * 10
    rotation, translation = random_rigid(rng)
    target = mobile @ rotation.T + translation
    found_rotation, found_translation = kabsch(mobile, target)
    np.testing.assert_allclose(found_rotation, rotation, atol=1e-10)
    np.testing.assert_allclose(found_translation, translation, atol=1e-9)
    np.testing.assert_allclose(superpose(mobile, target), target, atol=1e-9)
    assert kabsch_rmsd(mobile, target) == pytest.approx(0.0, abs=1e-9)


def test_kabsch_never_reflects():
    rng = np.random.default_rng(2)
    mobile = rng.normal(size=(15, 3)) * 5
    mirror = mobile * np.array([-1.0, 1.0, 1.0])
    rotation, _ = kabsch(mobile, mirror)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    assert kabsch_rmsd(mobile, mirror) > 0.5  # a mirror image cannot be superposed


def test_kabsch_rmsd_known_value():
    # Two points 2 Å apart vs 4 Å apart: best fit leaves each end 1 Å off.
    a = np.array([[-1.0, 0, 0], [1.0, 0, 0]])
    b = np.array([[0.0, -2, 0], [0.0, 2, 0]])
    assert kabsch_rmsd(a, b) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------- lDDT


def test_lddt_hand_computed():
    # Reference: 4 Cα on a line 3.8 Å apart, plus residue 4 far away (no partner within 15 Å).
    ref = np.array([[0.0, 0, 0], [3.8, 0, 0], [7.6, 0, 0], [11.4, 0, 0], [40.0, 0, 0]])
    model = ref.copy()
    model[3, 0] += 1.5  # pairs (0,3), (1,3), (2,3) off by 1.5 Å: kept at 2 and 4 Å only -> 0.5
    model[4] = [13.0, 1.0, 0.0]  # now close to the others in the model: still not scored
    score, per_residue = lddt_ca(model, ref, per_residue=True)
    assert score == pytest.approx((3 * 1.0 + 3 * 0.5) / 6)
    np.testing.assert_allclose(per_residue[:4], [2.5 / 3, 2.5 / 3, 2.5 / 3, 0.5])
    assert np.isnan(per_residue[4])


def test_lddt_mask_and_thresholds():
    ref = np.array([[0.0, 0, 0], [3.8, 0, 0], [7.6, 0, 0]])
    model = ref.copy()
    model[2, 0] += 0.7  # (0,2) and (1,2) off by 0.7: kept at 1, 2, 4 Å -> 0.75
    assert lddt_ca(model, ref) == pytest.approx((1.0 + 0.75 + 0.75) / 3)
    assert lddt_ca(model, ref, mask=np.array([True, True, False])) == pytest.approx(1.0)
    assert lddt_ca(model, ref, cutoff=5.0) == pytest.approx((1.0 + 0.75) / 2)  # (0,2) is 7.6 Å apart


# ---------------------------------------------------------------------------------- contacts, Q3


def contact_case():
    """L = 30 on a line 10 Å apart; true contacts (0,25), (1,29) long range, (3,15) medium."""
    cb = np.stack([np.arange(30) * 10.0, np.zeros(30), np.zeros(30)], axis=1)
    cb[25] = cb[0] + [0, 5, 0]
    cb[29] = cb[1] + [0, 0, 6]
    cb[15] = cb[3] + [0, 0, -4]
    probs = np.full((30, 30), 0.1)
    for (i, j), p in {(0, 25): 0.9, (1, 29): 0.8, (2, 28): 0.7, (3, 15): 0.95}.items():
        probs[i, j] = probs[j, i] = p
    return probs, cb


def test_contact_precision_hand_built():
    probs, cb = contact_case()
    # 21 long-range candidates; top 6 = the three set ones + ties (0,24), (0,26), (0,27): 2 contacts
    assert contact_precision(probs, cb) == pytest.approx(2 / 6)
    assert contact_precision(probs, cb, top_k=2) == pytest.approx(1.0)
    assert contact_precision(probs, cb, top_k=3) == pytest.approx(2 / 3)
    assert contact_precision(probs, cb, top_k=50) == pytest.approx(2 / 21)  # fewer candidates than k
    assert contact_precision(probs, cb, min_sep=12, max_sep=24, top_k=1) == pytest.approx(1.0)
    assert contact_precision(probs.T, cb) == contact_precision(probs, cb)
    assert np.isnan(contact_precision(probs[:20, :20], cb[:20]))  # no pair 24 apart


def test_contact_precision_of_the_truth_is_one():
    _, native_ca, _ = load_pair("n150_smooth3")
    dist = np.linalg.norm(native_ca[:, None] - native_ca[None], axis=-1)
    truth = (dist < 8.0).astype(float)
    assert contact_precision(truth, native_ca, min_sep=6, top_k=10) == 1.0


def test_q3():
    assert q3("HHEC", "HHCC") == pytest.approx(0.75)
    assert q3(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == pytest.approx(0.75)
    logits = np.array([[2.0, 0, 0], [0, 3.0, 1], [0, 0, 1.0]])
    assert q3(logits, "HEC") == 1.0
    assert q3("HEC", "HHH", mask=np.array([True, False, False])) == 1.0

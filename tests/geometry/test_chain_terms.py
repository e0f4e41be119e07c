"""The refinement's hand-written gradients (numpy) against torch's autograd of the direct formulas and
against finite differences (foldlite/geometry/chain_terms.py, pair_term.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from foldlite.geometry import chain_terms, refine
from foldlite.geometry.backbone import CB_OFFSET
from foldlite.geometry.vectors import dihedral


def _traces(length: int = 25, batch: int = 3, seed: int = 0) -> torch.Tensor:
    """Random-walk Cα traces [L, B, 3] (float64) with ~3.8 Å steps."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 1.0, (length, batch, 3))
    steps *= 3.8 / np.linalg.norm(steps, axis=-1, keepdims=True)
    return torch.from_numpy(np.cumsum(steps, axis=0))


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / ((v * v).sum(-1, keepdim=True) + 1e-8).sqrt()


def _dihedral_by_autograd(p0, p1, p2, p3):
    """The dihedral of vectors.dihedral written in torch the direct way (projections onto the plane
    normal to the middle bond), for autograd."""
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1n = _unit(b1)
    v = b0 - (b0 * b1n).sum(-1, keepdim=True) * b1n
    w = b2 - (b2 * b1n).sum(-1, keepdim=True) * b1n
    return (torch.linalg.cross(b1n, v) * w).sum(-1).atan2((v * w).sum(-1) + 1e-12)


def _virtual_cb_by_autograd(ca: torch.Tensor) -> torch.Tensor:
    """The virtual Cβ written the direct way (frame matrix times the offset), for autograd."""
    prev, mid, nxt = ca[:-2], ca[1:-1], ca[2:]
    ex = _unit(nxt - prev)
    ey = _unit(2.0 * mid - prev - nxt)
    ez = torch.linalg.cross(ex, ey)
    offset = torch.stack([ex, ey, ez], dim=-1) @ torch.as_tensor(CB_OFFSET, dtype=ca.dtype)
    return ca + torch.cat([offset[:1], offset, offset[-1:]])


def test_virtual_cb_and_its_gradient_match_autograd():
    ca = _traces().requires_grad_(True)
    expected = _virtual_cb_by_autograd(ca)
    cb, frame = chain_terms.virtual_cb(ca.detach().numpy())
    np.testing.assert_allclose(cb, expected.detach().numpy(), rtol=1e-7, atol=1e-9)
    weights = torch.randn_like(expected, generator=torch.Generator().manual_seed(0))
    (autograd,) = torch.autograd.grad((expected * weights).sum(), ca)
    np.testing.assert_allclose(chain_terms.virtual_cb_backward(frame, weights.numpy()), autograd.numpy(),
                               rtol=1e-7, atol=1e-9)


def test_virtual_cb_of_a_two_residue_chain_is_the_ca():
    ca = _traces(length=2).numpy()
    cb, frame = chain_terms.virtual_cb(ca)
    assert frame is None and np.array_equal(cb, ca)
    grad = np.random.default_rng(0).normal(size=ca.shape)
    assert np.array_equal(chain_terms.virtual_cb_backward(frame, grad), grad)


def test_dihedral_and_its_gradient_match_autograd():
    ca = _traces(length=30).requires_grad_(True)
    expected = _dihedral_by_autograd(ca[:-3], ca[1:-2], ca[2:-1], ca[3:])  # [L-3, B]
    points = ca.detach().numpy()
    tau, dtau = chain_terms.dihedral_with_gradient(points)
    np.testing.assert_allclose(tau, expected.detach().numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(tau, dihedral(points[:-3], points[1:-2], points[2:-1], points[3:]), atol=1e-9)
    weights = torch.randn_like(expected, generator=torch.Generator().manual_seed(0))
    (autograd,) = torch.autograd.grad((expected * weights).sum(), ca)
    grad = chain_terms.scatter_dihedral_gradient(weights.numpy(), dtau, len(ca))
    np.testing.assert_allclose(grad, autograd.numpy(), rtol=1e-6, atol=1e-6)  # the two formulas' epsilons differ
    # a dihedral is unchanged by moving all four points together: its gradients sum to zero
    np.testing.assert_allclose(dtau.sum(0), 0.0, rtol=0, atol=1e-10)


def test_dihedral_gradient_stays_finite_for_collinear_points():
    line = np.arange(6.0)[:, None, None] * np.array([3.8, 0.0, 0.0])
    tau, dtau = chain_terms.dihedral_with_gradient(line)
    assert np.isfinite(tau).all() and np.isfinite(dtau).all()


@pytest.mark.parametrize("compactness", [0.0, 10.0])
def test_whole_energy_gradient_matches_finite_differences(compactness):
    """Every term at once (pairs, torsion, compactness), on a chain spread wider than a globule so the
    compactness term is active, with its bonds stretched and compressed."""
    length = 20
    ca = _traces(length=length, batch=2, seed=3).numpy() * 1.1
    probs = np.random.default_rng(4).dirichlet(np.full(65, 0.3), size=(length, length)).astype(np.float32)
    probs = (probs + probs.transpose(1, 0, 2)) / 2
    torsions = np.random.default_rng(5).dirichlet(np.ones(36), size=length)
    energy = refine._Energy(probs, torsions, refine.RefineWeights(compactness=compactness))
    energy.use_torsion = True
    energy.refresh(ca)
    value, grad = energy.energy_and_gradient(ca)
    assert value.shape == (2,) and grad.shape == ca.shape
    h = 1e-5
    for flat_index in np.random.default_rng(6).choice(ca.size, 15, replace=False):
        bump = np.zeros(ca.size)
        bump[flat_index] = h
        plus, _ = energy.energy_and_gradient(ca + bump.reshape(ca.shape))
        minus, _ = energy.energy_and_gradient(ca - bump.reshape(ca.shape))
        numeric = (plus - minus).sum() / (2 * h)
        assert grad.reshape(-1)[flat_index] == pytest.approx(numeric, rel=1e-3, abs=1e-2)


def test_calling_the_energy_gives_the_energy_of_energy_and_gradient():
    length = 15
    ca = _traces(length=length, batch=2, seed=7).numpy()
    probs = np.random.default_rng(8).dirichlet(np.full(65, 0.3), size=(length, length)).astype(np.float32)
    energy = refine._Energy((probs + probs.transpose(1, 0, 2)) / 2, None, refine.RefineWeights())
    energy.refresh(ca)
    value, grad = energy.energy_and_gradient(ca)
    assert value.shape == (2,) and np.array_equal(energy(ca), value)
    np.testing.assert_array_equal(energy.gradient(ca), grad)

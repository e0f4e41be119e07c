"""Backbone geometry: ideal Cβ, torsions, and step 5 of the geometry, N, C, O rebuilt from a Cα trace.

`build_backbone`: a small regression model of the backbone atoms in the local Cα frame, fitted on
real chains (`fit_backbone_model`), decides how each rigid ideal peptide unit is turned about its
Cα–Cα axis; Cβ from `ideal_cb`. numpy only: data and I/O modules use the helpers here too.
"""
from __future__ import annotations

import numpy as np

from ..constants import CA_C_LENGTH, CA_CA_DISTANCE, CHAIN_BREAK_CA_CA, C_N_LENGTH, C_O_LENGTH, N_CA_LENGTH
from .vectors import dihedral, rotation_between, unit

# Backbone model, fitted by `fit_backbone_model` on 3,000 random training chains of
# /work/shared/data/pdb_chains.npz (640k residues; seed 0). Rows: the 21 features of
# `_backbone_features`; columns: local x, y, z of N, C, O in the residue frame of `_local_frames`.
# Held-out RMS error of build_backbone (300 validation chains, whole chains, after the ideal
# peptide fit): N 0.21 Å, C 0.25 Å, O 0.72 Å; O depends on the peptide-plane orientation, which
# a Cα trace only loosely determines, and the two end residues (ghost neighbours) are ~1 Å off.
# The table itself, BACKBONE_W [21, 9], is at the end of the file. CB_OFFSET there is the mean
# position of the ideal Cβ in the same frame (RMS error 0.41 Å), used for the virtual Cβ.


def ideal_cb(n: np.ndarray, ca: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Virtual Cβ from N, CA, C ([..., 3] Å) with ideal tetrahedral geometry.

    Uses the widely used constants fitted to real structures (trRosetta / Engh-Huber geometry);
    glycine gets the same virtual Cβ.
    """
    b = ca - n
    c_vec = c - ca
    a = np.cross(b, c_vec)
    return -0.58273431 * a + 0.56802827 * b - 0.54067466 * c_vec + ca


def backbone_torsions(n: np.ndarray, ca: np.ndarray, c: np.ndarray):
    """phi, psi [L] (radians; NaN where undefined at the chain ends)."""
    length = len(ca)
    phi = np.full(length, np.nan)
    psi = np.full(length, np.nan)
    if length > 1:
        phi[1:] = dihedral(c[:-1], n[1:], ca[1:], c[1:])
        psi[:-1] = dihedral(n[:-1], ca[:-1], c[:-1], n[1:])
    return phi, psi


def ca_virtual_torsions(ca: np.ndarray) -> np.ndarray:
    """Cα virtual torsion for residue i: dihedral(CA[i-1], CA[i], CA[i+1], CA[i+2]) [L], NaN at ends.

    Chiral: an α-helix gives about +50°, a mirrored helix -50°. The geometry module uses it to pick
    the hand of a structure built from distances.
    """
    length = len(ca)
    out = np.full(length, np.nan)
    if length >= 4:
        out[1:-2] = dihedral(ca[:-3], ca[1:-2], ca[2:-1], ca[3:])
    return out


def ideal_helix_ca(length: int, rise: float = 1.5, turn_deg: float = 100.0,
                   radius: float = 2.3) -> np.ndarray:
    """Cα trace [L, 3] of an ideal right-handed α-helix along +z (Cα–Cα 3.83 Å, torsion +50°)."""
    k = np.arange(length)
    angle = np.deg2rad(turn_deg) * k  # counter-clockwise seen from +z while rising = right-handed
    return np.stack([radius * np.cos(angle), radius * np.sin(angle), rise * k], axis=-1)


def _place(a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle: float,
           torsion: float) -> np.ndarray:
    """Point d with |cd| = bond, angle(b, c, d) = angle and dihedral(a, b, c, d) = torsion."""
    bc = unit(c - b)
    n = unit(np.cross(b - a, bc))
    m = np.cross(n, bc)
    local = np.array([-np.cos(angle), np.sin(angle) * np.cos(torsion), np.sin(angle) * np.sin(torsion)])
    return c + bond * (local[0] * bc + local[1] * m + local[2] * n)


def _virtual_angles(ca: np.ndarray) -> np.ndarray:
    """Cα virtual bond angle at each residue [L] (NaN at the ends)."""
    out = np.full(len(ca), np.nan)
    if len(ca) >= 3:
        u, v = unit(ca[:-2] - ca[1:-1]), unit(ca[2:] - ca[1:-1])
        out[1:-1] = np.arccos(np.clip(np.sum(u * v, -1), -1.0, 1.0))
    return out


_DEFAULT_ANGLE = np.deg2rad(92.0)  # used only for chains too short to copy from (helix-like)
_DEFAULT_TORSION = np.deg2rad(50.0)


def _extend(ca: np.ndarray) -> np.ndarray:
    """Append two ghost Cα after the last residue, continuing the local geometry (copying the last
    defined virtual angle and torsion) so end residues get a full frame. Needs >= 3 points."""
    angles, torsions = _virtual_angles(ca), ca_virtual_torsions(ca)
    angle = angles[-2] if len(ca) >= 3 else _DEFAULT_ANGLE
    torsion = torsions[-3] if len(ca) >= 4 else _DEFAULT_TORSION
    pts = list(ca)
    for _ in range(2):
        pts.append(_place(pts[-3], pts[-2], pts[-1], CA_CA_DISTANCE, angle, torsion))
    return np.array(pts)


def _pad_trace(ca: np.ndarray) -> np.ndarray:
    """[L, 3] -> [L + 4, 3] with two ghost residues at each end (any L >= 1)."""
    if len(ca) >= 3:
        front = _extend(ca[::-1].copy())[::-1]  # dihedral is symmetric under reversal
        return _extend(front.copy())
    # Too short to copy geometry from: put a two-residue ideal-helix stub in front of the chain,
    # oriented so the stub's next bond points along the chain's first bond (if there is one).
    helix = ideal_helix_ca(4)
    rot = np.eye(3) if len(ca) == 1 else rotation_between(helix[3] - helix[2], ca[1] - ca[0])
    stub = (helix[:2] - helix[2]) @ rot.T + ca[0]
    return _extend(np.concatenate([stub, ca]))


def _local_frames(padded: np.ndarray) -> np.ndarray:
    """Padded trace [L + 4, 3] -> rotation [L, 3, 3] (columns ex, ey, ez) of each real residue:
    ex along CA[i+1] - CA[i-1], ey along the bisector pointing away from the bend, ez = ex × ey."""
    prev, mid, nxt = padded[1:-3], padded[2:-2], padded[3:-1]
    u, v = unit(mid - prev), unit(nxt - mid)
    ex = unit(nxt - prev)
    ey = unit(u - v)
    ez = np.cross(ex, ey)
    return np.stack([ex, ey, ez], axis=-1)


def _backbone_features(padded: np.ndarray) -> np.ndarray:
    """Padded trace [L + 4, 3] -> features [L, 21]: 1, the five base features
    (cos virtual angle_i, cos/sin torsion_{i-1}, cos/sin torsion_i) and their pairwise products."""
    angles = _virtual_angles(padded)[2:-2]
    torsions = ca_virtual_torsions(padded)  # defined on 1..L+1 of the padded chain
    tau_prev, tau = torsions[1:-3], torsions[2:-2]
    base = [np.cos(angles), np.cos(tau_prev), np.sin(tau_prev), np.cos(tau), np.sin(tau)]
    cols = [np.ones_like(angles)] + base
    cols += [base[a] * base[b] for a in range(len(base)) for b in range(a, len(base))]
    return np.stack(cols, axis=-1)


def _ideal_peptide() -> np.ndarray:
    """Ideal trans peptide unit [5, 2]: CA_i, C_i, O_i, N_i+1, CA_i+1 in its plane (Å), with
    CA_i at the origin and CA_i+1 on the +x axis (Engh & Huber bond lengths and angles)."""
    def turn(direction, degrees):  # rotate a 2-D direction counter-clockwise
        a = np.deg2rad(degrees)
        return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ direction

    ca0 = np.zeros(2)
    c = np.array([CA_C_LENGTH, 0.0])
    to_ca0 = (ca0 - c) / CA_C_LENGTH
    n = c + C_N_LENGTH * turn(to_ca0, -117.2)  # angle CA-C-N
    o = c + C_O_LENGTH * turn(to_ca0, 120.1)  # angle CA-C-O, other side from N
    to_c = (c - n) / C_N_LENGTH
    # angle C-N-CA; trans (omega = 180°) puts CA_i+1 on the far side of the C–N bond from CA_i
    ca1 = max((n + N_CA_LENGTH * turn(to_c, sign * 121.7) for sign in (1, -1)),
              key=lambda p: np.linalg.norm(p - ca0))
    pts = np.stack([ca0, c, o, n, ca1])
    x = ca1 / np.linalg.norm(ca1)
    return pts @ np.array([[x[0], -x[1]], [x[1], x[0]]])  # rotate so CA_i+1 lies on +x


_PEPTIDE = _ideal_peptide()  # [5, 2]; CA–CA = 3.80 Å


def _fit_peptides(ca: np.ndarray, c_pred: np.ndarray, o_pred: np.ndarray,
                  n_next_pred: np.ndarray) -> np.ndarray:
    """Place a rigid ideal peptide unit on each Cα pair (i, i+1), rotated about the Cα–Cα axis to
    best match the predicted C_i, O_i, N_i+1 (least squares; closed form for one rotation angle).
    ca [L, 3]; predictions [L-1, 3]. Returns C, O, N_next [L-1, 3, 3].
    Bond lengths and angles inside the unit are then ideal; only the axial coordinate is stretched
    to fit the actual Cα–Cα distance."""
    axis_vec = ca[1:] - ca[:-1]  # [P, 3]
    axis_len = np.linalg.norm(axis_vec, axis=-1, keepdims=True)
    e1 = axis_vec / np.maximum(axis_len, 1e-8)
    template = _PEPTIDE[[1, 2, 3]]  # [3, 2]: (axial, in-plane) coordinates of C, O, N
    rel = np.stack([c_pred, o_pred, n_next_pred], axis=1) - ca[:-1, None]  # [P, 3, 3]
    # The best in-plane direction w ⟂ e1 maximises Σ_a y_a (rel_a · w): w ∥ (Σ_a y_a rel_a)⊥.
    ref = np.einsum("a,pax->px", template[:, 1], rel)  # [P, 3]
    w = unit(ref - np.sum(ref * e1, -1, keepdims=True) * e1)
    axial = template[None, :, 0, None] * (axis_len / _PEPTIDE[4, 0])[:, None]  # [P, 3, 1]
    return ca[:-1, None] + axial * e1[:, None] + template[None, :, 1, None] * w[:, None]


def build_backbone(ca: np.ndarray) -> np.ndarray:
    """Cα trace [L, 3] -> backbone [L, 5, 3] in N, CA, C, O, CB order.

    The regression model (`BACKBONE_W`) predicts N, C, O in each residue's local Cα frame; each
    peptide unit C_i, O_i, N_i+1 is then replaced by a rigid ideal one oriented to match those
    predictions (`_fit_peptides`), so peptide bonds are ideal. N of the first residue and C, O of
    the last keep the raw prediction. CB from `ideal_cb`.
    """
    ca = np.asarray(ca, np.float64)
    length = len(ca)
    if length == 0:
        return np.zeros((0, 5, 3))
    padded = _pad_trace(ca)  # [L + 4, 3]
    frames = _local_frames(padded)  # [L, 3, 3]
    # [L, 21] @ [21, 9] -> [L, atom, xyz] (einsum, not BLAS: see expected_distances)
    local = np.einsum("lf,fo->lo", _backbone_features(padded), BACKBONE_W).reshape(length, 3, 3)
    # world = CA + R @ local for each atom: [L, 3(xyz), 3(frame axis)] x [L, atom, 3] -> [L, atom, 3]
    atoms = ca[:, None, :] + np.einsum("lxk,lak->lax", frames, local)
    n, c, o = atoms[:, 0].copy(), atoms[:, 1].copy(), atoms[:, 2].copy()
    if length >= 2:
        unit = _fit_peptides(ca, c[:-1], o[:-1], n[1:])  # [L-1, 3(C, O, N_next), 3]
        c[:-1], o[:-1], n[1:] = unit[:, 0], unit[:, 1], unit[:, 2]
    cb = ideal_cb(n, ca, c)
    return np.stack([n, ca, c, o, cb], axis=1)


def fit_backbone_model(chains: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of the backbone model on real chains ([L, 4, 3] arrays N, CA, C, O).

    Returns (W [21, 9], cb_offset [3]). Residues within two of an end or of a chain break
    (CA–CA > CHAIN_BREAK_CA_CA) are skipped. This is how BACKBONE_W / CB_OFFSET below were produced.
    """
    feats, targets, cb_local = [], [], []
    for chain in chains:
        chain = np.asarray(chain, np.float64)
        ca = chain[:, 1]
        if len(ca) < 6:
            continue
        keep = np.ones(len(ca), bool)
        keep[:2] = keep[-2:] = False
        for brk in np.nonzero(np.linalg.norm(np.diff(ca, axis=0), axis=-1) > CHAIN_BREAK_CA_CA)[0]:
            keep[max(0, brk - 1):brk + 3] = False
        if not keep.any():
            continue
        padded = _pad_trace(ca)
        frames = _local_frames(padded)[keep]  # [K, 3, 3]
        rel = np.stack([chain[keep, 0], chain[keep, 2], chain[keep, 3]], 1) - ca[keep, None]
        targets.append(np.einsum("kax,kxj->kaj", rel, frames).reshape(-1, 9))  # R^T (atom - CA)
        feats.append(_backbone_features(padded)[keep])
        cb = ideal_cb(chain[keep, 0], ca[keep], chain[keep, 2]) - ca[keep]
        cb_local.append(np.einsum("kx,kxj->kj", cb, frames))
    a, y = np.concatenate(feats), np.concatenate(targets)
    weights, *_ = np.linalg.lstsq(a, y, rcond=None)
    return weights, np.concatenate(cb_local).mean(axis=0)


# Backbone model table (see the note near the top of the file), stored transposed: one row per
# output coordinate, one column per feature of `_backbone_features`.
BACKBONE_W = np.array([
    [-0.5429, 0.3472, 0.0148, 0.0151, 0.0084, 0.0211, 0.1734, -0.0004, -0.0343, 0.0231, -0.0507,  # N x
     -0.2268, 0.0242, -0.0201, -0.0011, -0.3161, 0.0062, -0.0157, -0.2908, -0.0303, -0.2521],
    [-0.4494, -0.5864, -0.0109, -0.0119, -0.0159, -0.0381, -0.3482, 0.0248, 0.0925, -0.0433, 0.0500,  # N y
     -0.2901, -0.0268, 0.0219, 0.0008, -0.1592, -0.0181, 0.0160, -0.2025, 0.0451, -0.2469],
    [0.0775, -0.4665, -0.0890, 0.1401, 0.1042, -0.0011, -0.5562, -0.0407, 0.1872, 0.3027, -0.0607,  # N z
     0.0327, 0.1130, -0.0098, -0.0114, 0.0447, -0.0513, 0.0032, 0.0168, 0.1611, 0.0607],
    [0.6413, 0.2796, 0.0133, 0.0183, -0.0164, 0.0355, 0.1783, 0.0086, -0.0303, 0.0280, -0.0345,  # C x
     0.3623, 0.0189, -0.0297, -0.0098, 0.2791, -0.0015, -0.0215, 0.2931, -0.0491, 0.3482],
    [-0.3684, 0.1811, 0.0057, 0.0291, -0.0343, 0.0360, 0.0859, -0.0259, -0.0062, -0.0198, -0.1630,  # C y
     -0.1310, 0.0229, -0.0310, 0.0014, -0.2374, -0.0092, -0.0343, -0.2036, -0.0332, -0.1648],
    [-0.0132, -0.7314, -0.0360, -0.0665, -0.3147, -0.1044, -0.4898, 0.0402, -0.0236, -0.1945, -0.1074,  # C z
     -0.0403, -0.0619, 0.0020, 0.0165, 0.0271, -0.0128, 0.0183, 0.0345, -0.0603, -0.0477],
    [1.0144, 1.8556, 0.0495, 0.0656, -0.0437, 0.1297, 0.8049, 0.0321, -0.0644, 0.0920, -0.1673,  # O x
     0.6370, 0.0595, -0.1018, -0.0287, 0.3775, -0.0054, -0.0843, 0.4110, -0.1526, 0.6034],
    [-0.1473, 1.4076, 0.0355, 0.0965, -0.0830, 0.1349, -0.4060, -0.0485, -0.0072, 0.0293, -0.5553,  # O y
     0.0968, 0.0757, -0.1147, -0.0003, -0.2441, -0.0279, -0.1238, -0.1521, -0.1069, 0.0049],
    [-0.0519, -2.5088, -0.1084, -0.2346, -1.0153, -0.3451, -1.8495, 0.1487, -0.1607, -0.5116, -0.2444,  # O z
     -0.1231, -0.1991, -0.0017, 0.0479, 0.0712, -0.0294, 0.0738, 0.1029, -0.2391, -0.1548],
]).T  # [21, 9]
CB_OFFSET = np.array([0.1615, 1.1247, 0.9377])  # Å along ex, ey, ez

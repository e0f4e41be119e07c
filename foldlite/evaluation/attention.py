"""What the trunk's attention heads know about contacts: per-head contact precision, the attention-only
contact probe (fitting it on chains of a chain set) and the view `foldlite attention` draws.

Contacts are Cβ–Cβ < 8 Å (virtual Cβ for Gly); "long range" is |i - j| >= 24 and a head's precision
is that of its top-L/5 long-range pairs (foldlite.evaluation.metrics.contact_precision), scored on
its symmetrised, APC-corrected map (foldlite.model.attention_probe.symmetrized_apc).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..constants import CONTACT_CLASSES
from ..model.attention_probe import AttentionProbe, symmetrized_apc
from ..model.precision import autocast_context
from ..structure import Structure
from ..tokenizer import PAD_TOKEN, encode_canonical
from .compare import MIN_ALIGNED_IDENTITY, MIN_ALIGNED_RESIDUES, AlignmentError, align_residues
from .metrics import contact_precision

CONTACT_CUTOFF = 8.0  # Å, Cβ–Cβ
LONG_RANGE = 24  # |i - j| at least this is long range
PROBE_MIN_SEPARATION = 6  # the probe is fitted on pairs at least this far apart in sequence


@torch.no_grad()
def network_maps(network, sequence: str, device="cpu", trunk_only: bool = False):
    """One single-sequence pass -> (attention [N*H, L, L] float32, P(contact) [L, L] or None).

    Runs under the same autocast as foldlite.api.run_network, so the maps are the ones a Prediction
    carries. trunk_only skips the pair stack (no contact map): all the probe needs."""
    tokens = torch.from_numpy(encode_canonical(sequence))[None].to(device)  # [1, L]
    with autocast_context(device):
        if trunk_only:
            _, attention = network.trunk(tokens, tokens != PAD_TOKEN)
            return attention[0].float().cpu().numpy(), None
        out = network(tokens)
    probs = torch.softmax(out.distogram[0].float(), -1)[..., :CONTACT_CLASSES].sum(-1)  # [L, L]
    return out.attention[0].float().cpu().numpy(), probs.cpu().numpy()


def head_precisions(features: np.ndarray, cb: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Long-range top-L/5 precision of each map of features [C, L, L] against true Cβ [L, 3] -> [C]."""
    return np.array([contact_precision(f, cb, min_sep=LONG_RANGE, mask=mask) for f in features])


def sample_pairs(features: np.ndarray, cb: np.ndarray, rng: np.random.Generator, max_pairs: int,
                 min_sep: int = PROBE_MIN_SEPARATION) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to max_pairs random pairs i < j, j - i >= min_sep -> (X [P, C], contact [P] bool, j - i [P])."""
    i, j = np.triu_indices(len(cb), k=min_sep)
    if len(i) > max_pairs:
        pick = np.sort(rng.choice(len(i), size=max_pairs, replace=False))
        i, j = i[pick], j[pick]
    contact = np.linalg.norm(cb[i] - cb[j], axis=-1) < CONTACT_CUTOFF
    return features[:, i, j].T.astype(np.float32), contact, j - i


def fit_probe(x: np.ndarray, y: np.ndarray, l2: float, num_heads: int, max_iter: int = 200) -> AttentionProbe:
    """L2-regularised logistic regression on standardised features x [P, C], labels y [P] (torch LBFGS).

    Minimises mean binary cross-entropy + l2/2 · |w|² (the bias is not penalised)."""
    mean = x.mean(0).astype(np.float64)  # [C]
    scale = np.maximum(x.std(0).astype(np.float64), 1e-8)  # [C]
    xs = torch.from_numpy(((x - mean) / scale).astype(np.float32))  # [P, C]
    ys = torch.from_numpy(np.asarray(y, dtype=np.float32))  # [P]
    w = torch.zeros(xs.shape[1], requires_grad=True)
    b = torch.full((1,), float(np.log(max(ys.mean().item(), 1e-6) / max(1 - ys.mean().item(), 1e-6))),
                   requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-7,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xs @ w + b, ys) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return AttentionProbe(weights=w.detach().double().numpy(), bias=float(b.item()), mean=mean, scale=scale,
                          num_heads=num_heads)


# ------------------------------------------------------------------------- the view of one sequence

@dataclass
class AttentionView:
    """Everything `foldlite attention` shows for one sequence.

    features [N*H, L, L]: symmetrised APC maps; contacts [L, L]: the pair stack's P(contact);
    probe_contacts [L, L] or None (no probe for these weights); true_cb [L, 3] Å (NaN where the
    reference has no residue) and true_mask [L] bool, or None without a reference."""

    sequence: str
    features: np.ndarray
    contacts: np.ndarray
    num_heads: int
    probe_contacts: np.ndarray | None = None
    probe_weights: np.ndarray | None = None  # [N*H] standardised weights of the probe
    true_cb: np.ndarray | None = None
    true_mask: np.ndarray | None = None

    @property
    def num_layers(self) -> int:
        return self.features.shape[0] // self.num_heads

    @property
    def true_contacts(self) -> np.ndarray | None:
        """[L, L] bool Cβ–Cβ < 8 Å of the reference (False where it has no residue)."""
        if self.true_cb is None:
            return None
        cb = np.where(self.true_mask[:, None], self.true_cb, 0.0)
        close = np.linalg.norm(cb[:, None] - cb[None], axis=-1) < CONTACT_CUTOFF
        return close & self.true_mask[:, None] & self.true_mask[None, :]

    def precision(self, probs: np.ndarray) -> float:
        """Long-range top-L/5 precision of a [L, L] map against the reference (NaN without one)."""
        if self.true_cb is None:
            return float("nan")
        return contact_precision(probs, np.nan_to_num(self.true_cb), min_sep=LONG_RANGE, mask=self.true_mask)

    def table(self) -> list[dict]:
        """One row per head (layer and head 1-based), then the probe and the pair stack."""
        rows = []
        for c, feature in enumerate(self.features):
            rows.append({"map": f"L{c // self.num_heads + 1}H{c % self.num_heads + 1}",
                         "layer": c // self.num_heads + 1, "head": c % self.num_heads + 1,
                         "probe_weight": None if self.probe_weights is None else float(self.probe_weights[c]),
                         "lr_top_l5_precision": self.precision(feature)})
        if self.probe_contacts is not None:
            rows.append({"map": "attention_probe", "layer": None, "head": None, "probe_weight": None,
                         "lr_top_l5_precision": self.precision(self.probe_contacts)})
        rows.append({"map": "pair_stack", "layer": None, "head": None, "probe_weight": None,
                     "lr_top_l5_precision": self.precision(self.contacts)})
        return rows


def reference_cb(sequence: str, reference: Structure) -> tuple[np.ndarray, np.ndarray]:
    """The reference's Cβ mapped onto the query's residues by sequence alignment -> (cb [L, 3] Å with
    NaN where unaligned, mask [L] bool). An AlignmentError when they are not the same protein."""
    if reference.sequence == sequence:
        query_idx = ref_idx = np.arange(len(sequence))
    else:
        query_idx, ref_idx = align_residues(sequence, reference.sequence)
    identical = sum(sequence[i] == reference.sequence[j] for i, j in zip(query_idx, ref_idx))
    identity = identical / max(1, len(query_idx))
    if len(query_idx) < MIN_ALIGNED_RESIDUES or identity < MIN_ALIGNED_IDENTITY:
        raise AlignmentError(
            f"the reference does not match the sequence: {len(query_idx)} aligned residues at {identity:.0%} "
            f"identity (need >= {MIN_ALIGNED_RESIDUES} at >= {MIN_ALIGNED_IDENTITY:.0%})")
    cb = np.full((len(sequence), 3), np.nan)
    cb[query_idx] = reference.cb[ref_idx]
    return cb, ~np.isnan(cb[:, 0])


def attention_view(model, sequence: str, reference: Structure | None = None,
                   probe: AttentionProbe | None = None) -> AttentionView:
    """Run the network on one canonical sequence (single-sequence, no templates) and gather the view.

    model: a foldlite.api.LoadedModel; probe: the attention probe for its weights, or None."""
    if reference is not None:
        true_cb, true_mask = reference_cb(sequence, reference)  # before the network: a mismatch fails fast
    else:
        true_cb = true_mask = None
    attention, contacts = network_maps(model.network, sequence, model.device)
    features = symmetrized_apc(attention)  # [N*H, L, L]
    return AttentionView(
        sequence=sequence, features=features, contacts=contacts,
        num_heads=model.network.config.trunk.num_heads,
        probe_contacts=None if probe is None else probe.predict(attention),
        probe_weights=None if probe is None else probe.weights,
        true_cb=true_cb, true_mask=true_mask)

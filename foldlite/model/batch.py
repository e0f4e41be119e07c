"""Examples -> padded tensors: the network's input batch (and the training targets beside it)."""
from __future__ import annotations

import torch

from ..data.chains import IGNORE_INDEX, Example
from ..templates.features import NUM_RESIDUE_FEATURES
from ..tokenizer import PAD_TOKEN


def collate(examples: list[Example]) -> dict[str, torch.Tensor]:
    """Pad examples to the longest: tokens [B, L], mask [B, L], distogram [B, L, L], per-residue [B, L];
    "templates": None, or (distance [B, T, L, L] NaN-padded, residue [B, T, L, 3] zero-padded) with
    T the most templates of any example."""
    length = max(len(e.tokens) for e in examples)
    batch = len(examples)
    tokens = torch.full((batch, length), PAD_TOKEN, dtype=torch.long)
    distogram = torch.full((batch, length, length), IGNORE_INDEX, dtype=torch.long)
    per_residue = {k: torch.full((batch, length), IGNORE_INDEX, dtype=torch.long)
                   for k in ("ss3", "phi", "psi", "ca_torsion")}
    for b, e in enumerate(examples):
        n = len(e.tokens)
        tokens[b, :n] = torch.from_numpy(e.tokens)
        distogram[b, :n, :n] = torch.from_numpy(e.distogram)
        for key, target in per_residue.items():
            target[b, :n] = torch.from_numpy(getattr(e, key))
    return {"tokens": tokens, "mask": tokens != PAD_TOKEN, "distogram": distogram, **per_residue,
            "templates": _collate_templates(examples, length)}


def _collate_templates(examples: list[Example], length: int):
    count = max((len(e.templates.distance) for e in examples if e.templates is not None), default=0)
    if count == 0:
        return None
    distance = torch.full((len(examples), count, length, length), float("nan"))
    residue = torch.zeros((len(examples), count, length, NUM_RESIDUE_FEATURES))
    for b, e in enumerate(examples):
        if e.templates is not None:
            t, n = e.templates.distance.shape[:2]
            distance[b, :t, :n, :n] = torch.from_numpy(e.templates.distance)
            residue[b, :t, :n] = torch.from_numpy(e.templates.residue)
    return distance, residue

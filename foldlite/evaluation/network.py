"""Network-only metrics of a model on chains of a chain set: distogram cross-entropy, long-range
contact precision, secondary-structure Q3 (training's validation and `foldlite model-metrics`)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..constants import CONTACT_CLASSES
from ..data.chains import IGNORE_INDEX, ChainSet, make_example
from ..model.batch import collate
from ..model.network import FoldliteModel
from ..model.precision import autocast_context
from .metrics import contact_precision


@torch.no_grad()
def network_metrics(model: FoldliteModel, chainset: ChainSet, indices: np.ndarray, device="cpu",
             prefix: str = "valid_") -> dict:
    """Full-length metrics of the given chains (single-sequence, no templates): distogram CE,
    long-range top-L/5 contact precision and Q3, as {prefix}distogram_ce, {prefix}lr_precision and
    {prefix}q3 (training evaluates the valid split; `foldlite model-metrics` any split)."""
    model.eval()
    ce_sum, ce_count, correct, total, precisions = 0.0, 0, 0, 0, []
    for index in indices:
        example = make_example(chainset.chain(int(index)))
        batch = {k: v.to(device) for k, v in collate([example]).items() if k != "templates"}
        with autocast_context(device):
            output = model(batch["tokens"], batch["mask"])
        logits = output.distogram[0].float()  # [L, L, K]
        target = batch["distogram"][0]
        valid = target != IGNORE_INDEX
        ce_sum += F.cross_entropy(logits[valid], target[valid], reduction="sum").item()
        ce_count += int(valid.sum())
        contact = torch.softmax(logits, -1)[..., :CONTACT_CLASSES].sum(-1).cpu().numpy()
        precision = contact_precision(contact, example.cb)
        if not np.isnan(precision):
            precisions.append(precision)
        ss_pred = output.ss3[0].argmax(-1)
        ss_true = batch["ss3"][0]
        correct += int((ss_pred == ss_true).sum())
        total += len(ss_true)
    model.train()
    return {f"{prefix}distogram_ce": ce_sum / max(1, ce_count),
            f"{prefix}lr_precision": float(np.mean(precisions)) if precisions else float("nan"),
            f"{prefix}q3": correct / max(1, total)}


def format_network_metrics(metrics: dict) -> str:
    """The three numbers of network_metrics(prefix=""), one per line."""
    return "\n".join([
        f"distogram cross-entropy:              {metrics['distogram_ce']:.4f}",
        f"long-range top-L/5 contact precision: {metrics['lr_precision']:.4f}  (|i-j| >= 24, Cβ < 8 Å)",
        f"secondary structure Q3:               {metrics['q3']:.4f}"])

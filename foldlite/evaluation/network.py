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
def network_metric_sums(model: FoldliteModel, chainset: ChainSet, indices: np.ndarray, device="cpu") -> dict:
    """Additive totals over the given chains (single-sequence, full length, no templates): summed
    distogram CE and its pair count, correct and total SS3 residues, summed per-chain long-range
    top-L/5 precision and its chain count. Totals of disjoint chain sets add up, so processes can
    each score a share and sum (foldlite.training.distributed.sum_over_ranks)."""
    was_training = model.training
    model.eval()
    sums = dict.fromkeys(("ce_sum", "ce_pairs", "ss_correct", "ss_residues", "precision_sum", "precision_chains"), 0.0)
    for index in indices:
        example = make_example(chainset.chain(int(index)))
        batch = {k: v.to(device) for k, v in collate([example]).items() if k != "templates"}
        with autocast_context(device):
            output = model(batch["tokens"], batch["mask"])
        logits = output.distogram[0].float()  # [L, L, K]
        target = batch["distogram"][0]
        valid = target != IGNORE_INDEX
        sums["ce_sum"] += F.cross_entropy(logits[valid], target[valid], reduction="sum").item()
        sums["ce_pairs"] += int(valid.sum())
        contact = torch.softmax(logits, -1)[..., :CONTACT_CLASSES].sum(-1).cpu().numpy()
        precision = contact_precision(contact, example.cb)
        if not np.isnan(precision):  # chains without a long-range contact have no precision
            sums["precision_sum"] += float(precision)
            sums["precision_chains"] += 1
        sums["ss_correct"] += int((output.ss3[0].argmax(-1) == batch["ss3"][0]).sum())
        sums["ss_residues"] += len(batch["ss3"][0])
    model.train(was_training)
    return sums


def metrics_from_sums(sums: dict, prefix: str = "valid_") -> dict:
    """{prefix}distogram_ce (per pair), {prefix}lr_precision (mean over chains), {prefix}q3 (per residue)."""
    return {f"{prefix}distogram_ce": sums["ce_sum"] / max(1, sums["ce_pairs"]),
            f"{prefix}lr_precision": (sums["precision_sum"] / sums["precision_chains"]
                                      if sums["precision_chains"] else float("nan")),
            f"{prefix}q3": sums["ss_correct"] / max(1, sums["ss_residues"])}


def network_metrics(model: FoldliteModel, chainset: ChainSet, indices: np.ndarray, device="cpu",
                    prefix: str = "valid_") -> dict:
    """Full-length metrics of the given chains (single-sequence, no templates): distogram CE,
    long-range top-L/5 contact precision and Q3, as {prefix}distogram_ce, {prefix}lr_precision and
    {prefix}q3 (`foldlite model-metrics` on any split; training sums network_metric_sums over ranks)."""
    return metrics_from_sums(network_metric_sums(model, chainset, indices, device), prefix)


def format_network_metrics(metrics: dict) -> str:
    """The three numbers of network_metrics(prefix=""), one per line."""
    return "\n".join([
        f"distogram cross-entropy:              {metrics['distogram_ce']:.4f}",
        f"long-range top-L/5 contact precision: {metrics['lr_precision']:.4f}  (|i-j| >= 24, Cβ < 8 Å)",
        f"secondary structure Q3:               {metrics['q3']:.4f}"])

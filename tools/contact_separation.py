"""Where long-range contacts are found and missed, by chain length and sequence separation.

    python tools/contact_separation.py [--weights W] [--split valid] [--chains 100]

Training crops are 128 residues long, so the network never sees a pair more than 127 residues apart
during training. For chains grouped by length this prints the long-range (|i-j| >= 24) top-L/5 Cβ
contact precision, the share of true contacts at separation >= 128, the share of the top-L/5
predictions there and their precision: how much of the metric sits beyond the training crops.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foldlite.api import load_model, run_network  # noqa: E402
from foldlite.config import TrainConfig  # noqa: E402
from foldlite.constants import CONTACT_CLASSES  # noqa: E402
from foldlite.data.chains import ChainSet  # noqa: E402
from foldlite.training.run import validation_indices  # noqa: E402

FAR = 128  # the training crop length: separations from here on were never seen in training
LENGTH_GROUPS = ((30, 128), (128, 200), (200, 301))


def chain_row(model, chain) -> dict:
    """One chain's long-range contact numbers (single sequence, full length)."""
    probs = run_network(model, chain.sequence, keep_attention=False).distogram[..., :CONTACT_CLASSES].sum(-1)  # [L, L]
    cb = chain.cb  # [L, 3] Å, NaN where unknown
    length = len(cb)
    i, j = np.triu_indices(length, 24)
    distance = np.linalg.norm(cb[i] - cb[j], axis=-1)
    known = np.isfinite(distance)
    i, j, distance = i[known], j[known], distance[known]
    true, far = distance < 8.0, (j - i) >= FAR
    top = np.argsort(-probs[i, j], kind="stable")[:max(1, length // 5)]
    return {"length": length, "precision": true[top].mean() if len(top) else np.nan,
            "true_far": far[true].mean() if true.any() else np.nan,
            "top_far": far[top].mean() if len(top) else np.nan,
            "far_precision": true[top][far[top]].mean() if far[top].any() else np.nan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="weights file (default: the shipped model)")
    parser.add_argument("--split", default="valid", choices=("valid", "test"))
    parser.add_argument("--chains", type=int, default=100, help="seeded subset of chains of <= 300 residues")
    parser.add_argument("--data", default=None, help="chain set (default: $FOLDLITE_DATA or ../shared/data)")
    args = parser.parse_args()
    chainset = ChainSet(args.data)
    if args.split == "valid":  # the training run's own valid subset
        indices = validation_indices(chainset, replace(TrainConfig(), eval_chains=args.chains))
    else:
        candidates = chainset.indices("test", max_length=300, min_length=30)
        indices = np.sort(np.random.default_rng(0).choice(candidates, min(args.chains, len(candidates)), replace=False))
    model = load_model(args.weights, "cpu")
    rows = [chain_row(model, chainset.chain(int(k))) for k in indices]
    print(f"{len(rows)} {args.split} chains; weights {model.version}; long range = |i-j| >= 24, contact = Cβ < 8 Å")
    print("chain length   chains  P@L/5  true contacts at |i-j|>=128  top-L/5 there  their precision")
    for low, high in LENGTH_GROUPS:
        group = [r for r in rows if low <= r["length"] < high]
        if not group:
            continue
        mean = {k: np.nanmean([r[k] for r in group]) if any(np.isfinite(r[k]) for r in group) else np.nan
                for k in ("precision", "true_far", "top_far", "far_precision")}
        print(f"{low:>4}-{high - 1:<4}     {len(group):>6}  {mean['precision']:.3f}  {mean['true_far']:>26.3f}"
              f"  {mean['top_far']:>13.3f}  {mean['far_precision']:>15.3f}")
    print(f"all            {len(rows):>6}  {np.nanmean([r['precision'] for r in rows]):.3f}")


if __name__ == "__main__":
    main()

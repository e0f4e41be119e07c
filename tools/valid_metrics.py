"""Compare weights files on the same fixed valid chains, with the uncertainty of the comparison.

    python tools/valid_metrics.py foldlite/weights/foldlite.pt runs/long/last.pt [--chains 400]

Scores every file with the training run's own evaluation (foldlite.evaluation.network: full-length
chains of <= 300 residues, single sequence, no templates) on the run's seeded valid subset of --chains
chains (100 is the subset training logs; a larger one tells close checkpoints apart). Prints distogram
CE, long-range top-L/5 contact precision and Q3 per file, the standard error of the precision over
chains, and for every file after the first its paired difference from the first (same chains, so the
chain-to-chain spread cancels) with that difference's standard error.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foldlite.config import TrainConfig  # noqa: E402
from foldlite.data.chains import ChainSet  # noqa: E402
from foldlite.evaluation.network import metrics_from_sums, network_metric_sums  # noqa: E402
from foldlite.model.checkpoint import model_from_checkpoint, read_checkpoint  # noqa: E402
from foldlite.model.precision import cpu_bf16_is_fast  # noqa: E402
from foldlite.training.run import validation_indices  # noqa: E402


def per_chain_sums(path: str, chainset: ChainSet, indices: np.ndarray) -> list[dict]:
    model = model_from_checkpoint(read_checkpoint(path), path)
    return [network_metric_sums(model, chainset, [index]) for index in indices]


def total(sums: list[dict]) -> dict:
    return {key: sum(s[key] for s in sums) for key in sums[0]}


def chain_precisions(sums: list[dict]) -> np.ndarray:
    """[C] per-chain long-range precision, NaN for chains without long-range candidates."""
    return np.array([s["precision_sum"] if s["precision_chains"] else np.nan for s in sums])


def standard_error(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", nargs="+", help="weights files or training checkpoints")
    parser.add_argument("--chains", type=int, default=TrainConfig().eval_chains,
                        help="size of the seeded valid subset (default: the training run's 100)")
    parser.add_argument("--data", default=None, help="chain set (default: $FOLDLITE_DATA or ../shared/data)")
    args = parser.parse_args()
    chainset = ChainSet(args.data)
    indices = validation_indices(chainset, replace(TrainConfig(), eval_chains=args.chains))
    print(f"{len(indices)} valid chains (<= 300 residues) of {chainset.path}; bf16 autocast "
          f"{'on' if cpu_bf16_is_fast() else 'off'}; torch threads {torch.get_num_threads()}", flush=True)
    first = None
    for path in args.weights:
        sums = per_chain_sums(path, chainset, indices)
        metrics = metrics_from_sums(total(sums), prefix="")
        precisions = chain_precisions(sums)
        line = (f"{path}: CE {metrics['distogram_ce']:.4f}  P@L/5 {metrics['lr_precision']:.4f} "
                f"(SE {standard_error(precisions):.4f})  Q3 {metrics['q3']:.4f}")
        if first is None:
            first = precisions
        else:
            difference = precisions - first
            line += (f"  | P@L/5 minus the first file's: {np.nanmean(difference):+.4f} "
                     f"(paired SE {standard_error(difference):.4f})")
        print(line, flush=True)


if __name__ == "__main__":
    main()

"""Choose the geometry's compactness weight on the valid split (single-sequence folds).

    python tools/tune_compactness.py 0,1,3,10,30 --limit 30

The network runs once per chain; the geometry is rebuilt for each weight (seed 0), and each result is
scored against the experimental structure (TM-score, lDDT-Cα), beside the ideal-helix baseline and
the true radius of gyration. A weight of 0 is the geometry without the compactness term and without
shrinking the start.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foldlite.api import load_model, run_network  # noqa: E402
from foldlite.data.chains import ChainSet  # noqa: E402
from foldlite.evaluation.benchmark import select_chains  # noqa: E402
from foldlite.evaluation.metrics import lddt_ca, tm_score  # noqa: E402
from foldlite.geometry.backbone import ideal_helix_ca  # noqa: E402
from foldlite.geometry.reconstruct import reconstruct  # noqa: E402
from foldlite.geometry.refine import RefineWeights, radius_of_gyration  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", help="comma-separated compactness weights")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--lengths", default="40-300")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    weights = [float(w) for w in args.weights.split(",")]
    low, high = (int(x) for x in args.lengths.split("-"))
    chainset = ChainSet()
    indices = select_chains(chainset, "valid", args.limit, low, high, 0)
    model = load_model()
    scores = {w: [] for w in weights}
    helix, true_rg = [], []
    for count, index in enumerate(indices, start=1):
        chain = chainset.chain(int(index))
        true_ca = chain.backbone[:, 1].astype(np.float64)
        net = run_network(model, chain.sequence, keep_attention=False)
        helix.append(tm_score(ideal_helix_ca(len(chain.sequence)), true_ca).tm_score)
        true_rg.append(radius_of_gyration(true_ca))
        for w in weights:
            result = reconstruct(net.distogram, net.ca_torsion, seed=0, weights=RefineWeights(compactness=w))
            scores[w].append((tm_score(result.ca, true_ca).tm_score, lddt_ca(result.ca, true_ca),
                              radius_of_gyration(result.ca)))
        print(f"[{count}/{len(indices)}] {chain.name} L={len(chain.sequence)} "
              + " ".join(f"w{w:g}:TM={scores[w][-1][0]:.3f}" for w in weights) + f" helix={helix[-1]:.3f}",
              flush=True)
    print(f"\n{len(indices)} valid chains of {args.lengths} residues; ideal helix TM {np.mean(helix):.3f}; "
          f"true Rg {np.mean(true_rg):.1f} Å")
    for w in weights:
        table = np.array(scores[w])
        print(f"compactness {w:g}: mean TM {table[:, 0].mean():.3f}  lDDT-Cα {table[:, 1].mean():.3f}  "
              f"Rg {table[:, 2].mean():.1f} Å")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

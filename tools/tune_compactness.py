"""Choose the geometry's compactness weight on the valid split (single-sequence folds).

    python tools/tune_compactness.py 0,1,3,10,30 --limit 30
    python tools/tune_compactness.py 10,10:100,10:100:4.5 --limit 20   # compactness[:clash weight[:clash Å]]

The network runs once per chain; the geometry is rebuilt for each weight (seed 0), and each result is
scored against the experimental structure (TM-score, lDDT-Cα), beside the ideal-helix baseline and
the true radius of gyration, and by the clashes of its backbone (N, CA, C, O, Cβ pairs overlapping
by >= 0.4 Å per 1,000 atoms, foldlite.evaluation.stereochemistry). A weight of 0 is the geometry
without the compactness term and without shrinking the start.
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
from foldlite.evaluation.stereochemistry import clashes_per_1000, heavy_atoms  # noqa: E402
from foldlite.structure import Structure  # noqa: E402
from foldlite.geometry.backbone import ideal_helix_ca  # noqa: E402
from foldlite.geometry.reconstruct import reconstruct  # noqa: E402
from foldlite.geometry.refine import RefineWeights, radius_of_gyration  # noqa: E402


def _variant(text: str) -> RefineWeights:
    """'10' / '10:100' / '10:100:4.5' -> RefineWeights(compactness[, clash[, clash_distance]])."""
    names = ("compactness", "clash", "clash_distance")
    values = [float(v) for v in text.split(":")]
    return RefineWeights(**dict(zip(names, values)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", help="comma-separated variants compactness[:clash weight[:clash distance Å]]")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--lengths", default="40-300")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    weights = args.weights.split(",")
    variants = {w: _variant(w) for w in weights}
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
            result = reconstruct(net.distogram, net.ca_torsion, seed=0, weights=variants[w])
            built = Structure(sequence=chain.sequence, coords=result.coords, confidence=np.zeros(len(result.ca)))
            scores[w].append((tm_score(result.ca, true_ca).tm_score, lddt_ca(result.ca, true_ca),
                              radius_of_gyration(result.ca), clashes_per_1000(heavy_atoms(built))))
        print(f"[{count}/{len(indices)}] {chain.name} L={len(chain.sequence)} "
              + " ".join(f"{w}:TM={scores[w][-1][0]:.3f},clash={scores[w][-1][3]:.0f}" for w in weights)
            + f" helix={helix[-1]:.3f}",
              flush=True)
    print(f"\n{len(indices)} valid chains of {args.lengths} residues; ideal helix TM {np.mean(helix):.3f}; "
          f"true Rg {np.mean(true_rg):.1f} Å")
    for w in weights:
        table = np.array(scores[w])
        print(f"{w} ({variants[w]}): mean TM {table[:, 0].mean():.3f}  lDDT-Cα {table[:, 1].mean():.3f}  "
              f"Rg {table[:, 2].mean():.1f} Å  backbone clashes/1000 {table[:, 3].mean():.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Make data/sample_chains.npz: a small chain set (valid + test chains only) for tests and examples.

Usage: python tools/make_sample_data.py [SOURCE.npz] [-o data/sample_chains.npz]
Deterministic (seed 0): 150 valid and 150 test chains of length 40-300, same format as the source.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from foldlite.data.chains import ChainSet, SPLITS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", nargs="?", default=None)
    parser.add_argument("-o", "--output", default="data/sample_chains.npz")
    parser.add_argument("--per-split", type=int, default=150)
    args = parser.parse_args()
    chains = ChainSet(args.source)
    rng = np.random.default_rng(0)
    chosen = []
    for split in ("valid", "test"):
        candidates = chains.indices(split, max_length=300, min_length=40)
        chosen.extend(rng.choice(candidates, size=args.per_split, replace=False).tolist())
    chosen = np.sort(np.array(chosen))
    rows = np.concatenate([np.arange(chains.offsets[i], chains.offsets[i] + chains.lengths[i]) for i in chosen])
    with np.load(chains.path) as source:
        start_resnum = source["pdb_start_resnum"][chosen]
    np.savez_compressed(
        args.output, name=chains.names[chosen], length=chains.lengths[chosen].astype(np.int32),
        seq=chains.seq[rows], dssp=chains.dssp[rows], xyz=chains.xyz[rows], center=chains.center[chosen],
        cluster=chains.cluster[chosen], split=chains.split[chosen], pdb_start_resnum=start_resnum)
    counts = {s: int((chains.split[chosen] == v).sum()) for s, v in SPLITS.items()}
    print(f"wrote {args.output}: {len(chosen)} chains {counts}, {len(rows)} residues, "
          f"{Path(args.output).stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

"""The network's time and peak memory at one length, on one runtime, in a process of its own.

    python benchmarks/bench_network_memory.py --runtime onnx|torch --length 2000 [--repeats 1]

A random sequence (seeded), no templates, the shipped weights; prints the forward pass's wall time
(run_network, softmax included, attention not kept) and the process's peak resident memory. ONNX
Runtime computes each pair map whole (the export has no row loops), torch in row slabs, so their
memory differs at long lengths. Run each setting in a fresh process: the peak is per process.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESIDUES = "ACDEFGHIKLMNPQRSTVWY"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtime", choices=("onnx", "torch"), required=True)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    import numpy as np

    import foldlite
    from foldlite.model.loaded import run_network

    model = foldlite.load_model(runtime=args.runtime)
    sequence = "".join(np.random.default_rng(0).choice(list(RESIDUES), args.length))
    for _ in range(args.repeats):
        tick = time.perf_counter()
        run_network(model, sequence, keep_attention=False)
        seconds = time.perf_counter() - tick
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # ru_maxrss: KB on Linux
        print(f"{args.runtime} {args.length} residues: network {seconds:.2f} s, peak resident memory {peak_gb:.2f} GB")


if __name__ == "__main__":
    main()

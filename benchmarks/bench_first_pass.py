"""The network's first and second forward pass in a fresh process, as a one-record `foldlite fold` meets them.

    python benchmarks/bench_first_pass.py [--repeats 5] [--length 300] [--root OTHER_CHECKOUT]

Each repeat starts a new Python process that loads the shipped model and times `run_network` twice on
the same random sequence (fixed seed): the first pass includes everything a process does once (the
bf16-or-fp32 decision, oneDNN's kernel set-up, first-touch allocations), the second is a warm pass.
With --root, the repeats alternate between this checkout and the other one (e.g. a `git worktree` of an
earlier commit), because this kind of machine's speed drifts from one minute to the next.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from machine import cpu_name

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import resource, sys, time
import numpy as np
from foldlite.api import _default_model, run_network
model = _default_model("cpu")
sequence = "".join(np.random.default_rng(0).choice(list("ACDEFGHIKLMNPQRSTVWY"), int(sys.argv[1])))
start = time.perf_counter(); run_network(model, sequence); first = time.perf_counter() - start
start = time.perf_counter(); run_network(model, sequence); second = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
print(first, second, usage.ru_utime + usage.ru_stime)
"""


def one_process(root: Path, length: int) -> tuple[float, float, float]:
    """(first pass s, second pass s, the process's CPU s) with the foldlite of `root`."""
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run([sys.executable, "-c", CHILD, str(length)], env=env, cwd=root,
                         capture_output=True, text=True, check=True).stdout.split()
    return tuple(float(value) for value in out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--root", type=Path, help="another checkout to alternate with")
    args = parser.parse_args()
    roots = {"this": ROOT} | ({"other": args.root.resolve()} if args.root else {})
    import torch

    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.backends.cpu.get_cpu_capability()}); {args.length} residues")
    results = {name: [] for name in roots}
    for _ in range(args.repeats):
        for name, root in roots.items():
            first, second, cpu = one_process(root, args.length)
            results[name].append(first)
            print(f"{name:5s} ({root}): first {first:.3f} s  second {second:.3f} s  process cpu {cpu:.2f} s")
    for name, firsts in results.items():
        print(f"{name}: first pass median {statistics.median(firsts):.3f} s over {len(firsts)} processes")


if __name__ == "__main__":
    main()

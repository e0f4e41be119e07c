"""Relaxation time against length: side chains + hydrogens, then the restrained minimisation.

    python benchmarks/bench_relax.py [--lengths 100,200,300] [--threads 2] [--solvent vacuum]

For each length, the first chain of the sample chain set (data/sample_chains.npz) at least that long
is cut to it and its experimental backbone (N, CA, C, O, ideal Cβ) relaxed as foldlite.relax does after
a fold: add atoms, then minimise. Reported per step: wall seconds and process CPU seconds (which count
OpenMM's threads; on a machine shared with other jobs the wall clock overstates the cost, CPU time
does not). The first relax of a process also parses the force field (~1 s); it is warmed up first.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from foldlite.data.chains import ChainSet, sample_chainset_path  # noqa: E402
from foldlite.relax import relax_structure  # noqa: E402
from foldlite.structure import Structure  # noqa: E402


def backbone_of_length(chainset: ChainSet, length: int) -> Structure:
    index = next(i for i in range(len(chainset)) if chainset.lengths[i] >= length)
    chain = chainset.chain(index)
    coords = np.concatenate([chain.backbone, chain.cb[:, None]], axis=1)[:length]  # [L, 5, 3] Å
    return Structure(sequence=chain.sequence[:length], coords=coords, confidence=np.full(length, 70.0),
                     name=f"{chain.name}[:{length}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", default="100,200,300")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--solvent", default="vacuum", choices=("vacuum", "gbn2"))
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; OpenMM CPU platform, {args.threads} threads, {args.solvent}")
    chainset = ChainSet(sample_chainset_path())
    relax_structure(backbone_of_length(chainset, 20), threads=args.threads, solvent=args.solvent)  # warm-up
    print(f"{'residues':>8} {'atoms':>6} {'add_atoms_s':>11} {'minimise_s':>10} {'total_wall_s':>12} "
          f"{'total_cpu_s':>11} {'rmsd_A':>6}  chain")
    for length in (int(v) for v in args.lengths.split(",")):
        structure = backbone_of_length(chainset, length)
        wall, cpu = time.perf_counter(), time.process_time()
        result = relax_structure(structure, threads=args.threads, solvent=args.solvent)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        info = result.info
        print(f"{length:>8} {info['atoms']:>6} {info['add_atoms_s']:11.2f} {info['minimize_s']:10.2f} "
              f"{wall:12.2f} {cpu:11.2f} {info['restrained_rmsd']:6.2f}  {structure.name}", flush=True)


if __name__ == "__main__":
    main()

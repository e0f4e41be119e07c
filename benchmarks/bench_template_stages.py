"""Time the template stages of a fold outside the search process: the k-mer prefilter, the restraints
and the network's template embedding, on held-out chains.

    python benchmarks/bench_template_stages.py [--count 12] [--length 300] [--repeats 3] [--root CHECKOUT]

Chains: the test-split chain closest to --length residues, then --count valid chains of 40-500 residues
(seeded), from $FOLDLITE_DATA (else ../shared/data/pdb_chains.npz, else the bundled sample). Each is
searched in the shipped library as `foldlite benchmark` does (the chain itself and its >= 95 % copies left
out). Per chain it prints the best of --repeats timings of
  prefilter   foldlite.templates.search.prefilter (k-mer words, diagonals, ungapped scores), scaled
              to 300 residues (s x 300 / L)
  restraints  foldlite.templates.restraints.template_restraints for the hits fold() uses
  embedding   the shipped network's TemplateEmbedding over all rows, in fold()'s row chunks, for the
              same templates
With --root CHECKOUT the stages of that checkout are timed instead (e.g. a `git worktree` of an older
commit), so two versions can be compared in alternating runs; the machine line names the CPU.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        work()
        times.append(time.perf_counter() - tick)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=12, help="valid chains besides the test chain (default 12)")
    parser.add_argument("--length", type=int, default=300, help="length of the test chain (default 300)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per stage and chain; the best is kept")
    parser.add_argument("--seed", type=int, default=3, help="valid chain choice (default 3)")
    parser.add_argument("--root", default=None, help="time this checkout's code instead of this one's")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve() if args.root else HERE.parent
    sys.path.insert(0, str(root))
    sys.path.insert(0, str(HERE))

    import numpy as np
    import torch

    import foldlite
    from foldlite.data.chains import ChainSet
    from foldlite.evaluation.benchmark import select_chains
    from foldlite.api import load_model
    from foldlite.model.network import PAIR_ROW_CHUNK
    from foldlite.templates import search
    from foldlite.templates.features import features_from_hits
    try:
        from foldlite.templates.resolve import resolve_templates
    except ImportError:  # a checkout from before session 16 (--root)
        from foldlite.templates.library import resolve_templates
    from foldlite.templates.restraints import template_restraints
    from machine import cpu_name

    chains = ChainSet()
    library = resolve_templates("auto")
    search.warm_up(library)
    test = chains.indices("test")
    picked = [int(test[np.argmin(np.abs(chains.lengths[test] - args.length))])]
    picked += [int(i) for i in select_chains(chains, "valid", args.count, 40, 500, seed=args.seed)]
    embedding = load_model(runtime="torch").network.pair_stack.template  # the shipped weights' own size and values
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads; code: {Path(foldlite.__file__).parent.parent}; library: {library.path} ({len(library)} chains)")
    print(f"{'chain':10} {'split':5} {'L':>4} {'hits':>4} {'prefilter':>9} {'restraints':>10} {'embedding':>9}   (s)")
    rows = []
    for index in picked:
        name, sequence = str(chains.names[index]), chains.sequence(index)
        length = len(sequence)
        hits = search.find_templates(sequence, library, exclude_names=(name,), max_identity=0.95)
        prefilter = best_of(args.repeats, lambda: search.prefilter(sequence, library)) * 300 / length
        restraints = best_of(args.repeats, lambda: template_restraints(hits, library, length)) if hits else float("nan")
        embed = float("nan")
        if hits:
            features = features_from_hits(hits, library, sequence)
            distance = torch.from_numpy(features.distance)[None]  # [1, T, L, L]
            residue = torch.from_numpy(features.residue)[None]  # [1, T, L, 3]

            def embed_all_rows():
                with torch.no_grad():
                    for start in range(0, length, PAIR_ROW_CHUNK):
                        embedding(distance, residue, rows=slice(start, start + PAIR_ROW_CHUNK))

            embed = best_of(args.repeats, embed_all_rows)
        split = "test" if index == picked[0] else "valid"
        print(f"{name:10} {split:5} {length:4d} {len(hits):4d} {prefilter:9.3f} {restraints:10.3f} {embed:9.3f}",
              flush=True)
        rows.append((prefilter, restraints, embed))
    for column, label in enumerate(("prefilter per 300 residues", "restraints", "embedding")):
        values = [row[column] for row in rows if row[column] == row[column]]
        print(f"median {label}: {statistics.median(values):.3f} s over {len(values)} chains")
    return 0


if __name__ == "__main__":
    sys.exit(main())

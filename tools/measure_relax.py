"""Before and after relaxation: stereochemistry, accuracy and time on held-out chains.

    python tools/measure_relax.py --split test --limit 30 --lengths 40-300 [--solvent vacuum|gbn2]
                                  [--threads 2] [-o results/relax_test.csv]

Each chain is folded with fold()'s defaults (shipped template library, which holds every chain of the
chain set: the chain itself and hits >= 95 % identical to it are excluded, as in the benchmarks), then relaxed (foldlite.relax.relax_structure). Three models per chain are scored:
  backbone     the predicted model as foldlite writes it without --relax (N, CA, C, O, Cβ)
  full_atom    side chains and hydrogens added, not minimised (with --full-atom-stage)
  relaxed      after the restrained Amber minimisation
by clashes per 1,000 heavy atoms, Ramachandran outliers %, backbone bond/angle outliers (see
foldlite.evaluation.stereochemistry), TM-score and lDDT-Cα against the experimental Cα, and relax seconds per
residue (wall clock and process CPU time, which counts OpenMM's threads). Use --split valid to choose
settings; --split test to report them.
"""
from __future__ import annotations

import argparse
import csv
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from foldlite.api import fold, load_model  # noqa: E402
from foldlite.evaluation.benchmark import TEMPLATE_MAX_IDENTITY, select_chains  # noqa: E402
from foldlite.data.chains import ChainSet  # noqa: E402
from foldlite.evaluation.metrics import lddt_ca, tm_score  # noqa: E402
from foldlite.relax import RelaxError, relax_structure  # noqa: E402
from foldlite.evaluation.stereochemistry import quality  # noqa: E402

STAGES = ("backbone", "full_atom", "relaxed")
MEASURES = ("clashes_per_1000", "rama_outlier_pct", "bond_outliers", "angle_outliers", "tm", "lddt_ca")


def _length_range(text: str) -> tuple[int, int]:
    low, high = (int(v) for v in text.split("-"))
    return low, high


def score(structure, true_ca: np.ndarray) -> dict:
    q = quality(structure)
    return {"clashes_per_1000": q.clashes_per_1000, "rama_outlier_pct": q.rama_outlier_pct,
            "bond_outliers": q.bond_outliers, "angle_outliers": q.angle_outliers, "heavy_atoms": q.heavy_atoms,
            "tm": tm_score(structure.ca, true_ca).tm_score, "lddt_ca": lddt_ca(structure.ca, true_ca)}


def measure_chain(chain, model, solvent: str, threads: int, full_atom_stage: bool) -> dict:
    true_ca = chain.backbone[:, 1]
    prediction = fold(chain.sequence, model=model, keep_attention=False, record_id=chain.name,
                      exclude_templates=(chain.name,), max_template_identity=TEMPLATE_MAX_IDENTITY)
    row = {"name": chain.name, "length": len(chain.sequence), "solvent": solvent,
           "template": prediction.templates[0]["name"] if prediction.templates else "none"}
    row.update({f"backbone_{k}": v for k, v in score(prediction.structure, true_ca).items()})
    try:
        if full_atom_stage:
            added = relax_structure(prediction.structure, threads=threads, minimise=False)
            row.update({f"full_atom_{k}": v for k, v in score(added.structure, true_ca).items()})
        wall, cpu = time.perf_counter(), time.process_time()
        relaxed = relax_structure(prediction.structure, solvent=solvent, threads=threads)
        row["relax_wall_s"], row["relax_cpu_s"] = time.perf_counter() - wall, time.process_time() - cpu
        row.update({f"relaxed_{k}": v for k, v in score(relaxed.structure, true_ca).items()})
        row.update(add_atoms_s=relaxed.info["add_atoms_s"], minimize_s=relaxed.info["minimize_s"],
                   restrained_rmsd=relaxed.info["restrained_rmsd"], status="ok")
    except RelaxError as error:
        row["status"] = f"failed: {error}"
    return row


def summary(rows: list[dict]) -> str:
    done = [r for r in rows if r["status"] == "ok"]
    stages = [s for s in STAGES if f"{s}_tm" in done[0]] if done else []
    lines = [f"{len(done)}/{len(rows)} chains relaxed ({sum(r['length'] for r in done)} residues)",
             f"{'model':<10} " + " ".join(f"{m:>16}" for m in MEASURES)]
    for stage in stages:
        values = [np.mean([r[f"{stage}_{m}"] for r in done]) for m in MEASURES]
        lines.append(f"{stage:<10} " + " ".join(f"{v:16.3f}" for v in values))
    residues = sum(r["length"] for r in done)
    wall = sum(r["relax_wall_s"] for r in done) / residues
    cpu = sum(r["relax_cpu_s"] for r in done) / residues
    lines.append(f"relax seconds per residue: wall {wall:.4f}, CPU {cpu:.4f} "
                 f"(add atoms {sum(r['add_atoms_s'] for r in done) / residues:.4f}, "
                 f"minimise {sum(r['minimize_s'] for r in done) / residues:.4f} wall)")
    drop_tm = np.array([r["backbone_tm"] - r["relaxed_tm"] for r in done])
    drop_lddt = np.array([r["backbone_lddt_ca"] - r["relaxed_lddt_ca"] for r in done])
    lines.append(f"TM drop mean {drop_tm.mean():.4f} max {drop_tm.max():.4f}; lDDT-Cα drop mean "
                 f"{drop_lddt.mean():.4f} max {drop_lddt.max():.4f}; restrained-atom RMSD mean "
                 f"{np.mean([r['restrained_rmsd'] for r in done]):.3f} Å")
    bonds = [(np.sum([r[f'{s}_bond_outliers'] for r in done]), np.sum([r[f'{s}_angle_outliers'] for r in done]))
             for s in stages]
    lines.append("bond / angle outliers in all: " + ", ".join(f"{s} {b}/{a}" for s, (b, a) in zip(stages, bonds)))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("valid", "test"), default="test")
    parser.add_argument("--data", default=None)
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--lengths", type=_length_range, default=(40, 300))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--solvent", default="vacuum", choices=("vacuum", "gbn2"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("-o", "--out", default="runs/relax.csv")
    parser.add_argument("--reverse", action="store_true",
                        help="measure the chosen chains last to first (a second worker on the same set)")
    parser.add_argument("--merge", nargs="+", default=None, metavar="CSV",
                        help="no folding: summarise these per-chain CSVs (first row per chain wins)")
    parser.add_argument("--full-atom-stage", action="store_true",
                        help="also score the model with side chains added but not minimised (adds time)")
    args = parser.parse_args()
    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]), flush=True)
    if args.merge:
        return merge(args.merge, args.out)
    import torch

    torch.set_num_threads(args.threads)
    chainset = ChainSet(args.data)
    indices = select_chains(chainset, args.split, args.limit, *args.lengths, seed=args.seed)
    if args.reverse:
        indices = indices[::-1]
    model = load_model()
    rows = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:
        writer = None
        for count, index in enumerate(indices, start=1):
            row = measure_chain(chainset.chain(int(index)), model, args.solvent, args.threads, args.full_atom_stage)
            rows.append(row)
            if writer is None:
                writer = csv.DictWriter(handle, fieldnames=list(row))
                writer.writeheader()
            writer.writerow({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
            handle.flush()
            print(f"[{count}/{len(indices)}] {row['name']} L={row['length']} {row['status']} "
                  + (f"clash {row['backbone_clashes_per_1000']:.1f} -> {row['relaxed_clashes_per_1000']:.1f} "
                     f"TM {row['backbone_tm']:.3f} -> {row['relaxed_tm']:.3f} "
                     f"{row['relax_wall_s']:.1f} s wall {row['relax_cpu_s']:.1f} s CPU" if row["status"] == "ok" else ""),
                  flush=True)
    print(summary(rows))
    return 0


def merge(paths: list[str], out: str) -> int:
    """Summarise per-chain CSVs of workers on the same chain set; the merged rows go to `out`."""
    rows, seen = [], set()
    for path in paths:
        with open(path) as handle:
            for row in csv.DictReader(handle):
                if row["name"] in seen:
                    continue
                seen.add(row["name"])
                rows.append({k: _number(k, v) for k, v in row.items()})
    rows.sort(key=lambda r: r["name"])
    with open(out, "w", newline="") as handle:
        fields = list(dict.fromkeys(k for r in rows for k in r))
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(summary(rows))
    print(f"{len(rows)} chains -> {out}")
    return 0


def _number(key: str, value: str):
    if key in ("name", "solvent", "template", "status") or value == "":
        return value
    return float(value)


if __name__ == "__main__":
    sys.exit(main())

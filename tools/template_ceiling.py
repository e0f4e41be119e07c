"""How good can a fold built from templates get? The search's hits copied one at a time, against the native.

    python tools/template_ceiling.py [--split valid|test] [--limit 60] [--lengths 40-300] [--max-hits 20]
                                     [-o runs/template_ceiling.csv]

For the chains tools/eval_templates.py folds (same selection, same library, the chain itself and its
>= 95 % copies excluded), every hit fold()'s search returns (up to --max-hits, fold()'s E-value cut-off)
is copied onto the query as the copy baseline does (foldlite.templates.restraints.template_ca: aligned
residues take the template's Cα, gaps are bridged) and scored by TM-score against the native Cα:

  copy_top       the first hit (the copy baseline, "nearest" in eval_templates)
  copy_best      the best single hit, chosen knowing the answer: an oracle no method can beat by
                 picking one template
  aligned_best   the best hit's TM-score over its aligned residues only (gaps not counted, still
                 normalised by the query length): what the template itself gets right
  union_coverage the fraction of query residues that at least one hit aligns

A fold that beats copy_best must place residues better than any one template does: combine templates
or predict what none of them holds. Rows are grouped by the first hit's identity, as in eval_templates.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from eval_templates import _length_range, evaluation_library  # noqa: E402
from foldlite.data.chains import ChainSet  # noqa: E402
from foldlite.evaluation.benchmark import TEMPLATE_MAX_IDENTITY, select_chains  # noqa: E402
from foldlite.evaluation.metrics import tm_score  # noqa: E402
from foldlite.templates.restraints import template_ca  # noqa: E402
from foldlite.templates.search import DEFAULT_MAX_EVALUE, search_library  # noqa: E402

COLUMNS = ["name", "length", "n_hits", "top_identity", "top_coverage", "copy_top", "copy_best", "best_rank",
           "best_identity", "aligned_best", "union_coverage"]
GROUPS = (("best hit >= 30 %", 0.30, 1.01), ("best hit 15-30 %", 0.15, 0.30), ("best hit < 15 %", 0.0, 0.15))


def chain_row(chain, library, max_hits: int) -> dict:
    """One query: its hits copied one at a time and scored against its native Cα."""
    sequence, true_ca = chain.sequence, chain.backbone[:, 1]
    length = len(sequence)
    hits = search_library(sequence, library, max_hits=max_hits, max_evalue=DEFAULT_MAX_EVALUE,
                          exclude_names={chain.name}, max_identity=TEMPLATE_MAX_IDENTITY)
    row = {"name": chain.name, "length": length, "n_hits": len(hits)}
    if not hits:
        return row | {k: float("nan") for k in COLUMNS[3:]}
    traces = [template_ca(hit, library, length) for hit in hits]  # [L, 3] Å each
    copies = [tm_score(trace, true_ca).tm_score for trace in traces]
    best = int(np.argmax(copies))
    aligned = np.zeros(length, dtype=bool)
    aligned[hits[best].query_idx] = True
    covered = np.zeros(length, dtype=bool)
    for hit in hits:
        covered[hit.query_idx] = True
    return row | {"top_identity": hits[0].identity, "top_coverage": hits[0].coverage, "copy_top": copies[0],
                  "copy_best": copies[best], "best_rank": best + 1, "best_identity": hits[best].identity,
                  "aligned_best": tm_score(traces[best], true_ca, mask=aligned).tm_score,
                  "union_coverage": float(covered.mean())}


def summary(rows: list[dict]) -> str:
    lines = [f"{'group':<18} {'chains':>6} {'copy_top':>9} {'copy_best':>10} {'aligned_best':>13} "
             f"{'union_cov':>10} {'best_not_top':>13}"]
    for label, low, high in GROUPS:
        group = [r for r in rows if r["n_hits"] and low <= r["top_identity"] < high]
        if not group:
            continue
        mean = lambda key: np.mean([r[key] for r in group])  # noqa: E731
        lines.append(f"{label:<18} {len(group):>6} {mean('copy_top'):>9.3f} {mean('copy_best'):>10.3f} "
                     f"{mean('aligned_best'):>13.3f} {mean('union_coverage'):>10.3f} "
                     f"{sum(r['best_rank'] > 1 for r in group):>13}")
    lines.append(f"{'no hit':<18} {sum(not r['n_hits'] for r in rows):>6}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("valid", "test"), default="valid")
    parser.add_argument("--data", default=None, help="chain set (default: $FOLDLITE_DATA or ../shared/data)")
    parser.add_argument("--limit", type=int, default=60, help="seeded random subset of the split (default 60)")
    parser.add_argument("--lengths", type=_length_range, default=(40, 300), help="MIN-MAX residues (default 40-300)")
    parser.add_argument("--seed", type=int, default=0, help="chain subset (eval_templates' --seed)")
    parser.add_argument("--max-hits", type=int, default=20, help="hits copied per query (default 20)")
    parser.add_argument("--library", default=None, help="as eval_templates' --library")
    parser.add_argument("--cache-dir", default="runs/eval_templates_cache")
    parser.add_argument("-o", "--out", default="runs/template_ceiling.csv", help="per-chain CSV")
    args = parser.parse_args(argv)

    chainset = ChainSet(args.data)
    library = evaluation_library(Path(chainset.path), args.split, Path(args.cache_dir), None, args.library)
    indices = select_chains(chainset, args.split, args.limit, *args.lengths, seed=args.seed)
    print(f"{len(indices)} {args.split} chains of {args.lengths[0]}-{args.lengths[1]} residues from "
          f"{chainset.path}; up to {args.max_hits} hits each, E <= {DEFAULT_MAX_EVALUE}", flush=True)
    rows = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for count, index in enumerate(indices, start=1):
            row = chain_row(chainset.chain(int(index)), library, args.max_hits)
            rows.append(row)
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
            handle.flush()
            print(f"[{count}/{len(indices)}] {row['name']} L={row['length']} hits={row['n_hits']} "
                  f"copy top={row['copy_top']:.3f} best={row['copy_best']:.3f}", flush=True)
    print(summary(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Remote-homology recall and speed of the template searches: profile (HMMER) vs Smith–Waterman.

    python tools/measure_search.py [--split valid] [--limit 100] [--lengths 40-300] [--seed 0]
                                   [--data pdb_chains.npz] [--cache-dir runs/eval_templates_cache]
                                   [--pool-evalue 10] [--pool-hits 30] [--no-tm] [-o results/search_recall_valid.csv]

Queries: a seeded random subset of the split's chains; library: the train split only (valid and test
share no 30 % cluster with train, so every relative there is a distant one). Each query is searched
by both methods (its own chain and >= 95 % copies excluded, as benchmarks do). The pool is every
chain either method reports at E <= --pool-evalue (up to --pool-hits each); each pooled chain is
compared with the query by TM-align (tmtools, the `bench` extra), whose structural alignment also
gives the identity. A same-fold distant relative: TM-score >= 0.5 (normalised by the query length)
and < 30 % identity over the structural alignment. Pooled relevance: relatives neither method
reports are not counted (the recall is relative to the pool, as in TREC pooling).

"both" (combined_search) is derived from the two searches' rows: the union of their hits, with
Smith–Waterman's alignment where it found the chain and the better of the two E-values.
Per method and E-value cut-off: recall (relatives found / relatives in the pool), queries with at
least one relative found, precision (reported hits with TM >= 0.5), and the TM-score of the hit's
own alignment (the template's aligned Cα superposed on the query's: how good the hit is as a
template). Times: seconds per query for each search (index building excluded); sw and profile in one thread,
"both" as fold() runs it (profile in a second thread beside Smith–Waterman).
"""
from __future__ import annotations

import argparse
import csv
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from foldlite.data.chains import ChainSet  # noqa: E402
from foldlite.evaluation.benchmark import TEMPLATE_MAX_IDENTITY, select_chains  # noqa: E402
from foldlite.evaluation.metrics import tm_score  # noqa: E402
from foldlite.templates.build import build_library  # noqa: E402
from foldlite.templates.library import load_library  # noqa: E402
from foldlite.templates.profile import digital_library, profile_search  # noqa: E402
from foldlite.templates.search import combined_search, kmer_index, search  # noqa: E402

METHODS = {"sw": search, "profile": profile_search}
CUTOFFS = (1e-3, 0.1, 1.0, 10.0)
SAME_FOLD_TM = 0.5
DISTANT_IDENTITY = 0.30


def train_library(data: Path, cache_dir: Path):
    path = cache_dir / f"{data.stem}_train_library.npz"
    if not path.is_file() or load_library(path).source != f"{data.resolve()} (train chains)":
        cache_dir.mkdir(parents=True, exist_ok=True)
        print(build_library(data, path, split="train").format_report(), flush=True)
    return load_library(path)


def alignment_tm(hit, query_ca: np.ndarray, library) -> float:
    """TM-score (by query length) of the template's aligned Cα on the query's, the hit's own alignment."""
    model = np.zeros_like(query_ca)
    model[hit.query_idx] = library.ca(hit.index)[hit.target_idx]
    mask = np.zeros(len(query_ca), dtype=bool)
    mask[hit.query_idx] = True
    return tm_score(model, query_ca, mask=mask).tm_score


def structural(query_ca, query_seq, library, index) -> tuple[float, float]:
    """(TM-align TM-score normalised by the query, identity over TM-align's aligned pairs)."""
    import tmtools

    target = library.sequence(index)
    result = tmtools.tm_align(query_ca.astype(np.float64), library.ca(index), query_seq, target)
    pairs = [(a, b) for a, b, m in zip(result.seqxA, result.seqyA, result.seqM) if a != "-" and b != "-"]
    identity = float(np.mean([a == b for a, b in pairs])) if pairs else 0.0
    return float(result.tm_norm_chain1), identity


def union_rows(rows: list[dict]) -> list[dict]:
    """The "both" search (combined_search) from the two searches' rows: one row per (query, chain),
    Smith–Waterman's alignment where it has one, the better E-value, ranks by E-value."""
    merged: dict[tuple, dict] = {}
    for r in sorted(rows, key=lambda r: r["method"] != "sw"):  # sw rows first
        key = (r["query"], r["target"])
        if key in merged:
            merged[key]["evalue"] = min(merged[key]["evalue"], r["evalue"])
        else:
            merged[key] = dict(r, method="both")
    out = sorted(merged.values(), key=lambda r: (r["query"], r["evalue"]))
    for query in {r["query"] for r in out}:
        for rank, r in enumerate(r for r in out if r["query"] == query):
            r["rank"] = rank
    return out


def summarise(rows: list[dict], queries: int) -> str:
    rows = rows + union_rows([r for r in rows if r["method"] in METHODS])
    relatives = {(r["query"], r["target"]) for r in rows if r["relative"]}
    with_relative = {q for q, _ in relatives}
    lines = [f"{queries} queries; pool: {len({(r['query'], r['target']) for r in rows})} (query, chain) pairs, "
             f"{len(relatives)} same-fold distant relatives (TM-align >= {SAME_FOLD_TM}, identity "
             f"< {DISTANT_IDENTITY:.0%}) for {len(with_relative)} queries",
             f"{'method':<8} {'E <=':>6} {'recall':>7} {'queries':>8} {'hits':>6} {'precision':>9} "
             f"{'aln TM (relatives)':>19} {'aln TM (best hit)':>18}"]
    for method in (*METHODS, "both"):
        for cutoff in CUTOFFS:
            found = [r for r in rows if r["method"] == method and r["evalue"] <= cutoff]
            hits_relative = [r for r in found if r["relative"]]
            recall = len({(r["query"], r["target"]) for r in hits_relative}) / max(len(relatives), 1)
            queries_found = len({r["query"] for r in hits_relative})
            precision = np.mean([r["tm_align"] >= SAME_FOLD_TM for r in found]) if found else float("nan")
            aln = np.mean([r["aln_tm"] for r in hits_relative]) if hits_relative else float("nan")
            best = [r for r in found if r["rank"] == 0]
            best_aln = np.mean([r["aln_tm"] for r in best]) if best else float("nan")
            lines.append(f"{method:<8} {cutoff:>6g} {recall:7.3f} {queries_found:>4}/{len(with_relative):<3} "
                         f"{len(found):>6} {precision:9.3f} {aln:19.3f} {best_aln:18.3f}")
    return "\n".join(lines)


def read_rows(path: Path) -> list[dict]:
    """Rows of a CSV this tool wrote, with their types back."""
    rows = []
    with open(path) as handle:
        for r in csv.DictReader(handle):
            r.update(rank=int(r["rank"]), relative=r["relative"] == "True",
                     **{k: float(r[k]) for k in ("evalue", "tm_align", "aln_tm", "search_identity", "coverage")})
            rows.append(r)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("valid", "test"), default="valid")
    parser.add_argument("--data", default=None, help="chain set (default: $FOLDLITE_DATA or ../shared/data)")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--lengths", default="40-300")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default="runs/eval_templates_cache")
    parser.add_argument("--pool-evalue", type=float, default=10.0)
    parser.add_argument("--pool-hits", type=int, default=30)
    parser.add_argument("--no-tm", action="store_true", help="time the searches only (no TM-align)")
    parser.add_argument("-o", "--out", default="runs/search_recall.csv")
    parser.add_argument("--summarise", metavar="CSV", help="only print the table of a CSV written before")
    args = parser.parse_args(argv)
    if args.summarise:
        rows = read_rows(Path(args.summarise))
        print(summarise(rows, len({r["query"] for r in rows})))
        return 0
    low, high = (int(v) for v in args.lengths.split("-"))
    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]), flush=True)
    print(f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}", flush=True)
    chainset = ChainSet(args.data)
    library = train_library(Path(chainset.path), Path(args.cache_dir))
    kmer_index(library), digital_library(library)  # built once, outside the timings
    indices = select_chains(chainset, args.split, args.limit, low, high, seed=args.seed)
    print(f"{len(indices)} {args.split} queries of {low}-{high} residues; library {library} ", flush=True)

    rows, times = [], {m: [] for m in (*METHODS, "both")}
    for count, index in enumerate(indices, start=1):
        chain = chainset.chain(int(index))
        query_ca = chain.backbone[:, 1].astype(np.float64)
        found = {}
        for method, run in METHODS.items():
            tick = time.perf_counter()
            hits = run(chain.sequence, library, max_hits=args.pool_hits, max_evalue=args.pool_evalue,
                       exclude_names={chain.name}, max_identity=TEMPLATE_MAX_IDENTITY)
            times[method].append(time.perf_counter() - tick)
            found[method] = hits
        tick = time.perf_counter()  # "both" is timed as it runs in fold(): the two searches in two threads
        combined_search(chain.sequence, library, max_hits=args.pool_hits, max_evalue=args.pool_evalue,
                        exclude_names={chain.name}, max_identity=TEMPLATE_MAX_IDENTITY)
        times["both"].append(time.perf_counter() - tick)
        structure = {}
        if not args.no_tm:
            for hit in {h.index: h for hits in found.values() for h in hits}.values():
                structure[hit.index] = structural(query_ca, chain.sequence, library, hit.index)
        for method, hits in found.items():
            for rank, hit in enumerate(hits):
                tm, identity = structure.get(hit.index, (float("nan"), float("nan")))
                rows.append({"query": chain.name, "length": len(chain.sequence), "method": method, "rank": rank,
                             "target": hit.name, "evalue": hit.evalue, "search_identity": hit.identity,
                             "coverage": hit.coverage, "tm_align": tm, "structural_identity": identity,
                             "relative": bool(tm >= SAME_FOLD_TM and identity < DISTANT_IDENTITY),
                             "aln_tm": alignment_tm(hit, query_ca, library) if not args.no_tm else float("nan")})
        print(f"[{count}/{len(indices)}] {chain.name} L={len(chain.sequence)} "
              + " ".join(f"{m}: {len(found[m])} hits {times[m][-1]:.2f}s" for m in METHODS)
              + f" both: {times['both'][-1]:.2f}s", flush=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if rows:
        with open(out, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows)
    lengths = np.array([len(chainset.chain(int(i)).sequence) for i in indices])
    for method in times:
        t = np.array(times[method])
        print(f"{method}: {t.mean():.3f} s per query (median {np.median(t):.3f}, max {t.max():.3f}; "
              f"mean length {lengths.mean():.0f}), {t.sum() / lengths.sum() * 300:.3f} s per 300 residues")
    if not args.no_tm:
        print(summarise(rows, len(indices)))
    print(f"rows -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

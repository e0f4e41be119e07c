"""Do templates help? Fold held-out chains with and without templates, beside the copy baseline.

    python tools/eval_templates.py [--split test|valid] [--data pdb_chains.npz] [--limit 100]
                                   [--lengths 40-300] [--seed 0] [-o runs/eval_templates.csv]
                                   [--cache-dir runs/eval_templates_cache] [--weights PATH] [--threads N]
                                   [--best-identity 0.15-0.30] [--identity-floor F] [--modes ...]
                                   [--restrained-schedule STEPS,POLISH]

Valid and test chains share no 30 % cluster with train, so a train-only library gives them almost
no close templates. To measure the regime templates are for, the library here holds train + the
chosen split's chains: a chain's homologues in its own split (same cluster) can then serve as
templates. The chain itself and every hit >= 95 % identical to it (other copies of it) are always
excluded. Use --split valid to choose settings and --split test to report them.

Per chain, four predictions:
  none        fold(templates=None): the network alone
  features    fold(templates=library, restrain_geometry=False, exclude the chain, max identity 0.95):
              the hits are the network's template input (weights without a template pathway
              ignore them, so this equals none for them)
  restrained  the same plus the hits' distance restraints mixed into the distogram before geometry
  nearest     benchmark.nearest_template with the same exclusions: the best hit's Cα copied (ideal
              helix when the search finds nothing)
scored by TM-score and lDDT-Cα against the native Cα. The table splits the chains by the identity of
the best template fold() used (>= 30 % vs < 30 % or none). Per-chain rows go to the CSV.

The library: the shipped foldlite/weights/library.npz when it holds every chain of --data (train,
valid and test: what users search), or --library PATH; otherwise train chains from --train-library
(default: the shipped library if it is the train split of --data, else built from --data) + the
chosen split of --data, built once into --cache-dir and reused. Which one was used is printed.
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

from foldlite.api import fold, load_model  # noqa: E402
from foldlite.evaluation.benchmark import (TEMPLATE_MAX_IDENTITY, nearest_template, seeded_subset,  # noqa: E402
                                           select_chains)
from foldlite.data.chains import ChainSet  # noqa: E402
from foldlite.templates.library import Library, default_library_path, load_library  # noqa: E402
from foldlite.templates.build import build_library  # noqa: E402
from foldlite.evaluation.metrics import lddt_ca, tm_score  # noqa: E402
from foldlite.templates import restraints as template_restraints  # noqa: E402
from foldlite.templates import search as template_search  # noqa: E402
from foldlite.templates.search import kmer_index  # noqa: E402

IDENTITY_SPLIT = 0.30
# fold() options per mode; "nearest" is the copy baseline. The *_nostart modes leave out the
# refinement start from the best template's trace (fold(template_start=False)).
FOLD_MODES = {"none": {"templates": None},
              "features": {"restrain_geometry": False},
              "restrained": {"restrain_geometry": True},
              "features_nostart": {"restrain_geometry": False, "template_start": False},
              "restrained_nostart": {"restrain_geometry": True, "template_start": False}}
DEFAULT_MODES = ("none", "features", "restrained", "nearest")
# A mode may end in @E to search with E-value cut-off E instead of fold()'s default, e.g. restrained@0.1.


def fold_options(mode: str) -> dict:
    name, _, evalue = mode.partition("@")
    options = dict(FOLD_MODES[name])
    if evalue:
        options["template_evalue"] = float(evalue)
    return options
MODES = DEFAULT_MODES  # replaced by --modes


def fields(modes) -> list[str]:
    fold_modes = [m for m in modes if m != "nearest"]
    return (["name", "length", "n_templates", "best_template", "best_identity", "best_coverage", "best_evalue",
             "nearest_template", "nearest_identity", "nearest_coverage", "nearest_evalue"]
            + [f"{k}_{m}" for k in ("tm", "lddt") for m in modes]
            + [f"plddt_{m}" for m in fold_modes] + [f"seconds_{m}" for m in modes])


def _length_range(text: str) -> tuple[int, int]:
    low, high = (int(v) for v in text.split("-"))
    if not 1 <= low <= high:
        raise argparse.ArgumentTypeError(f"need 1 <= MIN <= MAX, got {text!r}")
    return low, high


def _cached_split_library(data: Path, split: str, cache_dir: Path) -> Path:
    """The `split` chains of `data` as a library file in cache_dir, built on first use (and again
    when the cached one was built from another chain set)."""
    data = data.resolve()
    path = cache_dir / f"{data.stem}_{split}_library.npz"
    if not path.is_file() or load_library(path).source != f"{data} ({split} chains)":
        print(f"building the {split}-split library from {data} -> {path} (once)", flush=True)
        cache_dir.mkdir(parents=True, exist_ok=True)
        print(build_library(data, path, split=split).format_report(), flush=True)
    return path


def _merge(first: Library, second: Library) -> Library:
    """One in-memory library with the chains of both (each chain keeps its own frame)."""
    return Library(names=np.concatenate([first.names, second.names]),
                   lengths=np.concatenate([first.lengths, second.lengths]),
                   seq=np.concatenate([first.seq, second.seq]),
                   ca=np.concatenate([first.ca_int, second.ca_int]),
                   cb_offset=np.concatenate([first.cb_offset, second.cb_offset]),
                   center=np.concatenate([first.center, second.center]),
                   source=f"{first.source} + {second.source}")


def evaluation_library(data: Path, split: str, cache_dir: Path, train_library: str | None,
                       library: str | None) -> Library:
    """--library, or the shipped library when it holds all chains of `data`, else train + `split`."""
    if library == "train+split":
        return train_plus_split_library(data, split, cache_dir, train_library)
    path = Path(library) if library is not None else default_library_path()
    if library is not None or (path.is_file() and load_library(path).source == f"{data.resolve()} (all chains)"):
        chosen = load_library(path)
        print(f"library: {path}, {len(chosen)} chains from {chosen.source}", flush=True)
        kmer_index(chosen)  # built once here, not inside the first chain's timing
        return chosen
    return train_plus_split_library(data, split, cache_dir, train_library)


def train_plus_split_library(data: Path, split: str, cache_dir: Path, train_library: str | None) -> Library:
    """Train chains (given, shipped or built) + the `split` chains of `data`, with its search index."""
    train = None
    if train_library is not None:
        train_path = Path(train_library)
    else:
        # the shipped library is the train split of the shared chain set: reuse it when it says so
        train_path = default_library_path()
        train = load_library(train_path) if train_path.is_file() else None
        if train is None or train.source != f"{data.resolve()} (train chains)":
            train, train_path = None, _cached_split_library(data, "train", cache_dir)
    train = train or load_library(train_path)
    test_path = _cached_split_library(data, split, cache_dir)
    test = load_library(test_path)
    print(f"library: {len(train)} train chains ({train_path}) + {len(test)} {split} chains ({test_path})",
          flush=True)
    library = _merge(train, test)
    kmer_index(library)  # built once here, not inside the first chain's timing
    return library


def _identity_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    try:
        return float(low), float(high)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX identities such as 0.15-0.30, got {text!r}") from None


def chains_by_best_identity(chainset: ChainSet, library: Library, indices, low: float, high: float) -> np.ndarray:
    """The chains of `indices` whose best template, as fold() finds it (the chain itself and its
    copies excluded), is low <= identity < high (~0.1 s of search per chain)."""
    kept = []
    for index in indices:
        chain = int(index)
        hits = template_search.find_templates(chainset.sequence(chain), library, exclude_names=(str(chainset.names[chain]),),
                                              max_identity=TEMPLATE_MAX_IDENTITY)
        if hits and low <= hits[0].identity < high:
            kept.append(chain)
    return np.asarray(kept, dtype=np.int64)


def _scores(ca: np.ndarray, true_ca: np.ndarray) -> tuple[float, float]:
    return tm_score(ca, true_ca).tm_score, lddt_ca(ca, true_ca)


def evaluate_chain(chain, model, library, seed: int) -> dict:
    true_ca = chain.backbone[:, 1]
    exclude = {chain.name}
    row = {"name": chain.name, "length": len(chain.sequence)}
    row.update(n_templates=0, best_template="none", best_identity=float("nan"), best_coverage=float("nan"),
               best_evalue=float("nan"))
    recorded = False
    for mode in (m for m in MODES if m != "nearest"):
        options = fold_options(mode)
        options = {"templates": library, "exclude_templates": exclude,
                   "max_template_identity": TEMPLATE_MAX_IDENTITY, **options}
        tick = time.perf_counter()
        prediction = fold(chain.sequence, model=model, seed=seed, keep_attention=False, record_id=chain.name,
                          **options)
        row[f"seconds_{mode}"] = time.perf_counter() - tick
        row[f"tm_{mode}"], row[f"lddt_{mode}"] = _scores(prediction.structure.ca, true_ca)
        row[f"plddt_{mode}"] = prediction.mean_plddt
        if options.get("templates", library) is not None and not recorded:
            recorded = True  # the template columns describe the first template mode listed
            best = prediction.templates[0] if prediction.templates else None
            row["n_templates"] = len(prediction.templates)
            row["best_template"] = best["name"] if best else "none"
            row["best_identity"] = best["identity"] if best else float("nan")
            row["best_coverage"] = best["coverage"] if best else float("nan")
            row["best_evalue"] = best["evalue"] if best else float("nan")

    tick = time.perf_counter()
    ca, hit = nearest_template(chain.sequence, library, exclude_names=exclude, max_identity=TEMPLATE_MAX_IDENTITY)
    row["seconds_nearest"] = time.perf_counter() - tick
    row["tm_nearest"], row["lddt_nearest"] = _scores(ca, true_ca)
    row["nearest_template"] = hit.name if hit else "none"
    row["nearest_identity"] = hit.identity if hit else float("nan")
    # the baseline searches up to E = 10: its hits above fold()'s 1e-3 show what that threshold rejects
    row["nearest_coverage"] = hit.coverage if hit else float("nan")
    row["nearest_evalue"] = hit.evalue if hit else float("nan")
    return row


def format_table(rows: list[dict]) -> str:
    groups = {
        f"best template >= {IDENTITY_SPLIT:.0%}": [r for r in rows if r["best_identity"] >= IDENTITY_SPLIT],
        f"< {IDENTITY_SPLIT:.0%} or no template": [r for r in rows if not r["best_identity"] >= IDENTITY_SPLIT],
        "all": rows,
    }
    lines = [f"{'chains':<28} {'n':>5}  " + "  ".join(f"{'TM_' + m:>12}" for m in MODES)
             + "  " + "  ".join(f"{'lDDT_' + m:>14}" for m in MODES)]
    for label, chosen in groups.items():
        if not chosen:
            lines.append(f"{label:<28} {0:>5}")
            continue
        tm = [np.mean([r[f"tm_{m}"] for r in chosen]) for m in MODES]
        lddt = [np.mean([r[f"lddt_{m}"] for r in chosen]) for m in MODES]
        lines.append(f"{label:<28} {len(chosen):>5}  " + "  ".join(f"{v:12.3f}" for v in tm)
                     + "  " + "  ".join(f"{v:14.3f}" for v in lddt))
    with_template = [r for r in rows if r["n_templates"] > 0]
    if with_template and "none" in MODES:
        for mode in (m for m in MODES if m not in ("none", "nearest")):
            better = np.mean([r[f"tm_{mode}"] > r["tm_none"] for r in with_template])
            lines.append(f"{mode}: templates found for {len(with_template)}/{len(rows)} chains; TM above "
                         f"no templates for {better:.0%} of them")
    return "\n".join(lines)


def _csv_value(key: str, value):
    if not isinstance(value, float):
        return value
    return f"{value:.3g}" if key.endswith("evalue") else round(value, 4)  # E-values span 1e-100..10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("valid", "test"), default="test",
                        help="chains to fold, and the split added to the library (default test)")
    parser.add_argument("--data", default=None, help="chain set (default: $FOLDLITE_DATA or ../shared/data)")
    parser.add_argument("--limit", type=int, default=100, help="seeded random subset of the split's chains (default 100)")
    parser.add_argument("--lengths", type=_length_range, default=(40, 300), help="MIN-MAX residues (default 40-300)")
    parser.add_argument("--seed", type=int, default=0, help="chain subset and geometry seed")
    parser.add_argument("-o", "--out", default="runs/eval_templates.csv", help="per-chain CSV")
    parser.add_argument("--cache-dir", default="runs/eval_templates_cache", help="where built libraries are kept")
    parser.add_argument("--train-library", default=None,
                        help="train-split library (default: the shipped one if built from --data, else built)")
    parser.add_argument("--search", choices=template_search.SEARCH_METHODS, default=None,
                        help=f"template search for fold() and the copy baseline (default {template_search.DEFAULT_SEARCH})")
    parser.add_argument("--max-templates", type=int, default=None,
                        help=f"hits kept per query (default {template_search.DEFAULT_MAX_TEMPLATES}; all restrain, the network reads 4)")
    parser.add_argument("--sw-candidates", type=int, default=None,
                        help=f"prefilter candidates Smith-Waterman scores beside the profile search "
                             f"(default {template_search.COMBINED_CANDIDATES})")
    parser.add_argument("--no-pair-confidence", action="store_true",
                        help="trust every aligned pair of a template alike (restraints.PAIR_CONFIDENCE off)")
    parser.add_argument("--library", default=None,
                        help="use this library as it is (it must hold the split's chains for same-split "
                             "templates); train+split: train chains + the split's chains, as before the "
                             "shipped library held every chain")
    parser.add_argument("--identity-floor", type=float, default=None,
                        help=f"restraints.IDENTITY_FLOOR: identity below which a template gets no trust "
                             f"(default {template_restraints.IDENTITY_FLOOR})")
    parser.add_argument("--best-identity", type=_identity_range, default=None,
                        help="MIN-MAX: only chains whose best template (fold()'s search, the same exclusions) "
                             "is MIN <= identity < MAX, e.g. 0.15-0.30; found before --limit picks among them")
    parser.add_argument("--weights", default=None, help="weights (default: the shipped ones)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--modes", default=",".join(DEFAULT_MODES),
                        help=f"comma-separated, from {', '.join(FOLD_MODES)}, nearest (default {','.join(DEFAULT_MODES)})")
    parser.add_argument("--restrained-schedule", default=None, metavar="STEPS,POLISH",
                        help="refinement steps of template-restrained folds (default: foldlite.geometry.reconstruct."
                             "RESTRAINED_SCHEDULE), to measure another schedule")
    args = parser.parse_args(argv)
    if args.restrained_schedule:
        from foldlite.geometry.reconstruct import RESTRAINED_SCHEDULE

        steps, polish = (int(v) for v in args.restrained_schedule.split(","))
        RESTRAINED_SCHEDULE.update(steps=steps, polish_steps=polish)  # the dict fold_models reads
    global MODES
    MODES = tuple(args.modes.split(","))
    unknown = {m for m in MODES if m.partition("@")[0] not in FOLD_MODES} - {"nearest"}
    if unknown:
        parser.error(f"--modes: unknown {sorted(unknown)}")

    import torch

    if args.search:  # fold()'s TemplateOptions and nearest_template read the default when called
        template_search.DEFAULT_SEARCH = args.search
    if args.max_templates:
        template_search.DEFAULT_MAX_TEMPLATES = args.max_templates
    if args.sw_candidates:
        template_search.COMBINED_CANDIDATES = args.sw_candidates
    if args.no_pair_confidence:
        template_restraints.PAIR_CONFIDENCE = False
    if args.identity_floor is not None:
        template_restraints.IDENTITY_FLOOR = args.identity_floor

    if args.threads:
        torch.set_num_threads(args.threads)
    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]), flush=True)
    print(f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}", flush=True)
    chainset = ChainSet(args.data)
    library = evaluation_library(Path(chainset.path), args.split, Path(args.cache_dir), args.train_library,
                                 args.library)
    if args.best_identity is None:
        indices = select_chains(chainset, args.split, args.limit, *args.lengths, seed=args.seed)
    else:
        indices = chains_by_best_identity(chainset, library, select_chains(chainset, args.split, None, *args.lengths),
                                          *args.best_identity)
        print(f"--best-identity {args.best_identity[0]}-{args.best_identity[1]}: {len(indices)} chains", flush=True)
        indices = seeded_subset(indices, args.limit, args.seed)
    model = load_model(args.weights, "cpu")
    print(f"{len(indices)} {args.split} chains of {args.lengths[0]}-{args.lengths[1]} residues from {chainset.path}; "
          f"library {len(library)} chains ({library.total_residues} residues); weights {model.version}; "
          f"torch threads {torch.get_num_threads()}; template search {template_search.DEFAULT_SEARCH}; "
          f"per-pair confidence {'on' if template_restraints.PAIR_CONFIDENCE else 'off'}; "
          f"up to {template_search.DEFAULT_MAX_TEMPLATES} templates; Smith-Waterman candidates "
          f"{template_search.COMBINED_CANDIDATES}", flush=True)

    rows = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:  # rows written as they come: a stopped run keeps them
        columns = fields(MODES)
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for count, index in enumerate(indices, start=1):
            row = evaluate_chain(chainset.chain(int(index)), model, library, args.seed)
            rows.append(row)
            writer.writerow({k: _csv_value(k, row[k]) for k in columns})
            handle.flush()
            template = (f"{row['best_template']} ({row['best_identity']:.0%})" if row["n_templates"]
                        else "no template")
            print(f"[{count}/{len(indices)}] {row['name']} L={row['length']} TM "
                  + " ".join(f"{m}={row[f'tm_{m}']:.3f}" for m in MODES) + f"  {template}", flush=True)
    print(format_table(rows))
    print(f"per-chain rows -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Calibrate and measure the pairwise confidence (foldlite.geometry.pae): PAE against observed distance errors,
pTM against true TM-score, for single-sequence and template folds.

    python tools/calibrate_pae.py --split valid --limit 40 --fit      # compare candidate pTM maps (valid only)
    python tools/calibrate_pae.py --split test --limit 50 -o results/pae_calibration_test.csv \
        --plot results/pae_calibration_test.png                       # report it

Per chain, two folds: templates=None (single sequence) and templates from a library of the train
split + the chosen split's chains, the chain itself and >= 95 % identical hits excluded (as in
tools/eval_templates.py, so that same-cluster relatives can serve). For each fold: the raw pTM
candidates (mean TM pair term over all pairs, its best row, mean pLDDT / 100), true TM-score, and for
every residue pair i < j the predicted error PAE[i, j] beside the observed |d_true - d_model| of the
Cβ-Cβ distance, collected in 1 Å bins of predicted error. The PAE and pTM maps applied are the ones the
weights file carries (`foldlite export --calibrate` fits them on valid folds; older files get the
module's maps, foldlite.geometry.pae). --fit prints a map per raw pTM candidate and the pair maps
fitted on these folds, as export would. The per-fold CSV and the pair bins (<out>.bins.npz) are kept:
--rescore reads them back instead of folding and applies the weights' maps (the folds and raw scores
do not depend on them).
"""
from __future__ import annotations

import argparse
import csv
import shlex
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from eval_templates import train_plus_split_library  # noqa: E402
from foldlite.api import fold, load_model  # noqa: E402
from foldlite.evaluation.benchmark import TEMPLATE_MAX_IDENTITY, select_chains  # noqa: E402
from foldlite.data.chains import ChainSet  # noqa: E402
from foldlite.geometry.confidence import fit_calibration  # noqa: E402
from foldlite.evaluation.metrics import tm_score  # noqa: E402
from foldlite.geometry.pae import (FAR_DISTANCE, PairErrorSamples, calibrate_pae, calibrate_ptm,  # noqa: E402
                                   pairwise_errors, raw_ptm)

ERROR_BINS = np.arange(0.0, 21.0, 1.0)  # Å, predicted-error bin edges (last bin open)
MIN_PAIRS_PER_KNOT = 50  # a PAE bin with fewer pairs gives no knot
# bins[key] = [count, sum observed, sum predicted] per ERROR_BINS bin: the raw PAE per regime of model
# distance (what --fit maps) and the calibrated PAE that fold() reports (what the user reads)
BIN_KEYS = ("raw_all", "raw_near", "raw_far", "calibrated_all", "calibrated_near")
CANDIDATES = ("raw_mean", "raw_best_row", "plddt")


def _length_range(text: str) -> tuple[int, int]:
    low, high = (int(v) for v in text.split("-"))
    return low, high


def measure_fold(prediction, chain, bins: dict, pae_knots: dict) -> dict:
    """Raw scores and true TM of one fold; adds its pairs to bins[key] = [count, sum_obs, sum_pred] (BIN_KEYS)."""
    distogram = (prediction.restrained_distogram if prediction.restrained_distogram is not None
                 else prediction.distogram)
    built_cb = prediction.structure.cb  # [L, 3] Å
    pae, tm_term = pairwise_errors(distogram, built_cb)  # [L, L] Å, [L, L]
    upper = np.triu_indices(len(built_cb), 1)
    built_full = np.linalg.norm(built_cb[:, None] - built_cb[None], axis=-1)  # [L, L] Å
    built = built_full[upper]  # [P] Å
    true = np.linalg.norm(chain.cb[:, None] - chain.cb[None], axis=-1)[upper]  # [P] Å
    observed, predicted = np.abs(true - built), pae[upper]
    shown = calibrate_pae(pae, built_full, pae_knots)[upper]  # [P] Å, the PAE fold() reports
    near, everything = built < FAR_DISTANCE, np.ones_like(built, bool)
    for key, values, keep in (("raw_all", predicted, everything), ("raw_near", predicted, near),
                              ("raw_far", predicted, ~near), ("calibrated_all", shown, everything),
                              ("calibrated_near", shown, near)):
        index = np.clip(np.searchsorted(ERROR_BINS, values, side="right") - 1, 0, len(ERROR_BINS) - 1)
        counts = bins.setdefault(key, np.zeros((3, len(ERROR_BINS))))
        np.add.at(counts[0], index[keep], 1.0)
        np.add.at(counts[1], index[keep], observed[keep])
        np.add.at(counts[2], index[keep], values[keep])
    length = len(built_cb)
    row_means = (tm_term.sum(1) - 1.0) / max(length - 1, 1)
    return {"raw_mean": raw_ptm(tm_term), "raw_best_row": float(row_means.max()),
            "plddt": prediction.mean_plddt / 100.0, "tm": tm_score(prediction.structure.ca, chain.backbone[:, 1]).tm_score,
            "mean_pae": float(shown.mean()), "mean_raw_pae": float(predicted.mean()),
            "mean_observed_error": float(observed.mean()),
            "templates": len(prediction.templates)}


def pearson(a, b) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if len(a) > 2 else float("nan")


def plot(rows, bins, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.4), constrained_layout=True)
    for key, colour, style in (("calibrated_all", "#1f77b4", "o-"), ("calibrated_near", "#d62728", "o-"),
                               ("raw_all", "#1f77b4", "x:")):
        count, observed, predicted = bins[key]
        keep = count >= MIN_PAIRS_PER_KNOT
        left.plot(predicted[keep] / count[keep], observed[keep] / count[keep], style, color=colour,
                  label=f"{key.replace('_', ' ')} pairs ({int(count.sum())})")
    limit = max(left.get_xlim()[1], left.get_ylim()[1])
    left.plot([0, limit], [0, limit], "k--", lw=0.8, label="ideal")
    left.set_xlabel(f"predicted Cβ distance error (PAE), bin mean (Å); near: model < {FAR_DISTANCE:g} Å")
    left.set_ylabel("observed |d_true - d_model| (Å)")
    left.set_title(f"PAE calibration (1 Å bins with >= {MIN_PAIRS_PER_KNOT} pairs)", fontsize=9)
    left.legend(fontsize=7)
    for mode, marker in (("single", "o"), ("templates", "^")):
        chosen = [r for r in rows if r["mode"] == mode]
        right.scatter([r["tm"] for r in chosen], [r["ptm"] for r in chosen], marker=marker, s=18, label=mode)
    right.plot([0, 1], [0, 1], "k--", lw=0.8)
    right.set_xlim(0, 1)
    right.set_ylim(0, 1)
    right.set_xlabel("true TM-score")
    right.set_ylabel("pTM")
    r = pearson([x["ptm"] for x in rows], [x["tm"] for x in rows])
    right.set_title(f"pTM vs TM-score, Pearson r = {r:.3f} ({len(rows)} folds)", fontsize=9)
    right.legend(fontsize=7)
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("valid", "test"), default="valid")
    parser.add_argument("--data", default=None)
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--lengths", type=_length_range, default=(40, 300))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit", action="store_true", help="fit and print the pTM calibration knots")
    parser.add_argument("--cache-dir", default="runs/eval_templates_cache")
    parser.add_argument("-o", "--out", default="runs/pae_calibration.csv")
    parser.add_argument("--plot", default=None)
    parser.add_argument("--rescore", action="store_true", help="read --out and its bins instead of folding")
    args = parser.parse_args()
    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]), flush=True)
    out = Path(args.out)
    bins_path = out.with_suffix(".bins.npz")
    if args.rescore:
        with open(out) as handle:
            rows = [{k: (v if k in ("name", "mode") else float(v)) for k, v in r.items()} for r in csv.DictReader(handle)]
        maps = load_model().calibration.pair
        for row in rows:
            row["ptm"] = float(calibrate_ptm(row["raw_mean"], maps.ptm))
        with np.load(bins_path) as saved:
            bins = {key: saved[key] for key in saved.files}
        return report(rows, bins, args, len({r["name"] for r in rows}), maps)
    chainset = ChainSet(args.data)
    library = train_plus_split_library(Path(chainset.path), args.split, Path(args.cache_dir), None)
    indices = select_chains(chainset, args.split, args.limit, *args.lengths, seed=args.seed)
    model = load_model()
    maps = model.calibration.pair  # the maps this weights file carries (foldlite.geometry.pae)
    rows, bins = [], {}
    for count, index in enumerate(indices, start=1):
        chain = chainset.chain(int(index))
        for mode, options in (("single", {"templates": None}),
                              ("templates", {"templates": library, "exclude_templates": (chain.name,),
                                             "max_template_identity": TEMPLATE_MAX_IDENTITY})):
            prediction = fold(chain.sequence, model=model, seed=args.seed, keep_attention=False, **options)
            row = {"name": chain.name, "length": len(chain.sequence), "mode": mode,
                   **measure_fold(prediction, chain, bins, maps.pae_knots)}
            row["ptm"] = float(calibrate_ptm(row["raw_mean"], maps.ptm))
            rows.append(row)
            print(f"[{count}/{len(indices)}] {chain.name} {mode} TM {row['tm']:.3f} pTM {row['ptm']:.3f} "
                  f"raw {row['raw_mean']:.3f} best-row {row['raw_best_row']:.3f} pLDDT {row['plddt']:.3f}", flush=True)
        save(rows, bins, out, bins_path)  # after every chain: a stopped run keeps what it measured
    return report(rows, bins, args, len(indices), maps)


def save(rows: list[dict], bins: dict, out: Path, bins_path: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: round(v, 6) if isinstance(v, float) else v for k, v in r.items()} for r in rows)
    np.savez(bins_path, **bins)


def report(rows: list[dict], bins: dict, args, chains: int, maps) -> int:
    out = Path(args.out)
    tm = np.array([r["tm"] for r in rows])
    print(f"{len(rows)} folds of {chains} {args.split} chains; the weights' maps in use: {maps.to_dict()}")
    for subset in ("all", "single", "templates"):
        chosen = [r for r in rows if subset == "all" or r["mode"] == subset]
        print(f"Pearson r with true TM ({subset}, {len(chosen)} folds): "
              + ", ".join(f"{c} {pearson([r[c] for r in chosen], [r['tm'] for r in chosen]):.3f}"
                          for c in (*CANDIDATES, "ptm"))
              + f"; mean pTM {np.mean([r['ptm'] for r in chosen]):.3f} vs mean TM {np.mean([r['tm'] for r in chosen]):.3f}")
    for key in BIN_KEYS:
        count, observed, predicted = bins[key]
        keep = count > 0
        print(f"PAE bins ({key.replace('_', ' ')} pairs): predicted -> observed mean error (Å), pairs")
        print("  " + "; ".join(f"{p:.1f}->{o:.1f} ({int(c)})" for p, o, c in
                               zip(predicted[keep] / count[keep], observed[keep] / count[keep], count[keep])))
    if args.fit:
        for candidate in CANDIDATES:
            calibration = fit_calibration(np.array([r[candidate] for r in rows]), tm, num_knots=8)
            knots = (tuple(round(x, 4) for x in calibration.raw), tuple(round(y / 100, 4) for y in calibration.plddt))
            print(f"fit {candidate}: knots {knots}")
        # the same fit `foldlite export --calibrate` stores in a weights file (foldlite.geometry.pae)
        samples = PairErrorSamples()
        samples.bins = {"near": bins["raw_near"], "far": bins["raw_far"]}
        samples.raw_ptm, samples.tm = [r["raw_mean"] for r in rows], [r["tm"] for r in rows]
        fitted, names = samples.fit()
        print(f"fit of the pair maps ({', '.join(names)}): {fitted.to_dict()}")
    if args.plot:
        plot(rows, bins, args.plot)
        print(f"plot -> {args.plot}")
    print(f"per-fold rows -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

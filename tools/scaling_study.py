"""Collect the scaling study's runs into one table and one plot: valid long-range P@L/5 against the
measured training CPU time of each recipe (issue 11).

    python tools/scaling_study.py runs/scale-base runs/scale-small runs/scale-deep-pair \
        --csv results/scaling.csv --plot results/scaling.png

Each run folder holds the metrics.csv that `foldlite train` writes; the recipe is read from the run's
last.pt (model config) and its parameter count. Only rows with a valid evaluation are kept. The
slope column is the gain in valid P@L/5 per training CPU-hour between the last two evaluations
(a noisy estimate on 100 chains; the plot shows the whole curve).
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch

from foldlite.model.checkpoint import model_from_checkpoint, read_checkpoint
from foldlite.config import MODEL_RECIPES
from foldlite.model.network import count_parameters

FIELDS = ["recipe", "parameters", "step", "train_cpu_hours", "crops", "valid_lr_precision",
          "valid_distogram_ce", "valid_q3"]


def recipe_name(config: dict) -> str:
    for name, recipe in MODEL_RECIPES.items():
        trunk, pair = recipe.to_dict()["trunk"], recipe.to_dict()["pair"]
        if config["trunk"] == trunk and {k: v for k, v in config["pair"].items() if k != "templates"} == \
                {k: v for k, v in pair.items() if k != "templates"}:
            return name
    return "custom"


def read_run(folder: Path) -> list[dict]:
    state = read_checkpoint(folder / "last.pt")
    model = model_from_checkpoint(state, folder / "last.pt")
    name, parameters = recipe_name(model.config.to_dict()), count_parameters(model)
    batch = state["train_config"]["batch_size"]
    rows = []
    with open(folder / "metrics.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("valid_lr_precision"):
                rows.append({"recipe": name, "parameters": parameters, "step": int(row["step"]),
                             "train_cpu_hours": float(row["train_cpu_hours"]),
                             "crops": int(row["step"]) * batch,
                             "valid_lr_precision": float(row["valid_lr_precision"]),
                             "valid_distogram_ce": float(row["valid_distogram_ce"]),
                             "valid_q3": float(row["valid_q3"])})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--csv", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    table = [row for folder in args.runs for row in read_run(folder)]
    print(f"{'recipe':<10} {'params':>9} {'step':>6} {'crops':>7} {'train CPU-h':>11} {'P@L/5':>7} "
          f"{'CE':>6} {'Q3':>6}")
    for row in table:
        print(f"{row['recipe']:<10} {row['parameters']:>9,} {row['step']:>6} {row['crops']:>7} "
              f"{row['train_cpu_hours']:>11.3f} {row['valid_lr_precision']:>7.3f} "
              f"{row['valid_distogram_ce']:>6.3f} {row['valid_q3']:>6.3f}")
    by_recipe: dict[str, list[dict]] = {}
    for row in table:
        by_recipe.setdefault(row["recipe"], []).append(row)
    print("\nlast evaluation and slope over the last two evaluations (P@L/5 per training CPU-hour):")
    for name, rows in by_recipe.items():
        last = rows[-1]
        slope = float("nan")
        if len(rows) >= 2 and rows[-1]["train_cpu_hours"] > rows[-2]["train_cpu_hours"]:
            slope = (rows[-1]["valid_lr_precision"] - rows[-2]["valid_lr_precision"]) / \
                (rows[-1]["train_cpu_hours"] - rows[-2]["train_cpu_hours"])
        best = max(r["valid_lr_precision"] for r in rows)
        print(f"  {name:<10} P@L/5 {last['valid_lr_precision']:.3f} (best {best:.3f}) after "
              f"{last['train_cpu_hours']:.3f} CPU-h, {last['crops']} crops; slope {slope:+.3f}/CPU-h")
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(table)
    if args.plot:
        import matplotlib
        import matplotlib.pyplot as plt

        matplotlib.use("Agg")  # a script, not a library: no display here
        figure, axes = plt.subplots(1, 2, figsize=(10, 4))
        for name, rows in by_recipe.items():
            label = f"{name} ({rows[0]['parameters'] / 1e6:.1f} M)"
            hours = [r["train_cpu_hours"] for r in rows]
            axes[0].plot(hours, [r["valid_lr_precision"] for r in rows], marker="o", label=label)
            axes[1].plot(hours, [r["valid_distogram_ce"] for r in rows], marker="o", label=label)
        axes[0].set_ylabel("valid long-range top-L/5 precision")
        axes[1].set_ylabel("valid distogram cross-entropy")
        for axis in axes:
            axis.set_xlabel("measured training CPU-hours (evaluations excluded)")
            axis.grid(alpha=0.3)
        axes[0].legend()
        figure.suptitle("Scaling study: same wall time, same crops and seed, 1 thread each")
        figure.tight_layout()
        figure.savefig(args.plot, dpi=120)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Write the measured test-split numbers into the shipped weights' provenance (weights unchanged).

    python tools/record_test_metrics.py foldlite/weights/foldlite.pt results/ [--valid-from RUN/metrics.csv]

Reads what tools/release_model.sh wrote under results/ (model-metrics, benchmark, reprof comparison,
realistic template evaluation), stores each number with the command that measured it under
provenance["test"], rewrites the file atomically and its .sha256 sidecar. The state dict is not
touched, so the numbers still describe exactly these weights. --valid-from: also write the valid
metrics the run logged at the weights' own step into provenance["valid"] (checkpoints written before
training recorded them there, e.g. a last.pt whose segment never beat its starting point).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from foldlite.model.checkpoint import read_checkpoint, save_checkpoint, sha256_of  # noqa: E402


def _number(text: str, pattern: str) -> float:
    match = re.search(pattern, text)
    if match is None:
        raise SystemExit(f"pattern {pattern!r} not found")
    return float(match.group(1))


def _command(text: str) -> str:
    return next(line[2:] for line in text.splitlines() if line.startswith("$ "))


def collect(results: Path) -> dict:
    test = {"split": "test"}
    metrics = (results / "model_metrics_test.txt").read_text()
    test["model_metrics"] = {
        "command": _command(metrics),
        "distogram_ce": _number(metrics, r"distogram cross-entropy:\s+([\d.]+)"),
        "long_range_top_l5_contact_precision": _number(metrics, r"contact precision:\s+([\d.]+)"),
        "q3": _number(metrics, r"Q3:\s+([\d.]+)"),
    }
    bench = (results / "benchmark_test.txt").read_text()
    test["benchmark"] = {
        "command": _command(bench),
        "mean_tm_single_sequence": _number(bench, r"\nfoldlite\s+\d+\s+([\d.]+)"),
        "mean_tm_with_templates": _number(bench, r"\nfoldlite\+templates\s+\d+\s+([\d.]+)"),
        "template_library": next((line.split(":", 1)[1].strip() for line in bench.splitlines()
                                  if line.startswith("template library:")), "not stated"),
        "plddt_lddt_pearson": _number(bench, r"Pearson r over all residues:\s+([\d.]+)"),
    }
    ss = results / "ss_vs_reprof_test.txt"
    if ss.is_file():
        text = ss.read_text()
        test["ss_vs_reprof"] = {"command": _command(text), "q3_foldlite": _number(text, r"Q3 foldlite\s+([\d.]+)"),
                                "q3_reprof": _number(text, r"Q3 reprof\s+([\d.]+)")}
    templates = results / "eval_templates_test.txt"
    if templates.is_file():
        text = templates.read_text()
        row = re.search(r"best template >= 30%\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", text)
        if row is None:
            raise SystemExit(f"{templates}: no '>= 30%' row")
        test["templates_realistic"] = {
            "command": _command(text), "chains_best_hit_30pct": int(row.group(1)),
            "mean_tm_none": float(row.group(2)), "mean_tm_foldlite": float(row.group(3)),
            "mean_tm_copy_baseline": float(row.group(4))}
    return test


def valid_at_step(metrics_csv: Path, step: int) -> dict:
    """The weight-average valid metrics a training run logged at `step` (metrics.csv)."""
    import csv

    with open(metrics_csv, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if int(r["step"]) == step and r.get("valid_lr_precision")]
    if not rows:
        raise SystemExit(f"{metrics_csv}: no evaluation logged at step {step}")
    row = rows[-1]
    return {**{k: float(row[k]) for k in ("valid_distogram_ce", "valid_lr_precision", "valid_q3")},
            "valid_step": step}


def main(weights: Path, results: Path, valid_from: Path | None = None) -> int:
    payload = read_checkpoint(weights)
    payload["provenance"] = dict(payload["provenance"], test=collect(results))
    if valid_from is not None:
        payload["provenance"]["valid"] = valid_at_step(valid_from, payload["provenance"]["steps"])
    save_checkpoint(payload, weights)
    digest = sha256_of(weights)
    Path(str(weights) + ".sha256").write_text(f"{digest}  {weights.name}\n")
    print(f"{weights}: provenance['test'] written" + (", provenance['valid'] too" if valid_from else "")
          + f"; sha256 {digest}")
    return 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("--valid-from", type=Path, default=None, help="the run's metrics.csv")
    args = parser.parse_args()
    sys.exit(main(args.weights, args.results, args.valid_from))

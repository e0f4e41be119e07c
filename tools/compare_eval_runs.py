"""Paired comparison of two `tools/eval_templates.py` runs on the same chains: per column, the mean of
each run, the mean per-chain difference (second minus first) with its standard error, the extremes and
how many chains moved up or down; then the restrained folds' mean TM-score per template-identity group.

    python tools/compare_eval_runs.py BEFORE.csv AFTER.csv

Use it to tell a change from run-to-run noise: a difference of two standard errors or less is not one.
"""
from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/: the groups of template_groups.py
from template_groups import GROUPS, identity_group  # noqa: E402

COLUMNS = ("tm_none", "tm_restrained", "lddt_none", "lddt_restrained", "plddt_none", "plddt_restrained",
           "seconds_none", "seconds_restrained")
MOVED = 1e-4  # smaller per-chain differences count as unchanged


def read_rows(path: str) -> dict[str, dict]:
    with open(path, newline="") as handle:
        return {row["name"]: row for row in csv.DictReader(handle)}


def _best_identity(row: dict) -> float:
    text = row.get("best_identity", "")
    return float(text) if text not in ("", "nan") else math.nan


def compare(first: dict[str, dict], second: dict[str, dict]) -> list[str]:
    names = [name for name in first if name in second]
    if len(names) < 2:
        raise SystemExit(f"the two runs share {len(names)} chains; a paired comparison needs at least 2")
    lines = []
    for column in COLUMNS:
        if column not in first[names[0]] or column not in second[names[0]]:
            continue
        before = [float(first[name][column]) for name in names]
        after = [float(second[name][column]) for name in names]
        diff = [b - a for a, b in zip(before, after)]
        error = statistics.stdev(diff) / math.sqrt(len(diff))
        lines.append(f"{column:18s} n {len(diff)}  {statistics.mean(before):.4f} -> {statistics.mean(after):.4f}  "
                     f"difference {statistics.mean(diff):+.4f} (SE {error:.4f}), min {min(diff):+.4f}, "
                     f"max {max(diff):+.4f}, up {sum(d > MOVED for d in diff)}, down {sum(d < -MOVED for d in diff)}")
    if "tm_restrained" in first[names[0]] and "tm_restrained" in second[names[0]]:
        for group in GROUPS:
            members = [name for name in names if identity_group(_best_identity(first[name])) == group]
            if members:
                before = statistics.mean(float(first[name]["tm_restrained"]) for name in members)
                after = statistics.mean(float(second[name]["tm_restrained"]) for name in members)
                lines.append(f"best template {group:12s} n {len(members):3d}  TM restrained {before:.4f} -> {after:.4f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", help="per-chain CSV of the first run (e.g. the version before)")
    parser.add_argument("second", help="per-chain CSV of the second run, same chains")
    args = parser.parse_args(argv)
    print("\n".join(compare(read_rows(args.first), read_rows(args.second))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

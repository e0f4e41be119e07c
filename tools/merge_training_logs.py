"""Append a continued run's metrics.csv to the shipped training log, so it covers every step.

    python tools/merge_training_logs.py runs/v3/metrics.csv foldlite/weights/training_log.csv

Rows of the existing log at or after the new run's first step are replaced (a continued run starts
where the shipped weights stopped); a step logged twice in the new file (a resumed run repeats the
steps after its last checkpoint) keeps its last row; columns are the union of both files.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path


def merge(new_path: Path, log_path: Path) -> int:
    with open(new_path, newline="") as handle:
        reader = csv.DictReader(handle)
        new_fields, new_rows = list(reader.fieldnames or []), list(reader)
    if not new_rows:
        raise SystemExit(f"{new_path}: no rows")
    old_fields, old_rows = [], []
    if log_path.exists():
        with open(log_path, newline="") as handle:
            reader = csv.DictReader(handle)
            old_fields, old_rows = list(reader.fieldnames or []), list(reader)
    # a resumed run logs again the steps after its last checkpoint: keep the last row of each step
    by_step = {int(row["step"]): row for row in new_rows}
    new_rows = [by_step[step] for step in sorted(by_step)]
    first_new_step = int(new_rows[0]["step"])
    kept = [row for row in old_rows if int(row["step"]) < first_new_step]
    fields = new_fields + [f for f in old_fields if f not in new_fields]
    tmp = log_path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(kept + new_rows)
    tmp.replace(log_path)
    print(f"{log_path}: {len(kept)} earlier rows + {len(new_rows)} from {new_path}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(merge(Path(sys.argv[1]), Path(sys.argv[2])))

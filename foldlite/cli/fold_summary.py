"""The end of a `foldlite fold` run: the table on stdout and summary.tsv beside the outputs.

summary.tsv has one line per input record, in input order (whatever order the workers finished in):

| column | meaning |
|---|---|
| id | the record id as given |
| file | the file stem of its outputs (<file>.pdb, <file>.json, ...) |
| length | residues |
| mean_plddt | mean pLDDT of the rank-1 model (empty when it failed) |
| ptm | its pTM |
| templates | the templates used, "NAME NN%" separated by ", " (empty: none) |
| seconds | the record's time: its JSON's timings_s.total (0 when skipped) |
| status | ok, skipped or failed |
| error | why it failed or was skipped (empty when ok) |

Skipped records (finished by an earlier run) keep the scores their JSON holds.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..io.safe_io import atomic_write_text
from .fold_worker import RecordRow

SUMMARY_NAME = "summary.tsv"
COLUMNS = ("id", "file", "length", "mean_plddt", "ptm", "templates", "seconds", "status", "error")


def _status(row: RecordRow) -> tuple[str, str]:
    if row.ok:
        return "ok", ""
    if row.status.startswith("skipped"):
        return "skipped", row.status[len("skipped"):].strip(" ()")
    return "failed", row.status.removeprefix("failed: ")


def _number(value, digits: int) -> str:
    return "" if value is None or value != value else f"{value:.{digits}f}"


def summary_text(rows: list[RecordRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=lambda r: r.index):
        status, error = _status(row)
        writer.writerow([row.id, row.name, row.length, _number(row.plddt, 2), _number(row.ptm, 3),
                         ", ".join(row.templates), f"{row.seconds:.3f}", status, error.replace("\n", " ")])
    return buffer.getvalue()


def write_summary(out: Path, rows: list[RecordRow]) -> Path:
    path = Path(out) / SUMMARY_NAME
    atomic_write_text(path, summary_text(rows))
    return path


def print_table(rows: list[RecordRow], elapsed: float, out: Path) -> None:
    rows = sorted(rows, key=lambda r: r.index)
    templates = [r.templates[0] if r.templates else "-" for r in rows]
    width = max([len("id")] + [len(r.id) for r in rows])
    template_width = max([len("template")] + [len(t) for t in templates])
    print(f"{'id':<{width}}  {'length':>6}  {'pLDDT':>6}  {'pTM':>5}  {'time_s':>7}  "
          f"{'template':<{template_width}}  status")
    for row, template in zip(rows, templates):
        plddt_text = f"{row.plddt:6.1f}" if row.plddt is not None else f"{'-':>6}"
        ptm_text = f"{row.ptm:5.2f}" if row.ptm is not None and row.ptm == row.ptm else f"{'-':>5}"
        print(f"{row.id:<{width}}  {row.length:>6}  {plddt_text}  {ptm_text}  {row.seconds:7.2f}  "
              f"{template:<{template_width}}  {row.status}")
    ok = sum(r.ok for r in rows)
    print(f"{ok}/{len(rows)} folded in {elapsed:.1f} s -> {out} (summary: {Path(out) / SUMMARY_NAME})")

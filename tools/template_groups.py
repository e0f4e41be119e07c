"""Issue-16 view of an eval_templates.py CSV: chains grouped by the best template's identity
(>= 30 %, 15-30 %, < 15 %, no template), mean TM of foldlite with templates against the copy of
the best hit and single sequence, and how well mean pLDDT tracks the true lDDT-Cα of template folds.

    python tools/template_groups.py results/eval_templates_test.csv [--mode restrained]
"""
from __future__ import annotations

import argparse
import csv
import math
import sys

import numpy as np


GROUPS = (">= 30 %", "15-30 %", "< 15 %", "no template")  # in the order the table shows them


def identity_group(identity: float) -> str:
    """The group of a chain whose best template has this identity (NaN: no template found)."""
    if math.isnan(identity):
        return "no template"
    return ">= 30 %" if identity >= 0.30 else "15-30 %" if identity >= 0.15 else "< 15 %"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv")
    parser.add_argument("--mode", default="restrained", help="the fold mode to report (default restrained)")
    args = parser.parse_args(argv)
    with open(args.csv) as handle:
        rows = list(csv.DictReader(handle))
    mode = args.mode
    value = lambda r, k: float(r[k]) if r.get(k) not in (None, "", "nan") else math.nan  # noqa: E731
    has_none = "tm_none" in rows[0]
    print(f"{'best template identity':<24} {'n':>3} {'TM ' + mode:>15} {'TM copy':>8} {'gain':>7} "
          + (f"{'TM single':>10} " if has_none else "") + f"{'lDDT ' + mode:>17} {'lDDT copy':>10}")
    for label in GROUPS:
        chosen = [r for r in rows if identity_group(value(r, "best_identity")) == label]
        if not chosen:
            print(f"{label:<24} {0:>3}")
            continue
        tm = np.mean([value(r, f"tm_{mode}") for r in chosen])
        copy = np.mean([value(r, "tm_nearest") for r in chosen])
        single = f"{np.mean([value(r, 'tm_none') for r in chosen]):10.3f} " if has_none else ""
        print(f"{label:<24} {len(chosen):>3} {tm:15.3f} {copy:8.3f} {tm - copy:+7.3f} {single}"
              f"{np.mean([value(r, f'lddt_{mode}') for r in chosen]):17.3f} "
              f"{np.mean([value(r, 'lddt_nearest') for r in chosen]):10.3f}")
    if has_none:
        lost = [r["name"] for r in rows if value(r, f"tm_{mode}") < value(r, "tm_none") - 1e-9]
        no_hit = [r for r in rows if math.isnan(value(r, "best_identity"))]
        same = sum(value(r, f"tm_{mode}") == value(r, "tm_none") for r in no_hit)
        print(f"chains without a template: {same}/{len(no_hit)} fold exactly as single sequence; "
              f"chains below single sequence: {len(lost)} {lost}")
    templated = [r for r in rows if not math.isnan(value(r, "best_identity"))]
    plddt = np.array([value(r, f"plddt_{mode}") for r in templated])
    lddt = np.array([value(r, f"lddt_{mode}") for r in templated])
    if len(templated) >= 3:
        r = np.corrcoef(plddt, lddt)[0, 1]
        print(f"template folds ({len(templated)}): mean pLDDT vs true lDDT-Cα per chain, Pearson r = {r:.3f}; "
              f"mean pLDDT {plddt.mean():.1f} vs mean lDDT-Cα x 100 {100 * lddt.mean():.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

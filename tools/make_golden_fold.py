"""Regenerate tests/fixtures/golden_fold.json and golden_fold.pdb: the shipped weights folding villin
HP35 in fp32 (bf16 autocast pinned off, so the numbers do not depend on the CPU's bf16 support),
seed 0, no templates. tests/model/test_golden.py compares new folds with them.

    python tools/make_golden_fold.py
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import foldlite  # noqa: E402
from foldlite.constants import DISTOGRAM_CENTERS, FAR_DISTANCE  # noqa: E402
from foldlite.model import precision  # noqa: E402

SEQUENCE = "LSDEDFKAVFGMTRSAFANLPLWKQQNLKKEKGLF"  # villin headpiece HP35
SEED = 0


def fold_fp32():
    precision.cpu_bf16_is_fast = lambda *args, **kwargs: False  # pin fp32 on every CPU
    return foldlite.fold(SEQUENCE, seed=SEED, templates=None, record_id="golden")


def distogram_numbers(distogram: np.ndarray) -> dict:
    """Summaries that tolerate last-bit differences between CPUs' fp32 kernels."""
    centres = np.append(DISTOGRAM_CENTERS, FAR_DISTANCE)
    return {"mean_expected_distance": float((distogram @ centres).mean()),
            "argmax_sha256": hashlib.sha256(distogram.argmax(-1).astype(np.int16).tobytes()).hexdigest(),
            "argmax_bins": distogram.argmax(-1).tolist()}


if __name__ == "__main__":
    prediction = fold_fp32()
    out = ROOT / "tests" / "fixtures"
    (out / "golden_fold.pdb").write_text(prediction.to_pdb())
    record = {"sequence": SEQUENCE, "seed": SEED, "templates": None, "precision": "fp32",
              "weights_sha256": prediction.model_version.split()[-1],
              "mean_plddt": round(prediction.mean_plddt, 3), **distogram_numbers(prediction.distogram),
              "made_by": "python tools/make_golden_fold.py"}
    (out / "golden_fold.json").write_text(json.dumps(record) + "\n")
    print({k: v for k, v in record.items() if k != "argmax_bins"})

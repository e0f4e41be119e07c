"""The training run's validation metrics for any weights file: the same 100 fixed valid chains,
the same code (foldlite.training.train.evaluate), so a new checkpoint and the shipped weights are
compared on equal terms (same CPU precision too).

    python tools/valid_metrics.py foldlite/weights/foldlite.pt runs/long/best.pt
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foldlite.config import TrainConfig  # noqa: E402
from foldlite.data.chains import ChainSet  # noqa: E402
from foldlite.model.checkpoint import model_from_checkpoint, read_checkpoint  # noqa: E402
from foldlite.model.precision import cpu_bf16_is_fast  # noqa: E402
from foldlite.evaluation.network import network_metrics  # noqa: E402
from foldlite.training.train import _validation_indices  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    chainset = ChainSet()
    indices = _validation_indices(chainset, TrainConfig())
    print(f"{len(indices)} valid chains; bf16 autocast {'on' if cpu_bf16_is_fast() else 'off'}; "
          f"threads {torch.get_num_threads()}")
    for path in sys.argv[1:]:
        state = read_checkpoint(path)
        metrics = network_metrics(model_from_checkpoint(state, path), chainset, indices)
        step = state.get("step", state.get("provenance", {}).get("steps"))
        print(f"{path} (step {step}): " + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()), flush=True)

"""Training entry point: what a run starts from (new, --init-from, --resume); the loop is foldlite.training.run.

Run through the CLI: `foldlite train --out runs/NAME [--resume | --init-from WEIGHTS] --minutes M`.
A run folder holds `last.pt` (resumable: model, optimiser, RNG states), `best.pt` (best validation
long-range contact precision) and `metrics.csv` (one row per logged step).
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import torch

from ..config import ModelConfig, TrainConfig
from ..data.chains import ChainSet
from ..model.checkpoint import model_from_checkpoint, read_checkpoint
from ..model.network import FoldliteModel
from . import distributed
from .grow import add_axial_layers, add_pair_blocks, add_template_features
from .run import STOP_FILE, TrainingRun

__all__ = ["train", "STOP_FILE"]


def _log(message: str) -> None:
    print(message, flush=True)  # flushed: training logs are usually redirected to a file


def _start(out_dir: Path, resume: bool, init_from, model_config: ModelConfig | None,
           train_config: TrainConfig | None, templates: bool, pair_blocks: int | None,
           axial_layers: int | None, log):
    """The run's model, train config and the checkpoint it starts from (None for a new run).

    resume: OUT/last.pt with its own config; init_from: a weights file (same model, step count and
    clock, fresh optimiser moments), gaining template features when asked; else a new model.
    """
    last_path = out_dir / "last.pt"
    if resume:
        state = read_checkpoint(last_path)
        model = model_from_checkpoint(state, last_path)
        if "train_state_dict" in state:  # state_dict holds the weight average; training continues the current weights
            model.load_state_dict(state["train_state_dict"], strict=True)
        train_config = TrainConfig(**state["train_config"]) if train_config is None else train_config
        log(f"resuming {last_path} at step {state['step']}")
        return model, train_config, state
    if init_from:
        state = read_checkpoint(init_from)
        model = model_from_checkpoint(state, init_from)
        train_config = train_config or TrainConfig(**state.get("train_config", {}))
        log(f"continuing from {init_from} (step {state['provenance']['steps']})")
        if templates and not model.config.pair.templates:
            model = add_template_features(model)
            log("added template features (zero-initialised) to the loaded weights")
        if pair_blocks and pair_blocks != model.config.pair.num_blocks:
            log(f"pair stack grown from {model.config.pair.num_blocks} to {pair_blocks} blocks "
                "(the new ones start as the identity)")
            model = add_pair_blocks(model, pair_blocks)
        if axial_layers and axial_layers != model.config.pair.axial_layers:
            log(f"pair stack gains {axial_layers} axial attention layer(s) (starting as the identity)")
            model = add_axial_layers(model, axial_layers)
        return model, train_config, state
    if last_path.exists():
        raise FileExistsError(f"{last_path} exists: pass --resume to continue it or choose another --out")
    train_config = train_config or TrainConfig()
    torch.manual_seed(train_config.seed)
    model_config = model_config or ModelConfig()
    model_config = replace(model_config, pair=replace(model_config.pair, templates=templates))
    return FoldliteModel(model_config), train_config, None


def train(out_dir: str | os.PathLike, data_path: str | None = None, minutes: float = 60.0,
          max_steps: int | None = None, resume: bool = False, init_from: str | None = None,
          model_config: ModelConfig | None = None, train_config: TrainConfig | None = None,
          overrides: dict | None = None, threads: int | None = None, templates: bool = True,
          compile_model: bool = False, pair_blocks: int | None = None, axial_layers: int | None = None,
          log=_log) -> Path:
    """Train (or resume) into out_dir for `minutes` of wall time or `max_steps`; returns best.pt.

    templates: train the template pathway (weights without it gain a zero-initialised one, see
    add_template_features); False trains single-sequence mode only. A resumed run keeps its model.
    compile_model: run the training forward pass through torch.compile (inductor).
    pair_blocks: with init_from, grow the loaded pair stack to this many blocks (add_pair_blocks).
    axial_layers: with init_from, give the loaded pair stack this many axial attention layers (add_axial_layers).
    Started by torchrun, each process trains on its share (batch_size / processes) of every step's
    crops and rank 0 alone evaluates and writes (foldlite.training.distributed).
    """
    ranks = distributed.join()
    try:
        result = _train(ranks, out_dir, data_path, minutes, max_steps, resume, init_from, model_config,
                        train_config, overrides, threads, templates, compile_model, pair_blocks, axial_layers,
                        log if ranks.is_main else (lambda *_: None))
        # rank 0 still writes the last checkpoint: the others wait for it instead of tearing their end
        # of the process group down under it (not after an error: a rank that failed never gets here)
        distributed.barrier(ranks)
        return result
    finally:
        distributed.leave(ranks)


def _train(ranks, out_dir, data_path, minutes, max_steps, resume, init_from, model_config, train_config,
           overrides, threads, templates, compile_model, pair_blocks, axial_layers, log) -> Path:
    out_dir = Path(out_dir)
    chainset = ChainSet(data_path)  # before the run folder is made: a bad --data leaves nothing behind
    out_dir.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    model, train_config, state = _start(out_dir, resume, init_from, model_config, train_config, templates,
                                        pair_blocks, axial_layers, log)
    if overrides:  # run-time changes (e.g. a longer schedule when continuing) are recorded in the checkpoint
        train_config = replace(train_config, **overrides)
    run = TrainingRun(ranks, out_dir, chainset, model, train_config, state, resume, init_from, log)
    run.run(minutes, max_steps, compile_model)
    return run.best_path

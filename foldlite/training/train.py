"""Training loop: random crops of the train split, validation on the valid split, resumable checkpoints.

Run through the CLI: `foldlite train --out runs/NAME [--resume | --init-from WEIGHTS] --minutes M`.
A run folder holds `last.pt` (resumable: model, optimiser, RNG states), `best.pt` (best validation
long-range contact precision) and `metrics.csv` (one row per logged step).
"""
from __future__ import annotations

import csv
import os
import platform
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..config import ModelConfig, TrainConfig
from ..data.chains import ChainSet
from ..evaluation.network import metrics_from_sums, network_metric_sums
from ..model.batch import collate
from ..model.checkpoint import FORMAT_VERSION, model_from_checkpoint, read_checkpoint, save_checkpoint
from ..model.network import FoldliteModel, count_parameters
from ..model.precision import autocast_context, cpu_bf16_is_fast
from . import distributed
from .grow import add_pair_blocks, add_template_features
from .losses import compute_losses
from .sampler import CropSampler
from .schedule import crop_length, learning_rate

# Validation chains are a fixed seeded choice: the same chains at every evaluation and every resume.
VALIDATION_SEED = 12345

# cpu_hours: nominal (wall x threads, all segments); train_cpu_hours: OS-measured process CPU time
# spent training (evaluations excluded), summed over the segments that measured it -- the x-axis of
# the scaling study, fair between runs that share the machine.
# With an average of the weights (ema_decay > 0), valid_* are the average's metrics (it is the one
# selected and shipped) and raw_valid_* the current weights', side by side.
CSV_FIELDS = ["step", "wall_s", "cpu_hours", "train_cpu_hours", "crop", "lr", "loss", "distogram_ce", "ss3_ce",
              "torsion_ce", "crops_per_s", "template_fraction", "valid_distogram_ce", "valid_lr_precision",
              "valid_q3", "raw_valid_distogram_ce", "raw_valid_lr_precision", "raw_valid_q3"]


def _validation_indices(chainset: ChainSet, config: TrainConfig) -> np.ndarray:
    """A fixed, seeded subset of the valid split (same chains every evaluation and every resume)."""
    candidates = chainset.indices("valid", max_length=config.eval_max_length, min_length=30)
    rng = np.random.default_rng(VALIDATION_SEED)
    return np.sort(rng.choice(candidates, size=min(config.eval_chains, len(candidates)), replace=False))


def _rng_states(sampler: CropSampler) -> dict:
    return {"torch": torch.get_rng_state(), "sampler": sampler.state()}


def _restore_rng(states: dict, sampler: CropSampler) -> None:
    torch.set_rng_state(states["torch"])
    sampler.set_state(states["sampler"])


def _log(message: str) -> None:
    print(message, flush=True)  # flushed: training logs are usually redirected to a file


def _plain(value):
    """numpy scalars -> Python numbers, so checkpoints hold only plain types."""
    return value.item() if hasattr(value, "item") else value


def _start(out_dir: Path, resume: bool, init_from, model_config: ModelConfig | None,
           train_config: TrainConfig | None, templates: bool, pair_blocks: int | None, log):
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
        return model, train_config, state
    if last_path.exists():
        raise FileExistsError(f"{last_path} exists: pass --resume to continue it or choose another --out")
    train_config = train_config or TrainConfig()
    torch.manual_seed(train_config.seed)
    model_config = model_config or ModelConfig()
    model_config = replace(model_config, pair=replace(model_config.pair, templates=templates))
    return FoldliteModel(model_config), train_config, None


def _progress(state: dict | None, resume: bool, init_from) -> dict:
    """Where the run's counters start: step, wall_s, best valid precision, segments, train_cpu_s."""
    if resume:
        return {"step": state["step"], "wall_s": state["wall_s"], "best": state["best_valid_lr_precision"],
                "segments": list(state["provenance"].get("segments", [])),
                "train_cpu_s": state.get("train_cpu_s", 0.0)}
    if init_from:
        provenance = state["provenance"]
        step = provenance["steps"]
        return {"step": step, "wall_s": provenance["wall_s"],
                "best": provenance.get("valid", {}).get("valid_lr_precision", float("-inf")),
                "segments": list(provenance.get("segments") or [
                    {"command": provenance.get("command"), "from_step": 0, "to_step": step,
                     "wall_s": provenance.get("wall_s"), "cpu_s": None}]),  # older weights did not measure CPU time
                "train_cpu_s": provenance.get("train_cpu_s", 0.0)}
    return {"step": 0, "wall_s": 0.0, "best": float("-inf"), "segments": [], "train_cpu_s": 0.0}


# Creating OUT/STOP makes a run stop cleanly after its current step (last.pt written, the file removed).
STOP_FILE = "STOP"


def train(out_dir: str | os.PathLike, data_path: str | None = None, minutes: float = 60.0,
          max_steps: int | None = None, resume: bool = False, init_from: str | None = None,
          model_config: ModelConfig | None = None, train_config: TrainConfig | None = None,
          overrides: dict | None = None, threads: int | None = None, templates: bool = True,
          compile_model: bool = False, pair_blocks: int | None = None, log=_log) -> Path:
    """Train (or resume) into out_dir for `minutes` of wall time or `max_steps`; returns best.pt.

    templates: train the template pathway (weights without it gain a zero-initialised one, see
    add_template_features); False trains single-sequence mode only. A resumed run keeps its model.
    compile_model: run the training forward pass through torch.compile (inductor).
    pair_blocks: with init_from, grow the loaded pair stack to this many blocks (add_pair_blocks).
    Started by torchrun, each process trains on its share (batch_size / processes) of every step's
    crops and rank 0 alone evaluates and writes (foldlite.training.distributed).
    """
    ranks = distributed.join()
    try:
        return _train(ranks, out_dir, data_path, minutes, max_steps, resume, init_from, model_config,
                      train_config, overrides, threads, templates, compile_model, pair_blocks,
                      log if ranks.is_main else (lambda *_: None))
    finally:
        distributed.leave(ranks)


def _train(ranks, out_dir, data_path, minutes, max_steps, resume, init_from, model_config, train_config,
           overrides, threads, templates, compile_model, pair_blocks, log) -> Path:
    out_dir = Path(out_dir)
    chainset = ChainSet(data_path)  # before the run folder is made: a bad --data leaves nothing behind
    out_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path, csv_path = out_dir / "last.pt", out_dir / "best.pt", out_dir / "metrics.csv"
    if threads:
        torch.set_num_threads(threads)
    # `python -m foldlite train ...` shows up as .../foldlite/__main__.py: record it as the CLI command
    program = "foldlite" if sys.argv[0].endswith(("__main__.py", "foldlite")) else sys.argv[0]
    command = " ".join([program] + [shlex.quote(a) for a in sys.argv[1:]])

    model, train_config, state = _start(out_dir, resume, init_from, model_config, train_config, templates,
                                        pair_blocks, log)
    if overrides:  # run-time changes (e.g. a longer schedule when continuing) are recorded in the checkpoint
        train_config = replace(train_config, **overrides)
    config = train_config

    use_templates = model.config.pair.templates

    def make_sampler(seed: int) -> CropSampler:
        return CropSampler(chainset, "train", seed=seed, max_templates=config.train_templates,
                           template_drop=config.template_drop if use_templates else None)

    if config.batch_size % ranks.world_size:
        raise ValueError(f"batch size {config.batch_size} does not divide among {ranks.world_size} processes")
    local_batch = config.batch_size // ranks.world_size
    sampler = make_sampler(distributed.rank_seed(config.seed, 0, ranks.rank))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    # the average starts from the weights the run starts from (or resumes its own saved average)
    ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay))
           if config.ema_decay > 0 else None)
    if ema is not None and resume and "ema_state_dict" in state:
        ema.module.load_state_dict(state["ema_state_dict"])
        ema.n_averaged.fill_(state["ema_updates"])
    history = {}
    progress = _progress(state, resume, init_from)
    step, wall_before, best = progress["step"], progress["wall_s"], progress["best"]
    # One entry per training process that contributed to these weights; cpu_s is the process CPU time
    # measured by the OS (all threads), which is lower than wall x threads when the machine is shared.
    segments, train_cpu_before = progress["segments"], progress["train_cpu_s"]
    if resume:
        optimizer.load_state_dict(state["optimizer"])
    if resume and not ranks.distributed:
        _restore_rng(state["rng"], sampler)
    elif resume or init_from:  # new crops, not a replay (a checkpoint holds rank 0's random state only)
        sampler = make_sampler(distributed.rank_seed(config.seed, step, ranks.rank))
        torch.manual_seed(distributed.rank_seed(config.seed, step, ranks.rank))
    elif ranks.distributed:  # same initial weights on every rank (seeded above), own dropout masks
        torch.manual_seed(distributed.rank_seed(config.seed, 0, ranks.rank))
    valid_indices = _validation_indices(chainset, config)

    def evaluate(network) -> dict:
        """Valid metrics of `network`: each process scores every world_size-th chain and the totals
        are summed, so the evaluation's wall time shrinks with the number of processes."""
        share = valid_indices[ranks.rank::ranks.world_size]
        return metrics_from_sums(distributed.sum_over_ranks(network_metric_sums(network, chainset, share), ranks))
    threads_used = torch.get_num_threads() * ranks.world_size
    use_bf16 = cpu_bf16_is_fast()
    log(f"model: {count_parameters(model):,} parameters; {len(sampler.groups)} train clusters; "
        f"{len(valid_indices)} valid chains; threads {threads_used} in {ranks.world_size} process(es); "
        f"bf16 autocast {'on' if use_bf16 else 'off'}")

    csv_file = writer = None
    if ranks.is_main:
        new_file = not csv_path.exists() or not (resume or init_from)
        csv_file = open(csv_path, "w" if new_file else "a", newline="")
        writer = csv.DictWriter(csv_file, fieldnames=CSV_FIELDS)
        if new_file:
            writer.writeheader()

    start_step = step
    # Fresh optimiser moments after --init-from: ramp the learning rate up again over a few steps.
    rewarm_steps = 50 if (init_from and not resume) else 0

    def checkpoint_payload(valid_metrics: dict) -> dict:
        """state_dict: the weights offered for use (the average when kept); the current weights and
        the average are also kept apart, to resume both."""
        wall = wall_before + (time.time() - started)
        this_segment = {"command": command, "from_step": start_step, "to_step": step,
                        "wall_s": round(time.time() - started, 1), "cpu_s": round(synced["cpu_s"], 1),
                        "processes": ranks.world_size}
        all_segments = segments + [this_segment]
        measured = [s["cpu_s"] for s in all_segments]
        return {
            "format_version": FORMAT_VERSION,
            "config": model.config.to_dict(),
            "train_config": config.to_dict(),
            "state_dict": offered.state_dict(),
            "optimizer": optimizer.state_dict(),
            **({"train_state_dict": model.state_dict(), "ema_state_dict": ema.module.state_dict(),
                "ema_updates": int(ema.n_averaged)} if ema is not None else {}),
            "rng": _rng_states(sampler),
            "step": step,
            "wall_s": wall,
            "train_cpu_s": synced["train_cpu_s"],
            "best_valid_lr_precision": best,
            "provenance": {
                "command": command, "steps": step, "wall_s": round(wall, 1),
                "cpu_hours": round(wall * threads_used / 3600, 3),  # nominal: wall x threads
                "cpu_hours_measured": (round(sum(measured) / 3600, 3) if None not in measured else None),
                "segments": all_segments,
                "threads": threads_used, "machine": f"{platform.processor() or platform.machine()}",
                "data": str(chainset.path), "train_split": "train", "selection_split": "valid",
                "seed": config.seed, "valid": {k: _plain(v) for k, v in valid_metrics.items()},
                "valid_chains": len(valid_indices), "bf16": use_bf16,
                "train_cpu_s": round(synced["train_cpu_s"], 1),
            },
        }

    offered = ema.module if ema is not None else model  # the weights validated and offered for use
    forward = distributed.wrap(model, ranks)
    forward = torch.compile(forward) if compile_model else forward
    model.train()
    started = time.time()
    cpu_started = time.process_time()
    eval_cpu = 0.0  # process CPU time spent in evaluations (excluded from train_cpu_s)
    # CPU times summed over all processes, refreshed at every log and checkpoint step (by all ranks)
    synced = {"cpu_s": 0.0, "train_cpu_s": train_cpu_before}

    def sync_cpu_times() -> None:
        own = time.process_time() - cpu_started
        totals = distributed.sum_over_ranks({"cpu_s": own, "train_cpu_s": own - eval_cpu}, ranks)
        synced.update(cpu_s=totals["cpu_s"], train_cpu_s=train_cpu_before + totals["train_cpu_s"])

    deadline = started + minutes * 60
    stop_file = out_dir / STOP_FILE  # a user's "stop cleanly now" (rank 0's folder decides)
    window_loss, window_crops, window_template_crops, window_start = {}, 0, 0, time.time()
    log_every = 20
    # rank 0 decides when to stop (the ranks' clocks differ; one rank stopping alone would hang the rest)
    while not distributed.all_agree(time.time() >= deadline or (max_steps is not None and step >= max_steps)
                                    or stop_file.exists(), ranks):
        lr = learning_rate(step, config)
        if step - start_step < rewarm_steps:
            lr *= (step - start_step + 1) / rewarm_steps
        for group in optimizer.param_groups:
            group["lr"] = lr
        crop = crop_length(step, config)
        batch = collate([sampler.sample(crop) for _ in range(local_batch)])
        with autocast_context("cpu", enabled=use_bf16):
            output = forward(batch["tokens"], batch["mask"], batch["templates"])
        losses = compute_losses(output, batch, config)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        if ema is not None:
            ema.update_parameters(model)
        step += 1
        window_crops += local_batch
        window_template_crops += 0 if batch["templates"] is None else int(
            (batch["templates"][1][..., 0].amax(dim=(1, 2)) > 0).sum())
        for k, v in losses.items():
            window_loss[k] = window_loss.get(k, 0.0) + v.item()

        evaluate_now = step % config.eval_every == 0
        checkpoint_now = step % config.checkpoint_every == 0
        if step % log_every == 0 or evaluate_now or checkpoint_now:
            sync_cpu_times()
        if step % log_every == 0 or evaluate_now:
            elapsed = time.time() - window_start
            # every rank's window, summed: losses are then averaged over ranks and steps
            window = distributed.sum_over_ranks(
                {**window_loss, "crops": window_crops, "template_crops": window_template_crops}, ranks)
            steps_in_window = max(1, window_crops // local_batch) * ranks.world_size
            row = {"step": step, "wall_s": round(wall_before + time.time() - started, 1),
                   "cpu_hours": round((wall_before + time.time() - started) * threads_used / 3600, 4),
                   "train_cpu_hours": round(synced["train_cpu_s"] / 3600, 4),
                   "crop": crop, "lr": f"{lr:.2e}",
                   "crops_per_s": round(window["crops"] / elapsed, 2),
                   "template_fraction": round(window["template_crops"] / max(1, window["crops"]), 3),
                   **{k: round(window[k] / steps_in_window, 4) for k in window_loss}}
            window_loss, window_crops, window_template_crops, window_start = {}, 0, 0, time.time()
            valid_metrics = {}
            if evaluate_now:
                eval_started = time.process_time()
                valid_metrics = evaluate(model)
                if ema is not None:  # select on the average; log the current weights beside it
                    row.update({f"raw_{k}": round(v, 4) for k, v in valid_metrics.items()})
                    valid_metrics = evaluate(ema.module)
                eval_cpu += time.process_time() - eval_started
                row.update({k: round(v, 4) for k, v in valid_metrics.items()})
            if not ranks.is_main:
                continue
            writer.writerow(row)
            csv_file.flush()
            log(" ".join(f"{k}={v}" for k, v in row.items()))
            if valid_metrics and valid_metrics["valid_lr_precision"] > best:
                best = valid_metrics["valid_lr_precision"]
                history = valid_metrics
                save_checkpoint(checkpoint_payload(valid_metrics), best_path)
                log(f"new best valid long-range P@L/5 {best:.4f} at step {step} -> {best_path}")
        if checkpoint_now and ranks.is_main:
            save_checkpoint(checkpoint_payload(history), last_path)
    sync_cpu_times()
    digests = distributed.check_ranks_agree(model, ranks)
    if ranks.is_main:
        save_checkpoint(checkpoint_payload(history), last_path)
        csv_file.close()
    if ranks.distributed:
        log(f"weights identical on all {ranks.world_size} processes (sha256 {digests[0][:16]})")
    if ranks.is_main and stop_file.exists():
        stop_file.unlink()  # consumed: --resume continues
        log(f"{stop_file} found: stopped early")
    log(f"stopped at step {step}; last checkpoint {last_path}")
    return best_path

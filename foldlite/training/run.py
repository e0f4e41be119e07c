"""One training process's run: the loop of steps, its log, evaluations and checkpoints.

foldlite.training.train decides what a run starts from (new weights, --init-from, --resume) and hands
the model, its config and the checkpoint it came from to TrainingRun, which trains until the deadline,
the step limit or OUT/STOP. Under torchrun every process holds a TrainingRun; rank 0 alone writes.
"""
from __future__ import annotations

import csv
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..config import TrainConfig
from ..data.chains import ChainSet
from ..evaluation.network import metrics_from_sums, network_metric_sums
from ..model.batch import collate
from ..model.checkpoint import FORMAT_VERSION, save_checkpoint
from ..model.network import FoldliteModel, count_parameters
from ..model.precision import autocast_context, cpu_bf16_is_fast
from . import distributed
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

# Creating OUT/STOP makes a run stop cleanly after its current step (last.pt written, the file removed).
STOP_FILE = "STOP"
LOG_EVERY = 20  # steps per metrics.csv row (and per evaluation check)
REWARM_STEPS = 50  # after --init-from the optimiser moments are new: the learning rate ramps up again


def validation_indices(chainset: ChainSet, config: TrainConfig) -> np.ndarray:
    """A fixed, seeded subset of the valid split (same chains every evaluation and every resume)."""
    candidates = chainset.indices("valid", max_length=config.eval_max_length, min_length=30)
    rng = np.random.default_rng(VALIDATION_SEED)
    return np.sort(rng.choice(candidates, size=min(config.eval_chains, len(candidates)), replace=False))


def _plain(value):
    """numpy scalars -> Python numbers, so checkpoints hold only plain types."""
    return value.item() if hasattr(value, "item") else value


def _command_line() -> str:
    # `python -m foldlite train ...` shows up as .../foldlite/__main__.py: record it as the CLI command
    program = "foldlite" if sys.argv[0].endswith(("__main__.py", "foldlite")) else sys.argv[0]
    return " ".join([program] + [shlex.quote(a) for a in sys.argv[1:]])


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


class TrainingRun:
    """Trains `model` with `config` in this process; `state` is the checkpoint it starts from (None: new)."""

    def __init__(self, ranks: distributed.Ranks, out_dir: Path, chainset: ChainSet, model: FoldliteModel,
                 config: TrainConfig, state: dict | None, resume: bool, init_from, log):
        self.ranks, self.chainset, self.model, self.config, self.log = ranks, chainset, model, config, log
        self.last_path, self.best_path = out_dir / "last.pt", out_dir / "best.pt"
        self.stop_file = out_dir / STOP_FILE  # a user's "stop cleanly now" (rank 0's folder decides)
        self.command = _command_line()
        if config.batch_size % ranks.world_size:
            raise ValueError(f"batch size {config.batch_size} does not divide among {ranks.world_size} processes")
        self.local_batch = config.batch_size // ranks.world_size
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                           weight_decay=config.weight_decay)
        # the average starts from the weights the run starts from (or resumes its own saved average)
        self.ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay))
                    if config.ema_decay > 0 else None)
        if self.ema is not None and resume and "ema_state_dict" in state:
            self.ema.module.load_state_dict(state["ema_state_dict"])
            self.ema.n_averaged.fill_(state["ema_updates"])
        self.offered = self.ema.module if self.ema is not None else model  # validated and offered for use
        progress = _progress(state, resume, init_from)
        self.step, self.wall_before, self.best = progress["step"], progress["wall_s"], progress["best"]
        # One entry per training process that contributed to these weights; cpu_s is the process CPU time
        # measured by the OS (all threads), which is lower than wall x threads when the machine is shared.
        self.segments, self.train_cpu_before = progress["segments"], progress["train_cpu_s"]
        self.start_step = self.step
        self.rewarm_steps = REWARM_STEPS if (init_from and not resume) else 0
        # valid metrics of the latest evaluation of the offered weights, with its step: what last.pt
        # records (its weights may be a few steps newer, hence the step)
        self.latest_metrics = {}
        self._seed(state, resume, init_from)
        self.valid_indices = validation_indices(chainset, config)
        self.threads_used = torch.get_num_threads() * ranks.world_size
        self.use_bf16 = cpu_bf16_is_fast()
        log(f"model: {count_parameters(model):,} parameters; {len(self.sampler.groups)} train clusters; "
            f"{len(self.valid_indices)} valid chains; threads {self.threads_used} in {ranks.world_size} "
            f"process(es); bf16 autocast {'on' if self.use_bf16 else 'off'}")
        self.csv_file = self.writer = None
        if ranks.is_main:
            csv_path = out_dir / "metrics.csv"
            new_file = not csv_path.exists() or not (resume or init_from)
            self.csv_file = open(csv_path, "w" if new_file else "a", newline="")
            self.writer = csv.DictWriter(self.csv_file, fieldnames=CSV_FIELDS)
            if new_file:
                self.writer.writeheader()

    # ------------------------------------------------------------------------------------ set-up

    def _sampler(self, seed: int) -> CropSampler:
        use_templates = self.model.config.pair.templates
        return CropSampler(self.chainset, "train", seed=seed, max_templates=self.config.train_templates,
                           template_drop=self.config.template_drop if use_templates else None)

    def _seed(self, state, resume: bool, init_from) -> None:
        """The crop sampler and torch's random state: restored, re-seeded for this step, or new."""
        ranks, seed = self.ranks, self.config.seed
        self.sampler = self._sampler(distributed.rank_seed(seed, 0, ranks.rank))
        if resume:
            self.optimizer.load_state_dict(state["optimizer"])
        if resume and not ranks.distributed:
            torch.set_rng_state(state["rng"]["torch"])
            self.sampler.set_state(state["rng"]["sampler"])
        elif resume or init_from:  # new crops, not a replay (a checkpoint holds rank 0's random state only)
            self.sampler = self._sampler(distributed.rank_seed(seed, self.step, ranks.rank))
            torch.manual_seed(distributed.rank_seed(seed, self.step, ranks.rank))
        elif ranks.distributed:  # same initial weights on every rank (seeded above), own dropout masks
            torch.manual_seed(distributed.rank_seed(seed, 0, ranks.rank))

    # ------------------------------------------------------------------------------- the loop

    def run(self, minutes: float, max_steps: int | None, compile_model: bool) -> None:
        """Train until `minutes` of wall time, `max_steps` or OUT/STOP, then write last.pt."""
        forward = distributed.wrap(self.model, self.ranks)
        forward = torch.compile(forward) if compile_model else forward
        self.model.train()
        self.started, self.cpu_started = time.time(), time.process_time()
        self.eval_cpu = 0.0  # process CPU time spent in evaluations (excluded from train_cpu_s)
        # CPU times summed over all processes, refreshed at every log and checkpoint step (by all ranks)
        self.synced = {"cpu_s": 0.0, "train_cpu_s": self.train_cpu_before}
        deadline = self.started + minutes * 60
        self._new_window()
        # rank 0 decides when to stop (the ranks' clocks differ; one rank stopping alone would hang the rest)
        while not distributed.all_agree(time.time() >= deadline or self.stop_file.exists()
                                        or (max_steps is not None and self.step >= max_steps), self.ranks):
            lr, crop = self._train_step(forward)
            evaluate_now = self.step % self.config.eval_every == 0
            checkpoint_now = self.step % self.config.checkpoint_every == 0
            if self.step % LOG_EVERY == 0 or evaluate_now or checkpoint_now:
                self._sync_cpu_times()
            if self.step % LOG_EVERY == 0 or evaluate_now:
                self._log_window(lr, crop, evaluate_now)
            if checkpoint_now and self.ranks.is_main:
                save_checkpoint(self._checkpoint(self.latest_metrics), self.last_path)
        self._finish()

    def _train_step(self, forward) -> tuple[float, int]:
        """One optimiser step on this process's share of the batch; returns (learning rate, crop)."""
        config, step = self.config, self.step
        lr = learning_rate(step, config)
        if step - self.start_step < self.rewarm_steps:
            lr *= (step - self.start_step + 1) / self.rewarm_steps
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        crop = crop_length(step, config)
        batch = collate([self.sampler.sample(crop) for _ in range(self.local_batch)])
        with autocast_context("cpu", enabled=self.use_bf16):
            output = forward(batch["tokens"], batch["mask"], batch["templates"])
        losses = compute_losses(output, batch, config)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.step += 1
        self.window_crops += self.local_batch
        self.window_template_crops += 0 if batch["templates"] is None else int(
            (batch["templates"][1][..., 0].amax(dim=(1, 2)) > 0).sum())
        for k, v in losses.items():
            self.window_loss[k] = self.window_loss.get(k, 0.0) + v.item()
        return lr, crop

    def _new_window(self) -> None:
        """Start a new logging window (losses and crops summed since the last metrics.csv row)."""
        self.window_loss, self.window_crops, self.window_template_crops = {}, 0, 0
        self.window_start = time.time()

    def _sync_cpu_times(self) -> None:
        own = time.process_time() - self.cpu_started
        totals = distributed.sum_over_ranks({"cpu_s": own, "train_cpu_s": own - self.eval_cpu}, self.ranks)
        self.synced.update(cpu_s=totals["cpu_s"], train_cpu_s=self.train_cpu_before + totals["train_cpu_s"])

    def _log_window(self, lr: float, crop: int, evaluate_now: bool) -> None:
        """A metrics.csv row for the window (every rank's losses, summed), the valid metrics when due,
        and best.pt when the selected weights beat the best so far. All ranks take part; rank 0 writes."""
        elapsed = time.time() - self.window_start
        window = distributed.sum_over_ranks({**self.window_loss, "crops": self.window_crops,
                                             "template_crops": self.window_template_crops}, self.ranks)
        steps_in_window = max(1, self.window_crops // self.local_batch) * self.ranks.world_size
        wall = self.wall_before + time.time() - self.started
        row = {"step": self.step, "wall_s": round(wall, 1),
               "cpu_hours": round(wall * self.threads_used / 3600, 4),
               "train_cpu_hours": round(self.synced["train_cpu_s"] / 3600, 4),
               "crop": crop, "lr": f"{lr:.2e}",
               "crops_per_s": round(window["crops"] / elapsed, 2),
               "template_fraction": round(window["template_crops"] / max(1, window["crops"]), 3),
               **{k: round(window[k] / steps_in_window, 4) for k in self.window_loss}}
        self._new_window()
        valid_metrics = {}
        if evaluate_now:
            eval_started = time.process_time()
            valid_metrics = self._evaluate(self.model)
            if self.ema is not None:  # select on the average; log the current weights beside it
                row.update({f"raw_{k}": round(v, 4) for k, v in valid_metrics.items()})
                valid_metrics = self._evaluate(self.ema.module)
            self.eval_cpu += time.process_time() - eval_started
            row.update({k: round(v, 4) for k, v in valid_metrics.items()})
        if not self.ranks.is_main:
            return
        self.writer.writerow(row)
        self.csv_file.flush()
        self.log(" ".join(f"{k}={v}" for k, v in row.items()))
        if valid_metrics:
            valid_metrics = {**valid_metrics, "valid_step": self.step}
            self.latest_metrics = valid_metrics
        if valid_metrics and valid_metrics["valid_lr_precision"] > self.best:
            self.best = valid_metrics["valid_lr_precision"]
            save_checkpoint(self._checkpoint(valid_metrics), self.best_path)
            self.log(f"new best valid long-range P@L/5 {self.best:.4f} at step {self.step} -> {self.best_path}")

    def _evaluate(self, network) -> dict:
        """Valid metrics of `network`: each process scores every world_size-th chain and the totals
        are summed, so the evaluation's wall time shrinks with the number of processes."""
        share = self.valid_indices[self.ranks.rank::self.ranks.world_size]
        sums = network_metric_sums(network, self.chainset, share)
        return metrics_from_sums(distributed.sum_over_ranks(sums, self.ranks))

    def _finish(self) -> None:
        self._sync_cpu_times()
        digests = distributed.check_ranks_agree(self.model, self.ranks)
        if self.ranks.is_main:
            save_checkpoint(self._checkpoint(self.latest_metrics), self.last_path)
            self.csv_file.close()
        if self.ranks.distributed:
            self.log(f"weights identical on all {self.ranks.world_size} processes (sha256 {digests[0][:16]})")
        if self.ranks.is_main and self.stop_file.exists():
            self.stop_file.unlink()  # consumed: --resume continues
            self.log(f"{self.stop_file} found: stopped early")
        self.log(f"stopped at step {self.step}; last checkpoint {self.last_path}")

    # ---------------------------------------------------------------------------- checkpoints

    def _checkpoint(self, valid_metrics: dict) -> dict:
        """state_dict: the weights offered for use (the average when kept); the current weights and
        the average are also kept apart, to resume both."""
        wall = self.wall_before + (time.time() - self.started)
        this_segment = {"command": self.command, "from_step": self.start_step, "to_step": self.step,
                        "wall_s": round(time.time() - self.started, 1), "cpu_s": round(self.synced["cpu_s"], 1),
                        "processes": self.ranks.world_size}
        all_segments = self.segments + [this_segment]
        measured = [s["cpu_s"] for s in all_segments]
        ema = self.ema
        return {
            "format_version": FORMAT_VERSION,
            "config": self.model.config.to_dict(),
            "train_config": self.config.to_dict(),
            "state_dict": self.offered.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            **({"train_state_dict": self.model.state_dict(), "ema_state_dict": ema.module.state_dict(),
                "ema_updates": int(ema.n_averaged)} if ema is not None else {}),
            "rng": {"torch": torch.get_rng_state(), "sampler": self.sampler.state()},
            "step": self.step,
            "wall_s": wall,
            "train_cpu_s": self.synced["train_cpu_s"],
            "best_valid_lr_precision": self.best,
            "provenance": {
                "command": self.command, "steps": self.step, "wall_s": round(wall, 1),
                "cpu_hours": round(wall * self.threads_used / 3600, 3),  # nominal: wall x threads
                "cpu_hours_measured": (round(sum(measured) / 3600, 3) if None not in measured else None),
                "segments": all_segments,
                "threads": self.threads_used, "machine": f"{platform.processor() or platform.machine()}",
                "data": str(self.chainset.path), "train_split": "train", "selection_split": "valid",
                "seed": self.config.seed, "valid": {k: _plain(v) for k, v in valid_metrics.items()},
                "valid_chains": len(self.valid_indices), "bf16": self.use_bf16,
                "train_cpu_s": round(self.synced["train_cpu_s"], 1),
            },
        }

"""Training throughput on this CPU: crops per second of one training step, by precision, compile and
model size, with the time split into sampling, forward, backward and optimiser.

    python benchmarks/bench_train.py --csv results/train_speed.csv
    python benchmarks/bench_train.py --profile results/train_profile.txt   # torch.profiler op table

Every variant runs the same seeded train-split crops (real chains from the chain set), after warm-up
steps that are not timed. Wall time per step and process CPU time per step (all threads) are both
reported, with the 1-minute load average: when other work shares the machine, crops per CPU-second
is the fairer comparison. Prints what it measured; writes nothing unless asked.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from dataclasses import replace

import torch

from foldlite.data.chains import ChainSet
from foldlite.training.sampler import CropSampler
from foldlite.config import MODEL_RECIPES, TrainConfig
from foldlite.model.network import FoldliteModel, count_parameters
from foldlite.model.precision import cpu_bf16_is_fast
from foldlite.model.batch import collate
from foldlite.training.losses import compute_losses
from machine import cpu_name  # benchmarks/machine.py, beside this script

RECIPES = MODEL_RECIPES


def time_steps(model, sampler, crop, batch_size, steps, warmup, bf16, compiled):
    config = TrainConfig()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    forward = torch.compile(model) if compiled else model
    totals = {"sample": 0.0, "forward": 0.0, "backward": 0.0, "optimiser": 0.0}
    cpu = 0.0  # process CPU time (all threads): robust to other processes sharing the machine
    for i in range(warmup + steps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        batch = collate([sampler.sample(crop) for _ in range(batch_size)])
        t1 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            output = forward(batch["tokens"], batch["mask"], batch["templates"])
        losses = compute_losses(output, batch, config)
        t2 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        t4 = time.perf_counter()
        if i >= warmup:
            for key, value in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                totals[key] += value
            cpu += time.process_time() - c0
    return {k: v / steps for k, v in totals.items()}, cpu / steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--recipes", default="base", help="comma-separated: " + ",".join(RECIPES))
    parser.add_argument("--crops", default="64,128", help="crop lengths")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--compile", default="off", help="off, on or off,on")
    parser.add_argument("--templates", action="store_true", help="sample training templates as training does")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--csv", default=None)
    parser.add_argument("--profile", default=None, help="write a torch.profiler op table of one step here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    chainset = ChainSet(args.data)
    print(f"CPU: {cpu_name()}; threads {torch.get_num_threads()}; bf16 fast: {cpu_bf16_is_fast()}; "
          f"torch {torch.__version__}", flush=True)

    if args.profile:
        return profile_step(chainset, args)

    rows = []
    for recipe in args.recipes.split(","):
        for compiled in [c == "on" for c in args.compile.split(",")]:
            for precision in args.precisions.split(","):
                for crop in [int(c) for c in args.crops.split(",")]:
                    torch.manual_seed(0)
                    model = FoldliteModel(replace(RECIPES[recipe], pair=replace(
                        RECIPES[recipe].pair, templates=args.templates)))
                    sampler = CropSampler(chainset, "train", seed=0,
                                          template_drop=0.2 if args.templates else None)
                    start = time.perf_counter()
                    parts, cpu_s = time_steps(model, sampler, crop, args.batch_size, args.steps, args.warmup,
                                              precision == "bf16", compiled)
                    step_s = sum(parts.values())
                    row = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "recipe": recipe,
                           "parameters": count_parameters(model), "compile": compiled, "precision": precision,
                           "crop": crop, "batch": args.batch_size, "step_s": round(step_s, 3),
                           "crops_per_s": round(args.batch_size / step_s, 2),
                           "step_cpu_s": round(cpu_s, 3),
                           "crops_per_cpu_s": round(args.batch_size / cpu_s, 2),
                           "load": os.getloadavg()[0],
                           **{f"{k}_s": round(v, 3) for k, v in parts.items()},
                           "bench_wall_s": round(time.perf_counter() - start, 1)}
                    rows.append(row)
                    print(" ".join(f"{k}={v}" for k, v in row.items() if k != "cpu"), flush=True)
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


def profile_step(chainset, args) -> int:
    from torch.profiler import ProfilerActivity, profile

    recipe = args.recipes.split(",")[0]
    crop = int(args.crops.split(",")[-1])
    bf16 = "bf16" in args.precisions.split(",")
    torch.manual_seed(0)
    model = FoldliteModel(replace(RECIPES[recipe], pair=replace(RECIPES[recipe].pair, templates=args.templates)))
    sampler = CropSampler(chainset, "train", seed=0, template_drop=0.2 if args.templates else None)
    time_steps(model, sampler, crop, args.batch_size, 1, 1, bf16, False)  # warm-up (result unused)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        time_steps(model, sampler, crop, args.batch_size, 2, 0, bf16, False)
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30)
    header = (f"# torch.profiler, 2 training steps: recipe {recipe}, crop {crop}, batch {args.batch_size}, "
              f"{'bf16 autocast' if bf16 else 'fp32'}, {torch.get_num_threads()} threads, CPU {cpu_name()}\n"
              f"# command: python benchmarks/bench_train.py {' '.join(sys.argv[1:] if argv_is_cli() else [])}\n")
    with open(args.profile, "w") as handle:
        handle.write(header + table + "\n")
    print(header + table)
    return 0


def argv_is_cli() -> bool:
    return sys.argv[0].endswith("bench_train.py")


if __name__ == "__main__":
    raise SystemExit(main())

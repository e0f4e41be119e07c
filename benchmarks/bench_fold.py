"""Fold time and peak memory against sequence length, network and geometry measured separately.

    python benchmarks/bench_fold.py [--lengths 50,100,200,300,500,1000] [--threads N] [--weights PATH]
                                    [--runtime auto|onnx|torch] [--csv bench_fold.csv] [--plot bench_fold.png]

Sequences are random but natural-looking: residues drawn (seeded) with the amino-acid frequencies of
the bundled sample chain set. Every stage runs in a fresh subprocess, so each peak RSS is honest:

- network: load the weights (default: the shipped ones) on --runtime as foldlite.load_model() does
  (default "auto": what a fold on this machine uses; ONNX Runtime's export is made in the cache
  folder on first use, before the timing), one forward pass (foldlite.api.run_network, no attention
  kept). torch is imported only for --runtime torch, so the peak is what a fold's process holds.
  Its distogram and Cα-torsion probabilities are saved to a temporary file for the next stage.
- geometry: read those, then foldlite.geometry.reconstruct with the settings fold() uses for model 1
  of a single-sequence fold (reconstruct.DEFAULT_RESTARTS restarts, none jittered), seed 0 (numpy on
  one BLAS thread, as reconstruct always runs).

"peak RSS" is the child's ru_maxrss (getrusage) at the end; "before" is its RSS just before the timed
step (imports, weights and, for geometry, the input distogram already loaded), so peak - before is
what the step itself adds.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from machine import cpu_name  # noqa: E402  (benchmarks/machine.py, beside this script)

DEFAULT_LENGTHS = "50,100,200,300,500,1000"
FIELDS = ["length", "runtime", "network_s", "network_peak_rss_mb", "network_rss_before_mb",
          "geometry_s", "geometry_peak_rss_mb", "geometry_rss_before_mb", "total_s", "error"]


def natural_sequence(length: int, seed: int = 0) -> str:
    """Random sequence [length] with the residue frequencies of the bundled sample chain set."""
    from foldlite.data.chains import ChainSet, sample_chainset_path
    from foldlite.tokenizer import STANDARD_RESIDUES

    seq = ChainSet(sample_chainset_path()).seq
    counts = np.array([np.count_nonzero(seq == ord(a)) for a in STANDARD_RESIDUES], dtype=np.float64)
    rng = np.random.default_rng(seed + length)  # one fixed sequence per (seed, length)
    picks = rng.choice(len(STANDARD_RESIDUES), size=length, p=counts / counts.sum())
    return "".join(STANDARD_RESIDUES[i] for i in picks)


def _rss_mb() -> float:
    """Current RSS in MB (Linux /proc; elsewhere the peak so far)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return _peak_mb()


def _peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, bytes on macOS
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


# ------------------------------------------------------------------------------------- child stages

def child_network(length: int, seed: int, weights: str | None, threads: int | None, runtime: str,
                  scratch: str) -> dict:
    from foldlite.api import load_model, run_network

    if runtime == "torch" and threads:
        import torch

        torch.set_num_threads(threads)
    model = load_model(weights, "cpu", runtime=runtime, threads=threads)
    sequence = natural_sequence(length, seed)
    before = _rss_mb()
    tick = time.perf_counter()
    out = run_network(model, sequence, keep_attention=False)
    seconds = time.perf_counter() - tick
    peak = _peak_mb()
    np.save(Path(scratch) / "distogram.npy", out.distogram)  # [L, L, 65] float32
    np.save(Path(scratch) / "ca_torsion.npy", out.ca_torsion)  # [L, 36]
    return {"seconds": seconds, "peak_rss_mb": peak, "rss_before_mb": before, "runtime": model.runtime}


def child_geometry(length: int, scratch: str) -> dict:
    from foldlite.geometry.reconstruct import reconstruct
    from foldlite.model.allocator import tune_allocator

    tune_allocator()  # as in a fold() process, where load_model() applies it
    distogram = np.load(Path(scratch) / "distogram.npy")
    ca_torsion = np.load(Path(scratch) / "ca_torsion.npy")
    assert distogram.shape[0] == length
    before = _rss_mb()
    tick = time.perf_counter()
    reconstruct(distogram, ca_torsion, seed=0, clean_restarts=2)  # as fold() model 1 (single sequence)
    seconds = time.perf_counter() - tick
    return {"seconds": seconds, "peak_rss_mb": _peak_mb(), "rss_before_mb": before}


# ------------------------------------------------------------------------------------------- parent

def _run_child(stage: str, length: int, args, scratch: str) -> dict:
    command = [sys.executable, __file__, "--child", stage, "--child-length", str(length),
               "--scratch", scratch, "--seed", str(args.seed), "--runtime", args.runtime]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.weights:
        command += ["--weights", args.weights]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise RuntimeError(f"{stage} failed at L={length}: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(length: int, args) -> dict:
    row = {"length": length, "runtime": "", "error": ""}
    with tempfile.TemporaryDirectory(prefix="bench_fold_") as scratch:
        try:
            net = _run_child("network", length, args, scratch)
            row.update(network_s=net["seconds"], network_peak_rss_mb=net["peak_rss_mb"],
                       network_rss_before_mb=net["rss_before_mb"], runtime=net["runtime"])
            geo = _run_child("geometry", length, args, scratch)
            row.update(geometry_s=geo["seconds"], geometry_peak_rss_mb=geo["peak_rss_mb"],
                       geometry_rss_before_mb=geo["rss_before_mb"], total_s=net["seconds"] + geo["seconds"])
        except RuntimeError as error:  # e.g. out of memory at a large L: report it, go on
            row["error"] = str(error)
    return row


def machine_description(threads: int | None, runtime: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    versions = []
    for package in ("onnxruntime", "torch"):
        try:
            versions.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            pass
    return (f"machine: {cpu_name()} ({platform.platform()}), {os.cpu_count()} CPUs, {', '.join(versions)}; "
            f"--runtime {runtime}, network threads {threads or 'default (all cores)'}, "
            f"python {platform.python_version()}")


def write_plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    ok = [r for r in rows if not r["error"]]
    lengths = [r["length"] for r in ok]
    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("network_s", "network"), ("geometry_s", "geometry"), ("total_s", "total")):
        ax_time.plot(lengths, [r[key] for r in ok], "o-", label=label)
    ax_time.set(xscale="log", yscale="log", xlabel="sequence length", ylabel="seconds", title="fold time")
    for key, label in (("network_peak_rss_mb", "network peak"), ("geometry_peak_rss_mb", "geometry peak")):
        ax_mem.plot(lengths, [r[key] for r in ok], "o-", label=label)
    ax_mem.set(xscale="log", yscale="log", xlabel="sequence length", ylabel="MB", title="peak RSS")
    for ax in (ax_time, ax_mem):
        ax.set_xticks(lengths, [str(n) for n in lengths])  # the measured lengths, not powers of ten
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
        low, high = ax.get_ylim()
        ax.yaxis.set_major_formatter(plain)
        # label the 2..9 ticks too when less than a decade is shown (else no label at all)
        ax.yaxis.set_minor_formatter(plain if high / low < 10 else matplotlib.ticker.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _lengths(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated lengths such as 50,100, got {text!r}") from None
    if not values or min(values) < 10:
        raise argparse.ArgumentTypeError("lengths must be at least 10 (foldlite's minimum)")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=_lengths, default=_lengths(DEFAULT_LENGTHS),
                        help=f"comma-separated sequence lengths (default {DEFAULT_LENGTHS})")
    parser.add_argument("--threads", type=int, default=None,
                        help="the network's threads (default: the runtime's choice, all cores)")
    parser.add_argument("--runtime", choices=("auto", "onnx", "torch"), default="auto",
                        help="the network's runtime, as `foldlite fold --runtime` (default auto)")
    parser.add_argument("--weights", default=None, help="weights file (default: the shipped model)")
    parser.add_argument("--seed", type=int, default=0, help="sequence seed")
    parser.add_argument("--csv", default="bench_fold.csv", help="output table (default bench_fold.csv)")
    parser.add_argument("--plot", default="bench_fold.png", help="output figure (default bench_fold.png)")
    parser.add_argument("--child", choices=("network", "geometry"), help=argparse.SUPPRESS)
    parser.add_argument("--child-length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child == "network":
        print(json.dumps(child_network(args.child_length, args.seed, args.weights, args.threads, args.runtime,
                                       args.scratch)))
        return 0
    if args.child == "geometry":
        print(json.dumps(child_geometry(args.child_length, args.scratch)))
        return 0

    machine = machine_description(args.threads, args.runtime)
    print(machine, flush=True)
    print(f"{'L':>5} {'runtime':>7} {'network s':>9} {'geometry s':>10} {'total s':>8} {'net peak MB':>11} "
          f"{'(before)':>8} {'geo peak MB':>11} {'(before)':>8}", flush=True)
    rows = []
    for length in args.lengths:
        row = measure(length, args)
        rows.append(row)
        if row["error"]:
            print(f"{length:>5} {row['error']}", flush=True)
            continue
        print(f"{length:>5} {row['runtime']:>7} {row['network_s']:>9.2f} {row['geometry_s']:>10.2f} {row['total_s']:>8.2f} "
              f"{row['network_peak_rss_mb']:>11.0f} {row['network_rss_before_mb']:>8.0f} "
              f"{row['geometry_peak_rss_mb']:>11.0f} {row['geometry_rss_before_mb']:>8.0f}", flush=True)
    with open(args.csv, "w", newline="") as handle:
        handle.write(f"# {machine}\n")
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
    write_plot(rows, Path(args.plot), machine)
    print(f"-> {args.csv}, {args.plot}")
    return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

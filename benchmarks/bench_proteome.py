"""Sequences per hour for many records: `foldlite fold` serial, with --workers N and on a local Ray.

    python benchmarks/bench_proteome.py --count 1000 --modes serial,workers2,ray [--extra=--no-plots]
        [--csv results/bench_proteome.csv] [--out results/bench_proteome.txt]

Records: a seeded random choice of --count test-split chains of 50-500 residues (--lengths) from the
chain set ($FOLDLITE_DATA, ../shared/data/pdb_chains.npz, else the bundled sample), never seen in
training, written as one FASTA. Each mode folds all of them into a fresh folder in a fresh process
(`python -m foldlite fold FASTA -o OUT --quiet ...`, templates and default outputs unless --extra says
otherwise); wall time is process start to exit, so start-up (imports, model and library, worker and
Ray start) counts. Memory: every process of the run's tree (the CLI, its workers, Ray's raylet and
actors) is sampled every 0.2 s with psutil; "peak worker MB" is the largest resident size a folding
process reached (the CLI itself in serial mode), "peak total MB" the largest sum over the tree.
Modes: serial, workersN (--workers N), ray (--ray, a local Ray started by the CLI; 1 thread per actor).
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import cpu_name  # noqa: E402  (benchmarks/machine.py, beside this script)


def pick_records(count: int, lengths: tuple[int, int], seed: int) -> list[tuple[str, str]]:
    import numpy as np

    from foldlite.data.chains import ChainSet

    chains = ChainSet()
    test = chains.indices("test")
    test = test[(chains.lengths[test] >= lengths[0]) & (chains.lengths[test] <= lengths[1])]
    chosen = np.sort(np.random.default_rng(seed).choice(test, size=min(count, len(test)), replace=False))
    return [(str(chains.names[i]), chains.sequence(int(i))) for i in chosen]


def chainset_path() -> str:
    """The chain set the records come from: without $FOLDLITE_DATA a checkout away from ../shared/data
    falls back to the bundled sample chains, so the header says which one it was."""
    from foldlite.data.chains import default_chainset_path

    return str(default_chainset_path())


def mode_options(mode: str) -> list[str]:
    if mode == "serial":
        return []
    if mode.startswith("workers"):
        return ["--workers", mode.removeprefix("workers")]
    if mode == "ray":
        return ["--ray"]
    raise SystemExit(f"unknown mode {mode!r}: serial, workersN or ray")


def run_mode(fasta: Path, out: Path, mode: str, extra: list[str]) -> dict:
    """Fold the FASTA once in `mode`; wall time and peak memory of the process tree."""
    import psutil

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "foldlite", "fold", str(fasta), "-o", str(out), "--quiet",
               *mode_options(mode), *extra]
    tick, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    # stderr to a file, not a pipe: warnings of 1,000 records could fill a pipe nobody reads until the end
    stderr_file = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr_file, text=True)
    parent = psutil.Process(process.pid)
    peak_one, peak_total, folders = 0, 0, set()
    cpu_seen = {}  # pid -> its user + system CPU s at the last sample
    while process.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            sizes = {}
            for p in tree:
                try:
                    sizes[p.pid] = (p.memory_info().rss, " ".join(p.cmdline()[:6]))
                    times = p.cpu_times()
                    cpu_seen[p.pid] = times.user + times.system
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
        except psutil.NoSuchProcess:
            break
        peak_total = max(peak_total, sum(rss for rss, _ in sizes.values()))
        for pid, (rss, cmd) in sizes.items():
            # the folding processes: the CLI (serial), spawned workers, Ray actors (not raylet/gcs)
            # (serial: the CLI alone; its template search process is counted in the total only)
            if (pid == parent.pid) if mode == "serial" else ("spawn_main" in cmd or "ray::" in cmd
                                                             or "default_worker" in cmd):
                peak_one = max(peak_one, rss)
                folders.add(pid)
        time.sleep(0.2)
    wall = time.perf_counter() - tick
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the CLI and every process it reaped
    # Ray's raylet and actors are not reaped by the CLI, so getrusage misses them; the samples see every
    # process of the tree (up to the last 0.2 s of each): the larger of the two
    cpu = max(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, sum(cpu_seen.values()))
    stderr_file.seek(0)
    stderr = stderr_file.read()
    stderr_file.close()
    if process.returncode != 0:
        raise SystemExit(f"{mode}: fold failed ({process.returncode}): {stderr[-2000:]}")
    return {"wall_s": wall, "cpu_s": cpu, "peak_worker_mb": peak_one / 2**20, "peak_total_mb": peak_total / 2**20,
            "folding_processes": len(folders)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--lengths", default="50-500")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", default="serial,workers2,ray")
    parser.add_argument("--extra", default="", help="more fold options for every mode, e.g. '--no-plots'")
    parser.add_argument("--csv", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import torch

    low, high = (int(x) for x in args.lengths.split("-"))
    records = pick_records(args.count, (low, high), args.seed)
    residues = sum(len(s) for _, s in records)
    lines = [f"machine: {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
             f"python {platform.python_version()}; load average before {os.getloadavg()[0]:.1f}",
             f"{len(records)} test-split chains of {low}-{high} residues from {chainset_path()} (seed {args.seed}), "
             f"{residues} residues, "
             f"mean length {residues / len(records):.0f}; fold options: {args.extra or '(defaults)'}",
             f"{'mode':<9} {'wall s':>7} {'seq/hour':>8} {'res/s':>6} {'CPU s/seq':>9} {'peak worker MB':>14} "
             f"{'peak total MB':>13} {'load':>5}"]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        fasta = Path(scratch) / "records.fasta"
        fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in records))
        for mode in args.modes.split(","):
            load = os.getloadavg()[0]  # 1-minute load average when the mode starts
            result = run_mode(fasta, Path(scratch) / f"out_{mode}", mode, args.extra.split())
            row = {"mode": mode, "records": len(records), "residues": residues, "load_before": load, **result,
                   "sequences_per_hour": 3600 * len(records) / result["wall_s"],
                   "residues_per_s": residues / result["wall_s"]}
            rows.append(row)
            lines.append(f"{mode:<9} {row['wall_s']:7.1f} {row['sequences_per_hour']:8.0f} "
                         f"{row['residues_per_s']:6.1f} {row['cpu_s'] / len(records):9.2f} "
                         f"{row['peak_worker_mb']:14.0f} {row['peak_total_mb']:13.0f} {load:5.1f}")
            print(lines[-1], flush=True)
    report = "\n".join(lines)
    print(report)
    if args.out:
        Path(args.out).write_text(report + "\n")
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()

"""One 300-residue record, `foldlite fold` from process start to exit, as a user runs it.

    python benchmarks/bench_one_record.py [--repeats 3] [--length 300] [--extra ARGS] [--server] [--out results/x.txt]

The record is the test-split chain closest to --length residues of the chain set (default: $FOLDLITE_DATA,
../shared/data/pdb_chains.npz, else the bundled sample), never seen in training. Each repeat runs
`python -m foldlite fold rec.fasta -o NEW_FOLDER` in a fresh process (templates and default outputs:
PDB, JSON, distogram maps, PNG) and reads back the record's JSON: the wall time of the process beside
the JSON's timings (templates, network, geometry, outputs, total) and what is left for start-up (Python,
imports, model and library load) and exit. Also prints `python -X importtime` for the biggest imports
of one run. Prints the CPU model, the runtime versions and which runtime ran the network: timings
depend on them.

--server: a `foldlite serve` is started first (its start-up is not counted) and each run is
`foldlite fold ... --server SOCKET`, the client process's start to exit; "cpu s" is then the client's
alone (the fold's CPU time is the server's).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from machine import cpu_name  # noqa: E402  (benchmarks/machine.py, beside this script)


def pick_record(length: int) -> tuple[str, str, str]:
    """(name, sequence, chain-set path): the path is printed, because without $FOLDLITE_DATA a checkout
    away from ../shared/data falls back to the bundled sample chains, which hold other records."""
    import numpy as np

    from foldlite.data.chains import ChainSet

    chains = ChainSet()
    test = chains.indices("test")
    index = int(test[np.argmin(np.abs(chains.lengths[test] - length))])
    return str(chains.names[index]), chains.sequence(index), str(chains.path)


def top_imports(stderr: str, count: int = 8) -> list[tuple[float, str]]:
    """(cumulative s, module) of the slowest top-level imports in `python -X importtime` output."""
    found = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if not name.startswith("  ") and cumulative.strip().isdigit():  # top level: one leading space
                found.append((int(cumulative) / 1e6, name.strip()))
    return sorted(found, reverse=True)[:count]


def start_server(socket: Path, env: dict) -> subprocess.Popen:
    """A `foldlite serve` at `socket`, returned once it says it is ready (loaded and warmed up). It runs
    in the socket's folder: `python -m` imports from its working folder first, so started here it would
    fold with this checkout's code whatever --root says."""
    server = subprocess.Popen([sys.executable, "-m", "foldlite", "serve", "--socket", str(socket)], env=env,
                              cwd=socket.parent, stderr=subprocess.PIPE, text=True)
    for line in server.stderr:
        if "ready at" in line:
            return server
    raise SystemExit(f"foldlite serve did not start (exit {server.wait()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--extra", default="", help="more fold options, e.g. '--templates none'")
    parser.add_argument("--out", default=None, help="also write the report here")
    parser.add_argument("--root", default=str(ROOT), help="the foldlite checkout to run (default: this one)")
    parser.add_argument("--server", action="store_true", help="fold through a warm `foldlite serve`")
    args = parser.parse_args()

    from importlib.metadata import version

    name, sequence, chainset = pick_record(args.length)
    lines = [f"machine: {cpu_name()}, {os.cpu_count()} CPUs, onnxruntime {version('onnxruntime')}, torch "
             f"{version('torch')}, python {platform.python_version()}; load average before "
             f"{os.getloadavg()[0]:.1f} (other work on the machine slows every number)",
             f"record: {name} ({len(sequence)} residues, test split of {chainset}); options: {args.extra or '(defaults)'}"
             f"{' --server (a warm foldlite serve; its start-up not counted)' if args.server else ''}; code: {args.root}",
             f"{'run':>3} {'wall s':>7} {'json total':>10} {'templates':>9} {'network':>7} {'geometry':>8} "
             f"{'outputs':>7} {'net+geo':>7} {'start+exit':>10} {'cpu s':>6}"]
    walls, rows, runtimes = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        fasta = Path(scratch) / "record.fasta"
        fasta.write_text(f">{name}\n{sequence}\n")
        env = {**os.environ, "PYTHONPATH": args.root}
        server = start_server(Path(scratch) / "s.sock", env) if args.server else None
        client = ["--server", str(Path(scratch) / "s.sock")] if args.server else []
        for run in range(args.repeats + 1):  # run 0: importtime (its wall time is not counted)
            out = Path(scratch) / f"out{run}"
            command = [sys.executable, *(["-X", "importtime"] if run == 0 else []), "-m", "foldlite", "fold",
                       str(fasta), "-o", str(out), "--quiet", *args.extra.split(), *client]
            tick, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=scratch)
            wall = time.perf_counter() - tick
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_s = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
            if result.returncode != 0:
                raise SystemExit(f"fold failed ({result.returncode}): {result.stderr[-2000:]}")
            if run == 0:
                imports = top_imports(result.stderr)
                continue
            summary = json.loads((out / f"{name}.json").read_text())
            timings = summary["timings_s"]
            runtimes.append(summary.get("runtime", ""))
            walls.append(wall)
            rows.append(timings)
            lines.append(f"{run:>3} {wall:7.2f} {timings['total']:10.2f} {timings['templates']:9.2f} "
                         f"{timings['network']:7.2f} {timings['geometry']:8.2f} {timings.get('outputs', float('nan')):7.2f} "
                         f"{timings['network'] + timings['geometry']:7.2f} {wall - timings['total']:10.2f} {cpu_s:6.2f}")
        if server is not None:
            server.terminate()
            server.wait(60)
    median = statistics.median(walls)
    best = min(range(len(walls)), key=walls.__getitem__)
    lines.append(f"median wall {median:.2f} s (best {walls[best]:.2f} s); median network + geometry "
                 f"{statistics.median(r['network'] + r['geometry'] for r in rows):.2f} s; the network ran on "
                 f"{', '.join(sorted(set(runtimes))) or 'an unnamed runtime (code from before session 18)'}")
    lines.append("slowest top-level imports of run 0 (python -X importtime, cumulative s): "
                 + ", ".join(f"{module} {seconds:.2f}" for seconds, module in imports))
    report = "\n".join(lines)
    print(report)
    if args.out:
        Path(args.out).write_text(report + "\n")


if __name__ == "__main__":
    main()

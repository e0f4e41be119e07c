"""Would the network without torch make a fresh `foldlite fold` fast? torch against ONNX Runtime.

    pip install -e '.[bench]'    # onnxruntime and onnx, for this measurement only
    python benchmarks/bench_onnx_network.py [--repeats 3] [--length 301] [--out results/x.txt]

A fresh one-record `foldlite fold` spends ~1.2-1.5 s importing torch before the network can run
(README "Speed and memory"). ONNX Runtime imports in ~0.1 s. This measures, for the shipped weights,
what each engine costs a new process until the network's outputs are there: the import, the model load
(torch) or the session's creation with its graph optimisation (ONNX Runtime), the first and the second
forward pass. Every repeat starts one process per engine, alternating, with 2 intra-op threads each.

The network is exported once per run by foldlite.model.onnx_export (any length, any number of
templates; what tools/export_onnx.py writes) and run through foldlite.model.onnx_network, on a random
sequence (seed 0) of --length residues without templates. The largest difference between the two
engines' distogram logits is printed, so a wrong graph cannot pass for a fast one.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import cpu_name

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2

# Each child prints one JSON line: seconds from its first statement for each stage.
TORCH_CHILD = """
import json, sys, time
start = time.perf_counter()
import numpy as np
import torch
from foldlite.api import load_model
imported = time.perf_counter()
torch.set_num_threads(int(sys.argv[2]))
model = load_model(runtime="torch").network
loaded = time.perf_counter()
tokens = torch.from_numpy(np.load(sys.argv[1]))
passes = []
with torch.no_grad():
    for _ in range(2):
        begin = time.perf_counter(); logits = model(tokens).distogram; passes.append(time.perf_counter() - begin)
np.save(sys.argv[3], logits.numpy())
print(json.dumps({"import": imported - start, "load": loaded - imported, "first": passes[0], "second": passes[1]}))
"""

ORT_CHILD = """
import json, sys, time
start = time.perf_counter()
import numpy as np
import onnxruntime
from foldlite.model.onnx_network import OnnxNetwork
imported = time.perf_counter()
network = OnnxNetwork(sys.argv[4], threads=int(sys.argv[2]))
loaded = time.perf_counter()
tokens = np.load(sys.argv[1])[0]
passes = []
for _ in range(2):
    begin = time.perf_counter(); logits = network.run(tokens).distogram; passes.append(time.perf_counter() - begin)
np.save(sys.argv[3], logits[None])
print(json.dumps({"import": imported - start, "load": loaded - imported, "first": passes[0], "second": passes[1]}))
"""


def export_network(onnx_path: Path) -> None:
    """The shipped network, as tools/export_onnx.py exports it."""
    from foldlite.api import load_model
    from foldlite.model.onnx_export import export_onnx

    model = load_model(runtime="torch")
    export_onnx(model.network, onnx_path, weights_sha256=model.sha256)


def run_child(code: str, tokens: Path, logits: Path, onnx_path: Path) -> tuple[dict, float]:
    """(the child's stage times, its wall time from process start to exit)."""
    import time

    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(THREADS))
    begin = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, str(tokens), str(THREADS), str(logits), str(onnx_path)],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1]), time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--length", type=int, default=301)
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    try:
        import onnxruntime
    except ImportError:
        sys.exit("bench_onnx_network: needs onnxruntime and onnx: pip install -e '.[bench]'")
    import numpy as np
    import torch

    lines = [f"machine: {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__}, onnxruntime "
             f"{onnxruntime.__version__}, {THREADS} threads each; {args.length} residues, no templates"]
    print(lines[0])
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        tokens, onnx_path = scratch / "tokens.npy", scratch / "network.onnx"
        np.save(tokens, np.random.default_rng(0).integers(0, 20, (1, args.length)))
        export_network(onnx_path)
        engines = {"torch": TORCH_CHILD, "onnxruntime": ORT_CHILD}
        rows = {name: [] for name in engines}
        for repeat in range(args.repeats):
            for name, code in engines.items():
                stages, wall = run_child(code, tokens, scratch / f"{name}.npy", onnx_path)
                stages["wall"] = wall
                rows[name].append(stages)
                lines.append(f"{repeat + 1} {name:11s} import {stages['import']:.3f}  load/session "
                             f"{stages['load']:.3f}  first pass {stages['first']:.3f}  second pass "
                             f"{stages['second']:.3f}  process start to exit {wall:.3f} s")
                print(lines[-1])
        difference = np.abs(np.load(scratch / "torch.npy") - np.load(scratch / "onnxruntime.npy")).max()
    for name, stages in rows.items():
        median = {key: statistics.median(row[key] for row in stages) for key in stages[0]}
        ready = median["import"] + median["load"] + median["first"]
        lines.append(f"{name}: median import + load + first pass {ready:.3f} s (import {median['import']:.3f}, "
                     f"load {median['load']:.3f}, first {median['first']:.3f}); second pass {median['second']:.3f} s; "
                     f"process {median['wall']:.3f} s")
        print(lines[-1])
    lines.append(f"largest |difference| of the distogram logits, torch vs onnxruntime: {difference:.2e}")
    print(lines[-1])
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

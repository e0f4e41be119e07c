"""Time and memory of foldlite.geometry.reconstruct on realistic synthetic distograms.

    python benchmarks/bench_geometry.py [--lengths 50 100 200 300 500 1000] [--threads 1]

Distograms are made from real Cβ distances (the 255-residue chain of tests/fixtures/geometry_chain.npz;
longer lengths join rotated copies of it into a 'multi-domain' chain, see tiled_chain): per pair a
Gaussian of width 0.6 + 0.06·d Å with its centre jittered by 0.3 σ, mixed 9:1 with a broad
background (half of it "> 22 Å"), so expected distances are good but the shapes are blurred and
every pair keeps some probability on every bin, like a model's output.
Each length runs in its own subprocess; "peak RSS" is that process's peak resident memory during
reconstruct (VmHWM reset just before it on Linux), input distogram [L, L, 65] float32 included
(250 MB at L = 1000) and torch/numpy themselves (~250 MB); "(before)" is the RSS at the start.
"""
from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIXTURE = ROOT / "tests" / "data" / "geometry_chain.npz"


def realistic_distogram(dist: np.ndarray, seed: int = 0, rows_per_chunk: int = 64) -> np.ndarray:
    """Cβ distances [L, L] -> blurred, jittered distogram [L, L, 65] float32 (built in row chunks
    to keep the generator's own memory small)."""
    import torch

    from foldlite.constants import DISTOGRAM_EDGES, DISTOGRAM_MAX
    from foldlite.geometry.distances import distogram_from_distances

    length = len(dist)
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, (length, length)).astype(np.float32)
    noise = (noise + noise.T) / np.sqrt(2.0)  # symmetric jitter
    # Broad background, half of it "> 22 Å": what an uncertain model spreads over the bins.
    background = 0.5 * distogram_from_distances(np.full((1, 1), 15.0), sigma=6.0)[0, 0]  # [65]
    background[-1] += 0.5
    inner = torch.from_numpy(DISTOGRAM_EDGES[1:-1].astype(np.float32))  # [63]
    out = np.empty((length, length, 65), np.float32)
    for start in range(0, length, rows_per_chunk):
        d = torch.from_numpy(dist[start:start + rows_per_chunk].astype(np.float32))  # [R, L]
        sigma = 0.6 + 0.06 * d
        mu = d + 0.3 * sigma * torch.from_numpy(noise[start:start + rows_per_chunk])
        cdf = torch.special.ndtr((inner - mu[..., None]) / sigma[..., None])  # [R, L, 63]
        top = torch.special.ndtr((DISTOGRAM_MAX - mu) / sigma)[..., None]
        cdf = torch.cat([torch.zeros_like(top), cdf, top, torch.ones_like(top)], dim=-1)
        probs = 0.9 * (cdf[..., 1:] - cdf[..., :-1]).clamp_min(0) + 0.1 * torch.from_numpy(background)
        out[start:start + rows_per_chunk] = (probs / probs.sum(-1, keepdim=True)).numpy()
    return out


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                     [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
                     [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]])


def tiled_chain(length: int, seed: int = 0):
    """(Cα [L, 3], Cβ [L, 3], torsions [L]) of a 'multi-domain' chain: copies of the fixture chain,
    each next copy starting 3.8 Å from the previous copy's last Cα, turned (best of 30 random
    rotations) to stay as far as possible from what is already placed."""
    from foldlite.geometry.backbone import ca_virtual_torsions, ideal_cb

    data = np.load(FIXTURE)
    xyz = data["large_xyz"].astype(np.float64) / 100.0  # [R, 4, 3] N, CA, C, O
    domain = xyz[:, :3] - xyz[0, 1]  # N, CA, C; first Cα at the origin
    rng = np.random.default_rng(seed)
    placed = domain.copy()
    while len(placed) < length:
        last = placed[-1, 1]
        outward = last - placed[:, 1].mean(axis=0)
        anchor = last + 3.8 * outward / np.linalg.norm(outward)
        best, best_gap = None, -1.0
        for _ in range(30):
            candidate = domain @ _random_rotation(rng).T + anchor
            gap = np.min(np.linalg.norm(candidate[1:, 1][:, None] - placed[:, 1][None], axis=-1))
            if gap > best_gap:
                best, best_gap = candidate, gap
        placed = np.concatenate([placed, best])
    placed = placed[:length]
    ca = placed[:, 1]
    cb = ideal_cb(placed[:, 0], ca, placed[:, 2])
    return ca, cb, ca_virtual_torsions(ca)


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # kB -> MB
    except OSError:
        pass
    return None


def _reset_peak_rss() -> float:
    """Reset the kernel's peak-RSS mark (VmHWM) if possible; return the current RSS in MB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    current = _status_mb("VmRSS")
    return current if current is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _peak_rss() -> float:
    """Peak RSS in MB since the last reset (falls back to the process lifetime peak)."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(length: int, threads: int) -> dict:
    import torch

    from foldlite.geometry.vectors import kabsch_rmsd, pairwise_distances

    from foldlite.geometry.reconstruct import reconstruct

    from foldlite.geometry.distances import torsion_probs_from_angles

    torch.set_num_threads(threads)
    ca, cb, tau = tiled_chain(length)
    probs = realistic_distogram(pairwise_distances(cb))
    rng = np.random.default_rng(1)
    torsion_probs = torsion_probs_from_angles(tau + rng.normal(0.0, 0.3, length), sigma=0.5)
    gc.collect()
    before = _reset_peak_rss()  # current RSS; the generator's own peak is forgotten (Linux)
    tick = time.perf_counter()
    result = reconstruct(probs, torsion_probs, seed=0)
    elapsed = time.perf_counter() - tick
    return {"L": length, "seconds": round(elapsed, 3),
            "timings": {k: round(v, 3) for k, v in result.timings.items()},
            "peak_rss_mb": round(_peak_rss(), 1), "rss_before_mb": round(before, 1),
            "input_mb": round(probs.nbytes / 2**20, 1),
            "ca_rmsd": round(kabsch_rmsd(result.ca, ca), 3), "loss": round(result.loss, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200, 300, 500, 1000])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.threads)))
        return
    print(f"{'L':>5} {'total s':>8} {'mds s':>6} {'refine s':>8} {'peak RSS MB':>11} "
          f"{'(before) MB':>11} {'input MB':>8} {'Cα RMSD Å':>9}  (torch threads: {args.threads})")
    for length in args.lengths:
        out = subprocess.run([sys.executable, __file__, "--one", str(length), "--threads", str(args.threads)],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        t = row["timings"]
        print(f"{row['L']:>5} {row['seconds']:>8.2f} {t['mds']:>6.2f} {t['refine']:>8.2f} "
              f"{row['peak_rss_mb']:>11.0f} {row['rss_before_mb']:>11.0f} {row['input_mb']:>8.0f} "
              f"{row['ca_rmsd']:>9.2f}", flush=True)


if __name__ == "__main__":
    main()

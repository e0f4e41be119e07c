"""Regenerate the TM-score / GDT goldens in tests/fixtures/golden_tmscore.json.

Builds model/native pairs from real chains of the valid/test split of the shared data set, writes them
as Cα-only PDB files in tests/fixtures/golden/, scores every pair with the reference TMscore program and
stores its numbers. The tests then compare foldlite.evaluation.metrics.tm_score against them, without TMscore.

    python tools/make_golden_metrics.py            # needs /usr/bin/TMscore (Debian package tm-align)

Pairs (deterministic for a given --seed):
  smooth   native vs native moved by a random, spatially smooth displacement field (+ 0.2 Å noise)
  hinge    a C-terminal part rotated as a rigid body about a residue (+ optional smooth field)
  noise    independent Gaussian noise on every Cα
  missing  smooth field, and ~12 % of the model's residues left out (TMscore scores common residues,
           normalised by the native length)
  unrelated two different native chains (different 30 % clusters) cropped to the same length
Every model is also given a random rotation and translation, so no pair starts superposed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
THREE_LETTER = {
    "A": "ALA", "R": "ARG", "N": "ASN", "D": "ASP", "C": "CYS", "Q": "GLN", "E": "GLU", "G": "GLY",
    "H": "HIS", "I": "ILE", "L": "LEU", "K": "LYS", "M": "MET", "F": "PHE", "P": "PRO", "S": "SER",
    "T": "THR", "W": "TRP", "Y": "TYR", "V": "VAL",
}

# (native id, length range), then the models made from each native: (pair name, kind, parameters).
NATIVES = {
    "n150": (140, 160),
    "n220": (210, 230),
    "n100": (95, 105),
    "n60": (55, 65),
    "n35": (33, 37),
    "n20": (20, 20),
    "n120": (115, 125),
    "n80": (75, 85),
}
PAIRS = [
    ("n150_smooth07", "n150", "smooth", {"amplitude": 0.7}),
    ("n150_smooth3", "n150", "smooth", {"amplitude": 3.0}),
    ("n150_smooth8", "n150", "smooth", {"amplitude": 8.0}),
    ("n220_hinge45", "n220", "hinge", {"angle_deg": 45.0, "amplitude": 0.5}),
    ("n220_hinge110", "n220", "hinge", {"angle_deg": 110.0, "amplitude": 1.5}),
    ("n100_noise4", "n100", "noise", {"sigma": 4.0}),
    ("n100_missing", "n100", "missing", {"amplitude": 2.0, "fraction": 0.12}),
    ("n60_smooth15", "n60", "smooth", {"amplitude": 1.5}),
    ("n60_unrelated", "n60", "unrelated", {}),
    ("n35_smooth2", "n35", "smooth", {"amplitude": 2.0}),
    ("n20_noise1", "n20", "noise", {"sigma": 1.0}),
    ("n120_unrelated", "n120", "unrelated", {}),
    ("n80_unrelated", "n80", "unrelated", {}),
    ("n80_hinge70", "n80", "hinge", {"angle_deg": 70.0, "amplitude": 1.0}),
]


class Chains:
    """Cα traces of the shared npz (int16 on disk, float64 Å per chain on demand)."""

    def __init__(self, path: Path):
        data = np.load(path)
        self.name, self.length, self.split = data["name"], data["length"], data["split"]
        self.cluster, self.seq = data["cluster"], data["seq"]
        self.xyz, self.center = data["xyz"], data["center"]
        self.offset = np.concatenate([[0], np.cumsum(self.length)[:-1]])

    def ca(self, i: int) -> np.ndarray:
        rows = slice(self.offset[i], self.offset[i] + self.length[i])
        return self.center[i] + self.xyz[rows, 1].astype(np.float64) / 100.0  # [L, 3] Å

    def sequence(self, i: int) -> str:
        return self.seq[self.offset[i]:self.offset[i] + self.length[i]].tobytes().decode()

    def continuous(self, i: int) -> bool:
        return bool(np.all(np.linalg.norm(np.diff(self.ca(i), axis=0), axis=1) < 4.2))


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d],
    ])


def smooth_field(ca: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """[L, 3] displacement: sum of 4 random plane waves (wavelength 25-50 Å), RMS = amplitude.

    Smooth in space, so nearby residues move together, like the errors of a real model.
    """
    field = np.zeros_like(ca)
    for _ in range(4):
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        wave = direction * 2 * np.pi / rng.uniform(25.0, 50.0)
        field += np.outer(np.sin(ca @ wave + rng.uniform(0, 2 * np.pi)), rng.normal(size=3))
    return field * amplitude / np.sqrt(np.mean(np.sum(field**2, axis=1)))


def hinge(ca: np.ndarray, angle_deg: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate residues h.. rigidly about Cα h (h in the middle third) around a random axis."""
    h = int(rng.integers(len(ca) // 3, 2 * len(ca) // 3))
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    theta = np.radians(angle_deg)
    rotation = np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * k @ k  # Rodrigues
    moved = ca.copy()
    moved[h:] = (ca[h:] - ca[h]) @ rotation.T + ca[h]
    return moved


def write_ca_pdb(path: Path, ca: np.ndarray, sequence: str, keep: np.ndarray | None = None) -> None:
    """Cα-only PDB, residues numbered 1..L (same numbering and names in model and native)."""
    lines = []
    for k, (point, aa) in enumerate(zip(ca, sequence)):
        if keep is not None and not keep[k]:
            continue
        lines.append(f"ATOM  {len(lines) + 1:5d}  CA  {THREE_LETTER[aa]} A{k + 1:4d}    "
                     f"{point[0]:8.3f}{point[1]:8.3f}{point[2]:8.3f}  1.00  0.00           C  ")
    path.write_text("\n".join(lines + ["TER", "END"]) + "\n")


def run_tmscore(tmscore: str, model: Path, native: Path) -> dict:
    out = subprocess.run([tmscore, str(model), str(native)], capture_output=True, text=True,
                         check=True, cwd=model.parent).stdout

    def number(pattern: str) -> float:
        return float(re.search(pattern, out).group(1))

    return {
        "tm_score": number(r"TM-score\s*=\s*([\d.]+)"),
        "d0": number(r"\(d0=\s*([\d.]+)\)"),
        "gdt_ts": number(r"GDT-TS-score\s*=\s*([\d.]+)"),
        "gdt_ha": number(r"GDT-HA-score\s*=\s*([\d.]+)"),
        "rmsd": number(r"RMSD of\s+the common residues\s*=\s*([\d.]+)"),
        "n_common": int(number(r"Number of residues in common\s*=\s*(\d+)")),
        "native_length": int(number(r"Structure2:.*Length\s*=\s*(\d+)")),
    }


def tmscore_version(tmscore: str) -> str:
    """TMscore prints no version; record the Debian package that installed it and the binary's hash."""
    try:
        owner = subprocess.run(["dpkg", "-S", tmscore], capture_output=True, text=True).stdout
        package = owner.split(":")[0].strip()
        version = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Version}", package],
                                 capture_output=True, text=True).stdout.strip()
    except (FileNotFoundError, IndexError):
        version = "unknown package"
    digest = hashlib.sha256(Path(tmscore).read_bytes()).hexdigest()
    return f"{version} ({tmscore}, sha256 {digest})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npz", type=Path, default=Path("/work/shared/data/pdb_chains.npz"))
    parser.add_argument("--tmscore", default="/usr/bin/TMscore")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    chains = Chains(args.npz)
    golden_dir = args.out / "golden"
    golden_dir.mkdir(parents=True, exist_ok=True)
    held_out = np.flatnonzero(chains.split > 0)  # valid + test only
    used_clusters: set[int] = set()

    def pick(low: int, high: int) -> int:
        """A continuous held-out chain with length in [low, high] from a cluster not used yet."""
        candidates = held_out[(chains.length[held_out] >= low) & (chains.length[held_out] <= high)]
        for i in rng.permutation(candidates):
            if chains.cluster[i] not in used_clusters and chains.continuous(i):
                used_clusters.add(int(chains.cluster[i]))
                return int(i)
        raise RuntimeError(f"no chain with length in [{low}, {high}]")

    natives = {}
    for native_id, (low, high) in NATIVES.items():
        # n20: no chain is exactly 20 long often enough; crop a longer one instead
        i = pick(low, high) if low != high else pick(low + 5, low + 60)
        start = int(rng.integers(0, chains.length[i] - high + 1)) if low == high else 0
        stop = start + (high if low == high else chains.length[i])
        natives[native_id] = (chains.ca(i)[start:stop], chains.sequence(i)[start:stop],
                              f"{chains.name[i]}:{start + 1}-{stop}")
        write_ca_pdb(golden_dir / f"{native_id}.pdb", natives[native_id][0], natives[native_id][1])

    records = []
    for pair, native_id, kind, params in PAIRS:
        ca, sequence, source = natives[native_id]
        keep = None
        model_source = source
        if kind == "smooth":
            model = ca + smooth_field(ca, params["amplitude"], rng)
        elif kind == "hinge":
            model = hinge(ca, params["angle_deg"], rng)
            model += smooth_field(model, params["amplitude"], rng)
        elif kind == "noise":
            model = ca + rng.normal(scale=params["sigma"], size=ca.shape)
        elif kind == "missing":
            model = ca + smooth_field(ca, params["amplitude"], rng)
            keep = rng.random(len(ca)) >= params["fraction"]
        elif kind == "unrelated":
            other = pick(len(ca), len(ca) + 200)
            start = int(rng.integers(0, chains.length[other] - len(ca) + 1))
            model = chains.ca(other)[start:start + len(ca)]
            model_source = f"{chains.name[other]}:{start + 1}-{start + len(ca)}"
        else:
            raise ValueError(kind)
        if kind != "unrelated":
            model = model + rng.normal(scale=0.2, size=model.shape)
        model = (model - model.mean(axis=0)) @ random_rotation(rng).T + rng.uniform(-30, 30, size=3)
        model_path = golden_dir / f"{pair}_model.pdb"
        write_ca_pdb(model_path, model, sequence, keep)
        scores = run_tmscore(args.tmscore, model_path, golden_dir / f"{native_id}.pdb")
        records.append({
            "name": pair, "kind": kind, "params": params,
            "model": f"golden/{pair}_model.pdb", "native": f"golden/{native_id}.pdb",
            "model_source": model_source, "native_source": source, **scores,
        })
        print(f"{pair:16s} L={len(ca):4d} common={scores['n_common']:4d} TM={scores['tm_score']:.4f} "
              f"GDT-TS={scores['gdt_ts']:.4f} RMSD={scores['rmsd']:.3f}")

    golden = {
        "tmscore": tmscore_version(args.tmscore),
        "command": "TMscore <model.pdb> <native.pdb>",
        "generator": f"python tools/make_golden_metrics.py --seed {args.seed}",
        "data": f"{args.npz.name}, split valid/test (shared data set, see its README)",
        "units": "tm_score, gdt_ts, gdt_ha: fractions 0-1 as TMscore prints them; rmsd, d0: Å",
        "pairs": records,
    }
    text = json.dumps(golden, indent=1, ensure_ascii=False) + "\n"
    (args.out / "golden_tmscore.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

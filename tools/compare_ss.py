"""Side-by-side 3-state secondary-structure accuracy: foldlite's SS head vs Debian's `reprof`.

    python tools/compare_ss.py [--data pdb_chains.npz] [--split test] [--limit 100] [--weights W]

Both predict from the single sequence of each chain (reprof given a FASTA, no PSSM). Truth: DSSP of the
chain set mapped to 3 states (H,G,I -> H; E,B -> E; rest -> C). Needs `reprof` (apt install reprof).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from foldlite.api import load_model, run_network  # noqa: E402
from foldlite.evaluation.benchmark import select_chains  # noqa: E402
from foldlite.data.chains import ChainSet  # noqa: E402
from foldlite.constants import SS3_ALPHABET, dssp_to_ss3  # noqa: E402

REPROF_TO_SS3 = {"H": "H", "E": "E", "L": "C"}


def reprof_ss3(sequence: str, workdir: Path) -> str:
    fasta = workdir / "query.fasta"
    fasta.write_text(f">query\n{sequence}\n")
    out = workdir / "query.reprof"
    subprocess.run(["reprof", "-i", str(fasta), "-o", str(out)], check=True, capture_output=True)
    states = []
    for line in out.read_text().splitlines():
        fields = line.split("\t")
        if line.startswith("#") or len(fields) < 3 or not fields[0].isdigit():
            continue
        states.append(REPROF_TO_SS3[fields[2]])
    return "".join(states)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=None)
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--weights", default=None)
    args = parser.parse_args()
    if shutil.which("reprof") is None:
        sys.exit("reprof not found: apt install reprof")
    chains = ChainSet(args.data)
    indices = select_chains(chains, args.split, args.limit, 30, 500, seed=1)
    model = load_model(args.weights)
    correct = {"foldlite": 0, "reprof": 0}
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for index in indices:
            chain = chains.chain(int(index))
            truth = "".join(SS3_ALPHABET[i] for i in dssp_to_ss3(chain.dssp))
            ours = "".join(SS3_ALPHABET[i] for i in run_network(model, chain.sequence, False).ss3.argmax(-1))
            theirs = reprof_ss3(chain.sequence, Path(tmp))
            if len(theirs) != len(truth):
                sys.exit(f"{chain.name}: reprof returned {len(theirs)} states for {len(truth)} residues")
            correct["foldlite"] += sum(a == b for a, b in zip(ours, truth))
            correct["reprof"] += sum(a == b for a, b in zip(theirs, truth))
            total += len(truth)
    print(f"{len(indices)} {args.split} chains (30-500 residues, seed 1), {total} residues, from {chains.path}")
    print(f"weights: {model.path} ({model.version})")
    for name, count in correct.items():
        print(f"Q3 {name:<9} {count / total:.4f}")


if __name__ == "__main__":
    main()

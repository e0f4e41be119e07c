"""Export a foldlite network (default: the shipped weights) to ONNX, for any sequence length and number
of templates, and check the export against torch on a few sequences before reporting it done.

    pip install -e '.[onnx]'
    python tools/export_onnx.py -o foldlite.onnx [--weights W.pt] [--force]

Run it with foldlite.model.onnx_network.OnnxNetwork (numpy in and out, no torch in the process).
An existing output file is kept unless --force; the file appears only once written in full.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHECK_LENGTHS = (17, 150)  # residues of the random sequences the export is checked on
CHECK_TOLERANCE = 1e-3  # largest |difference| of any logit or attention weight, torch against ONNX Runtime


def check_against_torch(network, path: Path) -> float:
    """Largest |difference| between torch's and ONNX Runtime's outputs over CHECK_LENGTHS."""
    import torch

    from foldlite.model.onnx_network import OnnxNetwork

    session = OnnxNetwork(path)
    worst = 0.0
    for length in CHECK_LENGTHS:
        tokens = np.random.default_rng(length).integers(0, 20, length)
        with torch.no_grad():
            expected = network(torch.from_numpy(tokens)[None])
        got = session.run(tokens)
        for name in ("distogram", "ss3", "ca_torsion", "attention"):
            worst = max(worst, float(np.abs(getattr(got, name) - getattr(expected, name)[0].numpy()).max()))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--weights", type=Path, help="a foldlite .pt file (default: the shipped weights)")
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
    args = parser.parse_args()
    if args.output.exists() and not args.force:
        print(f"export_onnx: {args.output} exists; pass --force to replace it", file=sys.stderr)
        return 2

    from foldlite.model.checkpoint import WeightsError, default_weights_path, model_from_checkpoint, read_checkpoint, sha256_of
    from foldlite.model.onnx_export import export_onnx

    weights = args.weights or default_weights_path()
    try:
        network = model_from_checkpoint(read_checkpoint(weights), weights).float().eval()
    except (WeightsError, OSError) as error:
        print(f"export_onnx: {error}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    # exported and checked in a scratch folder beside the output (same file system: the final move
    # is a rename), so a failed check leaves no file behind
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.output.parent, prefix=".export_onnx.") as scratch:
        candidate = export_onnx(network, Path(scratch) / args.output.name, weights_sha256=sha256_of(weights))
        difference = check_against_torch(network, candidate)
        if difference > CHECK_TOLERANCE:
            print(f"export_onnx: the export differs from torch by {difference:.2e} (> {CHECK_TOLERANCE}); "
                  "not written", file=sys.stderr)
            return 1
        candidate.replace(args.output)
    print(f"{args.output}: {args.output.stat().st_size / 1e6:.1f} MB, weights {sha256_of(weights)[:12]}, "
          f"largest difference to torch {difference:.1e} over {len(CHECK_LENGTHS)} sequences "
          f"({', '.join(map(str, CHECK_LENGTHS))} residues), {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

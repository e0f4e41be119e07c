"""Export a foldlite network (default: the shipped weights) to ONNX, for any sequence length and number
of templates, and check the export against torch on a few sequences before reporting it done.

    python tools/export_onnx.py -o foldlite.onnx [--weights W.pt] [--force]

Run it with foldlite.model.onnx_network.OnnxNetwork (numpy in and out, no torch in the process).
An existing output file is kept unless --force; the file appears only once written in full.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


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
    from foldlite.model.onnx_export import CHECK_LENGTHS, ExportCheckError, export_checked

    weights = args.weights or default_weights_path()
    try:
        network = model_from_checkpoint(read_checkpoint(weights), weights).float().eval()
    except (WeightsError, OSError) as error:
        print(f"export_onnx: {error}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:  # exported and checked in a scratch folder beside the output: a failed check leaves no file
        difference = export_checked(network, args.output, weights_sha256=sha256_of(weights))
    except ExportCheckError as error:
        print(f"export_onnx: {error}; not written", file=sys.stderr)
        return 1
    print(f"{args.output}: {args.output.stat().st_size / 1e6:.1f} MB, weights {sha256_of(weights)[:12]}, "
          f"largest difference to torch {difference:.1e} over {len(CHECK_LENGTHS)} sequences "
          f"({', '.join(map(str, CHECK_LENGTHS))} residues), {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

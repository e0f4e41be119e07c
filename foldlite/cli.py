"""Command-line interface: parses arguments, calls the library, prints results. No pipeline logic here.

Exit codes: 0 success; 1 some records failed to fold; 2 bad input or usage (nothing written).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from .config import MODEL_RECIPES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(ValueError):
    """A bad argument value found after parsing (reported like argparse errors, exit code 2)."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2 ** 31:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2^31-1, got {value}")
    return value


def _new_output(path: str, overwrite: bool) -> Path:
    """The path of an output file that may only replace an existing file when --overwrite was given."""
    out = Path(path)
    if out.exists() and not overwrite:
        raise UsageError(f"{out} exists; pass --overwrite to replace it")
    return out


# ---------------------------------------------------------------------------------------------- fold

def _add_fold(sub) -> None:
    p = sub.add_parser("fold", help="predict structures for a FASTA file or one sequence")
    p.add_argument("input", nargs="?", help="FASTA file (one structure per record)")
    p.add_argument("--sequence", help="fold this one sequence instead of a FASTA file")
    p.add_argument("--id", default="query", help="record id for --sequence (default: query)")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    p.add_argument("--seed", type=_seed, default=0, help="geometry seed (default 0)")
    p.add_argument("--num-models", type=_positive_int, default=1,
                   help="structures per record from seeds seed..seed+N-1, ranked by mean pLDDT")
    p.add_argument("--format", choices=("pdb", "cif"), default="pdb")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG figure")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs and refold finished records")
    p.add_argument("--weights", default=None, help="weights file (default: the shipped model)")
    p.add_argument("--templates", default=None, metavar="PATH|none",
                   help="structure library to search for templates (default: the shipped "
                        "foldlite/weights/library.npz when present); none: fold from the network alone")
    p.add_argument("--quiet", action="store_true", help="no progress or table")


def _fold_records(args):
    """Validate all input first (streaming), then return a generator over (record, filename)."""
    from .api import MAX_LENGTH, MIN_LENGTH
    from .io.fasta import FastaRecord, check_length, read_fasta
    from .io.safe_io import safe_filename
    from .tokenizer import normalize_sequence

    if args.sequence is not None:
        if args.input:
            raise UsageError("give either a FASTA file or --sequence, not both")
        sequence = normalize_sequence(args.sequence, args.id)
        check_length(args.id, sequence, MIN_LENGTH, MAX_LENGTH)
        records = lambda: iter([FastaRecord(id=args.id, description=args.id, sequence=sequence)])  # noqa: E731
    elif args.input:
        for record in read_fasta(args.input):  # pass 1: validate everything before writing anything
            check_length(record.id, record.sequence, MIN_LENGTH, MAX_LENGTH)
        records = lambda: read_fasta(args.input)  # noqa: E731
    else:
        raise UsageError("give a FASTA file or --sequence")
    used: set = set()
    return ((record, safe_filename(record.id, used)) for record in records())


def _run_fold(args) -> int:
    from .api import fold, load_model
    from .io.outputs import output_paths, write_prediction
    from .templates.restraints import resolve_templates

    records = _fold_records(args)
    model = load_model(args.weights, args.device)
    # loaded once, before anything is written: a missing or broken library is a usage error (exit 2)
    library = resolve_templates("auto" if args.templates is None else args.templates)
    if not args.quiet:
        print(f"templates: {library.path or 'in-memory library'} ({len(library)} chains)" if library is not None
              else "templates: none", file=sys.stderr, flush=True)
    out = Path(args.out)
    rows, failed = [], 0
    started = time.time()
    for index, (record, name) in enumerate(records, start=1):
        names = [name] if args.num_models == 1 else [f"{name}_rank_{k}" for k in range(1, args.num_models + 1)]
        done = all(output_paths(out, n, args.format, not args.no_plots)["structure"].exists() for n in names)
        if done and not args.overwrite:
            rows.append((record.id, len(record.sequence), None, 0.0, "-", "skipped (done; --overwrite to refold)"))
            continue
        if not args.quiet:
            print(f"[{index}] folding {record.id} ({len(record.sequence)} aa) ...", file=sys.stderr, flush=True)
        tick = time.time()
        try:
            result = fold(record.sequence, model=model, seed=args.seed, num_models=args.num_models,
                          record_id=record.id, keep_attention=False, templates=library)
            predictions = result if isinstance(result, list) else [result]
            for prediction, file_name in zip(predictions, names):
                # an unfinished record's leftovers (no structure file yet) are ours to replace
                write_prediction(prediction, out, name=file_name, fmt=args.format, plots=not args.no_plots,
                                 overwrite=True, extra={"file_stem": file_name})
            rows.append((record.id, len(record.sequence), predictions[0].mean_plddt, time.time() - tick,
                         _best_template(predictions[0]), "ok"))
        except MemoryError:
            failed += 1
            rows.append((record.id, len(record.sequence), None, time.time() - tick, "-", "failed: out of memory"))
        except Exception as error:  # one bad record must not stop the others; it is reported and counted
            failed += 1
            rows.append((record.id, len(record.sequence), None, time.time() - tick, "-",
                         f"failed: {type(error).__name__}: {error}"))
    if not args.quiet:
        _print_table(rows, time.time() - started, out)
    return EXIT_FAILED if failed else EXIT_OK


def _best_template(prediction) -> str:
    """'NAME NN%' of the best template used (the table's template column), or '-'."""
    if not getattr(prediction, "templates", None):
        return "-"
    best = prediction.templates[0]
    return f"{best['name']} {100 * best['identity']:.0f}%"


def _print_table(rows, elapsed: float, out: Path) -> None:
    width = max([len("id")] + [len(r[0]) for r in rows])
    template_width = max([len("template")] + [len(r[4]) for r in rows])
    print(f"{'id':<{width}}  {'length':>6}  {'pLDDT':>6}  {'time_s':>7}  {'template':<{template_width}}  status")
    for record_id, length, plddt, seconds, template, status in rows:
        plddt_text = f"{plddt:6.1f}" if plddt is not None else f"{'-':>6}"
        print(f"{record_id:<{width}}  {length:>6}  {plddt_text}  {seconds:7.2f}  "
              f"{template:<{template_width}}  {status}")
    ok = sum(r[5] == "ok" for r in rows)
    print(f"{ok}/{len(rows)} folded in {elapsed:.1f} s -> {out}")


# --------------------------------------------------------------------------------------------- train

def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train (or resume) a model on a chain set")
    p.add_argument("--out", required=True, help="run folder (last.pt, best.pt, metrics.csv)")
    p.add_argument("--data", default=None, help="chain-set .npz (default: $FOLDLITE_DATA or ../shared/data)")
    p.add_argument("--minutes", type=float, default=60.0, help="wall-clock budget")
    p.add_argument("--max-steps", type=_positive_int, default=None)
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt (optimiser included)")
    p.add_argument("--init-from", default=None,
                   help="continue from a weights file (e.g. the shipped foldlite/weights/foldlite.pt)")
    p.add_argument("--threads", type=_positive_int, default=None)
    p.add_argument("--total-steps", type=_positive_int, default=None, help="cosine schedule horizon")
    p.add_argument("--crop-growth-steps", type=_positive_int, default=None)
    p.add_argument("--eval-every", type=_positive_int, default=None)
    p.add_argument("--seed", type=_seed, default=None)
    p.add_argument("--no-templates", action="store_true",
                   help="train single-sequence mode only (no template features in the model)")
    p.add_argument("--recipe", default=None, choices=sorted(MODEL_RECIPES),
                   help="network size of a new run (default base, the shipped size; see config.MODEL_RECIPES)")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="crops per step (default 8)")
    p.add_argument("--crop-start", type=_positive_int, default=None, help="crop length at step 0 (default 64)")
    p.add_argument("--crop-end", type=_positive_int, default=None, help="final crop length (default 128)")
    p.add_argument("--learning-rate", type=_positive_float, default=None, help="peak learning rate (default 1e-3)")
    p.add_argument("--compile", action="store_true", help="torch.compile the network for training")


def _run_train(args) -> int:
    from .training.train import train

    if args.recipe and (args.resume or args.init_from):
        raise UsageError("--recipe sets the network of a new run; --resume and --init-from keep their own")
    overrides = {k: v for k, v in {"total_steps": args.total_steps, "crop_growth_steps": args.crop_growth_steps,
                                   "eval_every": args.eval_every, "seed": args.seed,
                                   "batch_size": args.batch_size, "crop_start": args.crop_start,
                                   "crop_end": args.crop_end, "learning_rate": args.learning_rate}.items()
                 if v is not None}
    train(args.out, data_path=args.data, minutes=args.minutes, max_steps=args.max_steps, resume=args.resume,
          init_from=args.init_from, overrides=overrides, threads=args.threads, templates=not args.no_templates,
          model_config=MODEL_RECIPES[args.recipe or "base"], compile_model=args.compile)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- data

def _add_data(sub) -> None:
    p = sub.add_parser("data", help="build training chain sets")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    build = data_sub.add_parser("build", help="folder of PDB/mmCIF files -> chain-set .npz")
    build.add_argument("input_dir")
    build.add_argument("-o", "--out", required=True)
    build.add_argument("--min-length", type=_positive_int, default=20)
    build.add_argument("--overwrite", action="store_true")


def _run_data(args) -> int:
    from .data.build import build_chainset

    out = _new_output(args.out, args.overwrite)
    if not Path(args.input_dir).is_dir():
        raise UsageError(f"{args.input_dir}: not a folder")
    report = build_chainset(args.input_dir, out, min_length=args.min_length)
    print(report.format_report())
    return EXIT_OK


# ------------------------------------------------------------------------------------------ evaluate

def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a predicted structure against a reference structure")
    p.add_argument("prediction", help="predicted structure (PDB or mmCIF)")
    p.add_argument("reference", help="reference structure (PDB or mmCIF)")
    p.add_argument("--prediction-chain", default=None, help="chain id (default: first protein chain)")
    p.add_argument("--reference-chain", default=None, help="chain id (default: first protein chain)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _run_evaluate(args) -> int:
    import json

    from .evaluation.compare import compare, format_comparison
    from .io.pdb import read_structure

    model = read_structure(args.prediction, chain=args.prediction_chain)
    reference = read_structure(args.reference, chain=args.reference_chain)
    comparison = compare(model, reference)
    if args.json:
        print(json.dumps({"prediction": args.prediction, "reference": args.reference, **comparison.to_dict()}))
    else:
        print(format_comparison(comparison, args.prediction, args.reference))
    return EXIT_OK


# ----------------------------------------------------------------------------------------- benchmark

def _length_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(v) for v in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX such as 50-300, got {text!r}") from None
    if not 1 <= low <= high:
        raise argparse.ArgumentTypeError(f"need 1 <= MIN <= MAX, got {text!r}")
    return low, high


def _add_benchmark(sub) -> None:
    p = sub.add_parser("benchmark", help="fold held-out chains and score them (with baselines)")
    p.add_argument("--data", default=None,
                   help="chain set .npz or a folder of PDB/mmCIF files (default: $FOLDLITE_DATA, "
                        "../shared/data, else the data/ sample)")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--limit", type=_positive_int, default=None, help="seeded random subset of this many chains")
    p.add_argument("--lengths", type=_length_range, default=(30, 1000), help="MIN-MAX residues (default 30-1000)")
    p.add_argument("--weights", default=None)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("-o", "--out", default="benchmark.csv", help="per-chain CSV (default benchmark.csv)")
    p.add_argument("--library", default=None,
                   help="structure library (train split) for the nearest_template baseline "
                        "(default: foldlite/weights/library.npz if present, else no such baseline)")
    p.add_argument("--overwrite", action="store_true")


def _run_benchmark(args) -> int:
    from .api import load_model
    from .evaluation.benchmark import format_summary, run_benchmark, select_chains
    from .data.chains import ChainSet
    from .templates.library import default_library_path, load_library

    _new_output(args.out, args.overwrite)
    library = None
    if args.library is not None:
        library = load_library(args.library)
    elif default_library_path().is_file():
        library = load_library(default_library_path())
    with tempfile.TemporaryDirectory() as scratch:
        split = args.split
        if args.data is not None and Path(args.data).is_dir():
            # a folder of experimental structures: every usable chain in it is benchmarked
            from .data.build import build_chainset

            report = build_chainset(args.data, Path(scratch) / "chains.npz")
            print(report.format_report(), flush=True)
            args.data, split = str(Path(scratch) / "chains.npz"), None
        chainset = ChainSet(args.data)
        indices = select_chains(chainset, split, args.limit, *args.lengths, seed=args.seed)
    what = f"{split} chains" if split else "chains"
    if len(indices) == 0:
        raise UsageError(f"no {what} of {args.lengths[0]}-{args.lengths[1]} residues in {args.data}")
    model = load_model(args.weights, "cpu")
    print(f"benchmark: {len(indices)} {what} from {chainset.path}; weights {model.version}",
          flush=True)
    if library is None:
        print("no structure library (--library): the nearest_template baseline is skipped", flush=True)
    summary = run_benchmark(model, chainset, indices, Path(args.out), seed=args.seed,
                            log=lambda m: print(m, flush=True), library=library)
    print(format_summary(summary))
    print(f"per-chain rows -> {args.out}")
    return EXIT_OK


def _add_model_metrics(sub) -> None:
    p = sub.add_parser("model-metrics", help="network-only metrics on a split: distogram CE, contacts, Q3")
    p.add_argument("--data", default=None)
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--limit", type=_positive_int, default=None)
    p.add_argument("--lengths", type=_length_range, default=(30, 1000))
    p.add_argument("--weights", default=None)


def _run_model_metrics(args) -> int:
    from .api import load_model
    from .evaluation.benchmark import select_chains
    from .data.chains import ChainSet
    from .training.train import evaluate

    chainset = ChainSet(args.data)
    indices = select_chains(chainset, args.split, args.limit, *args.lengths)
    model = load_model(args.weights, "cpu")
    metrics = evaluate(model.network, chainset, indices, prefix="")
    print(f"{len(indices)} {args.split} chains ({args.lengths[0]}-{args.lengths[1]} residues) from {chainset.path}")
    print(f"weights: {model.path} ({model.version})")
    print(f"distogram cross-entropy:              {metrics['distogram_ce']:.4f}")
    print(f"long-range top-L/5 contact precision: {metrics['lr_precision']:.4f}  (|i-j| >= 24, Cβ < 8 Å)")
    print(f"secondary structure Q3:               {metrics['q3']:.4f}")
    return EXIT_OK


# ------------------------------------------------------------------------------------ library, search

def _add_library(sub) -> None:
    p = sub.add_parser("library", help="build structure libraries for template search")
    library_sub = p.add_subparsers(dest="library_command", required=True)
    build = library_sub.add_parser("build", help="chain-set .npz or folder of PDB/mmCIF files -> library .npz")
    build.add_argument("source", help="chain-set .npz (e.g. pdb_chains.npz) or a folder of structure files")
    build.add_argument("-o", "--out", required=True, help="library file to write (.npz)")
    build.add_argument("--split", default=None, choices=("train", "valid", "test"),
                       help="only this split of a chain set (default: all chains)")
    build.add_argument("--overwrite", action="store_true")


def _run_library(args) -> int:
    from .templates.library import build_library

    out = _new_output(args.out, args.overwrite)
    if not Path(args.source).exists():
        raise UsageError(f"{args.source}: no such chain set or folder")
    report = build_library(args.source, out, split=args.split)
    print(report.format_report())
    return EXIT_OK


def _add_search(sub) -> None:
    p = sub.add_parser("search", help="find template structures for FASTA sequences in a structure library")
    p.add_argument("input", help="FASTA file (every record is searched)")
    p.add_argument("--library", default=None, help="library .npz (default: foldlite/weights/library.npz)")
    p.add_argument("--max-hits", type=_positive_int, default=10, help="hits per record (default 10)")
    p.add_argument("--max-evalue", type=_positive_float, default=10.0,
                   help="report hits up to this E-value (default 10)")


def _run_search(args) -> int:
    from .io.fasta import read_fasta_all
    from .templates.library import default_library_path, load_library
    from .templates.search import search

    records = read_fasta_all(args.input)  # all input checked before the (slower) library load
    if args.library is None:
        path = default_library_path()
        if not path.is_file():
            raise UsageError("no structure library given and none shipped; build one with "
                             "`foldlite library build pdb_chains.npz -o library.npz --split train` "
                             "and pass --library library.npz")
    else:
        path = Path(args.library)
    library = load_library(path)
    for record in records:
        hits = search(record.sequence, library, max_hits=args.max_hits, max_evalue=args.max_evalue)
        print(f"# {record.id} ({len(record.sequence)} aa): {len(hits)} hits in {path}")
        if not hits:
            continue
        width = max(len("target"), *(len(h.name) for h in hits))
        print(f"{'target':<{width}}  {'ident':>5}  {'cover':>5}  {'evalue':>8}  {'score':>6}  {'bits':>6}  "
              f"{'query':>11}  {'target_range':>12}  {'tlen':>5}")
        for h in hits:  # ranges 1-based, inclusive
            print(f"{h.name:<{width}}  {h.identity:5.2f}  {h.coverage:5.2f}  {h.evalue:8.2g}  {h.score:6.0f}  "
                  f"{h.bits:6.1f}  {f'{h.query_start + 1}-{h.query_end}':>11}  "
                  f"{f'{h.target_start + 1}-{h.target_end}':>12}  {h.target_length:>5}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------- weights

def _add_export(sub) -> None:
    p = sub.add_parser("export", help="training checkpoint -> shippable weights (+ pLDDT calibration)")
    p.add_argument("checkpoint")
    p.add_argument("-o", "--out", required=True)
    p.add_argument("--calibrate", action="store_true",
                   help="fit the pLDDT calibration on valid-split chains (needs the chain set)")
    p.add_argument("--data", default=None)
    p.add_argument("--chains", type=_positive_int, default=60)
    p.add_argument("--overwrite", action="store_true")


def _run_export(args) -> int:
    from .training.export import export_weights

    _new_output(args.out, args.overwrite)
    summary = export_weights(args.checkpoint, args.out, calibrate=args.calibrate, data_path=args.data,
                             num_chains=args.chains)
    print(summary)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="foldlite", description="Offline protein structure prediction on CPU.")
    parser.add_argument("--version", action="version", version=f"foldlite {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_fold(sub)
    _add_train(sub)
    _add_data(sub)
    _add_evaluate(sub)
    _add_benchmark(sub)
    _add_model_metrics(sub)
    _add_export(sub)
    _add_library(sub)
    _add_search(sub)
    return parser


HANDLERS = {"fold": _run_fold, "train": _run_train, "data": _run_data, "evaluate": _run_evaluate,
            "benchmark": _run_benchmark, "model-metrics": _run_model_metrics, "export": _run_export,
            "library": _run_library, "search": _run_search}


def _expected_errors() -> tuple[type[BaseException], ...]:
    """User-facing errors: one line on stderr and exit code 2, never a traceback."""
    from .api import DeviceError
    from .data.build import ChainsetBuildError
    from .model.checkpoint import WeightsError
    from .evaluation.compare import AlignmentError
    from .templates.library import LibraryError
    from .io.outputs import OutputExistsError
    from .io.pdb import StructureFileError
    from .tokenizer import SequenceError

    return (UsageError, AlignmentError, SequenceError, DeviceError, WeightsError, StructureFileError, OutputExistsError,
            ChainsetBuildError, LibraryError, FileNotFoundError, IsADirectoryError, PermissionError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse already printed the usage error (or --help/--version)
        return int(exit_.code or 0)
    try:
        return HANDLERS[args.command](args)
    except _expected_errors() as error:
        print(f"foldlite {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("foldlite: interrupted; finished records are complete, nothing is half-written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

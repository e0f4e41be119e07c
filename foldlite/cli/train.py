"""CLI commands that build data, train, export and benchmark: train, data, export, benchmark,
model-metrics."""
from __future__ import annotations

import tempfile
from pathlib import Path

from ..config import MODEL_RECIPES
from .args import (EXIT_OK, UsageError, _fraction, _length_range, _new_output, _positive_float, _positive_int,
                   _seed)

# --------------------------------------------------------------------------------------------- train

def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train (or resume) a model on a chain set")
    p.add_argument("--out", required=True, help="run folder (last.pt, best.pt, metrics.csv)")
    p.add_argument("--data", default=None, help="chain-set .npz (default: $FOLDLITE_DATA or ../shared/data)")
    p.add_argument("--minutes", type=float, default=60.0,
                   help="wall-clock budget (or create OUT/STOP to stop cleanly after the current step)")
    p.add_argument("--max-steps", type=_positive_int, default=None, help="stop after this many steps in all")
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt (optimiser included)")
    p.add_argument("--init-from", default=None,
                   help="continue from a weights file (e.g. the shipped foldlite/weights/foldlite.pt)")
    p.add_argument("--threads", type=_positive_int, default=None, help="CPU threads for torch (default: torch's)")
    p.add_argument("--total-steps", type=_positive_int, default=None, help="cosine schedule horizon")
    p.add_argument("--crop-growth-steps", type=_positive_int, default=None,
                   help="steps over which crops grow from --crop-start to --crop-end")
    p.add_argument("--eval-every", type=_positive_int, default=None, help="steps between valid-split evaluations")
    p.add_argument("--eval-chains", type=_positive_int, default=None,
                   help="valid chains (<= 300 residues, a fixed seeded subset) scored at each evaluation; the "
                        "processes share them (default 100; long-range P@L/5 varies by 0.14 from chain to chain, "
                        "so its standard error over 100 chains is about 0.014)")
    p.add_argument("--seed", type=_seed, default=None, help="training seed (default 0)")
    p.add_argument("--no-templates", action="store_true",
                   help="train single-sequence mode only (no template features in the model)")
    p.add_argument("--recipe", default=None, choices=sorted(MODEL_RECIPES),
                   help="network size of a new run (default base, the shipped size; see config.MODEL_RECIPES)")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="crops per step (default 8)")
    p.add_argument("--crop-start", type=_positive_int, default=None, help="crop length at step 0 (default 64)")
    p.add_argument("--crop-end", type=_positive_int, default=None, help="final crop length (default 128)")
    p.add_argument("--learning-rate", type=_positive_float, default=None, help="peak learning rate (default 1e-3)")
    p.add_argument("--min-learning-rate", type=_positive_float, default=None,
                   help="learning rate at the end of the schedule (default 1e-4)")
    p.add_argument("--decay-steps", type=_positive_int, default=None,
                   help="hold the peak learning rate, then decay over the last N steps before --total-steps "
                        "(default: cosine over the whole schedule)")
    p.add_argument("--warmup-steps", type=_positive_int, default=None, help="linear warm-up steps (default 200)")
    p.add_argument("--ema-decay", type=_fraction, default=None,
                   help="keep an exponential moving average of the weights with this decay (e.g. 0.999); "
                        "the average is validated, selected and exported (default 0: off)")
    p.add_argument("--train-templates", type=_positive_int, default=None,
                   help="at most this many templates per training crop, from its 30 %% cluster (default 2; "
                        "inference uses up to 4)")
    p.add_argument("--template-drop", type=_fraction, default=None,
                   help="chance that a crop with training templates is shown none, so the single-sequence "
                        "mode keeps training (default 0.2)")
    p.add_argument("--compile", action="store_true", help="torch.compile the network for training")
    p.add_argument("--grow-pair-blocks", type=_positive_int, default=None,
                   help="with --init-from: append identity-initialised dilated blocks until the pair stack "
                        "has this many (the loaded model's outputs are unchanged at the start)")
    p.add_argument("--grow-axial-layers", type=_positive_int, default=None,
                   help="with --init-from: add this many identity-initialised axial (row + column) attention "
                        "layers to the pair stack")


def _run_train(args) -> int:
    from ..training.train import train

    if args.recipe and (args.resume or args.init_from):
        raise UsageError("--recipe sets the network of a new run; --resume and --init-from keep their own")
    if args.grow_axial_layers and not args.init_from:
        raise UsageError("--grow-axial-layers adds to the weights given with --init-from (a resumed run keeps its layers)")
    if args.grow_pair_blocks and not args.init_from:
        raise UsageError("--grow-pair-blocks grows the weights given with --init-from (a resumed run keeps its size)")
    overrides = {k: v for k, v in {"total_steps": args.total_steps, "crop_growth_steps": args.crop_growth_steps,
                                   "eval_every": args.eval_every, "eval_chains": args.eval_chains,
                                   "seed": args.seed,
                                   "batch_size": args.batch_size, "crop_start": args.crop_start,
                                   "crop_end": args.crop_end, "learning_rate": args.learning_rate,
                                   "min_learning_rate": args.min_learning_rate, "decay_steps": args.decay_steps,
                                   "warmup_steps": args.warmup_steps, "ema_decay": args.ema_decay,
                                   "train_templates": args.train_templates,
                                   "template_drop": args.template_drop}.items()
                 if v is not None}
    train(args.out, data_path=args.data, minutes=args.minutes, max_steps=args.max_steps, resume=args.resume,
          init_from=args.init_from, overrides=overrides, threads=args.threads, templates=not args.no_templates,
          model_config=MODEL_RECIPES[args.recipe or "base"], compile_model=args.compile,
          pair_blocks=args.grow_pair_blocks, axial_layers=args.grow_axial_layers)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- data

def _add_data(sub) -> None:
    p = sub.add_parser("data", help="build training chain sets")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    build = data_sub.add_parser("build", help="folder of PDB/mmCIF files -> chain-set .npz")
    build.add_argument("input_dir", help="folder of PDB/mmCIF files (.pdb, .ent, .cif, .mmcif, optionally .gz)")
    build.add_argument("-o", "--out", required=True, help="chain-set file to write (.npz)")
    build.add_argument("--min-length", type=_positive_int, default=20,
                       help="skip chains shorter than this (default 20 residues)")
    build.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def _run_data(args) -> int:
    from ..data.build import build_chainset

    out = _new_output(args.out, args.overwrite)
    if not Path(args.input_dir).is_dir():
        raise UsageError(f"{args.input_dir}: not a folder")
    report = build_chainset(args.input_dir, out, min_length=args.min_length, show_progress=True)
    print(report.format_report())
    return EXIT_OK


# ----------------------------------------------------------------------------------------- benchmark

def _add_benchmark(sub) -> None:
    p = sub.add_parser("benchmark", help="fold held-out chains and score them (with baselines)")
    p.add_argument("--data", default=None,
                   help="chain set .npz or a folder of PDB/mmCIF files (default: $FOLDLITE_DATA, "
                        "../shared/data, else the data/ sample)")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"),
                   help="split of a chain set (default test; ignored for a folder)")
    p.add_argument("--limit", type=_positive_int, default=None, help="seeded random subset of this many chains")
    p.add_argument("--lengths", type=_length_range, default=(30, 1000), help="MIN-MAX residues (default 30-1000)")
    p.add_argument("--weights", default=None, help="weights file (default: the shipped model)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the chain choice and the geometry (default 0)")
    p.add_argument("-o", "--out", default="benchmark.csv", help="per-chain CSV (default benchmark.csv)")
    p.add_argument("--library", default=None,
                   help="structure library for the template rows (nearest_template, foldlite+templates) "
                        "(default: foldlite/weights/library.npz if present, else no such baseline)")
    p.add_argument("--overwrite", action="store_true", help="replace the CSV if it exists")


def _run_benchmark(args) -> int:
    from ..api import load_model
    from ..evaluation.benchmark import format_summary, run_benchmark, select_chains
    from ..progress import progress
    from ..data.chains import ChainSet
    from ..templates.library import default_library_path, load_library

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
            from ..data.build import build_chainset

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
    # one line per chain (its scores) on stderr, or a bar with them as its note on a terminal
    bar = progress(len(indices), "benchmark", "chain")
    try:
        summary = run_benchmark(model, chainset, indices, Path(args.out), seed=args.seed,
                                log=lambda m: bar.update(note=m.split("] ", 1)[-1]), library=library)
    finally:
        bar.close()
    print(format_summary(summary))
    print(f"per-chain rows -> {args.out}")
    return EXIT_OK


def _add_model_metrics(sub) -> None:
    p = sub.add_parser("model-metrics", help="network-only metrics on a split: distogram CE, contacts, Q3")
    p.add_argument("--data", default=None,
                   help="chain set .npz (default: $FOLDLITE_DATA, ../shared/data, else the data/ sample)")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"), help="split to score (default test)")
    p.add_argument("--limit", type=_positive_int, default=None, help="seeded random subset of this many chains")
    p.add_argument("--lengths", type=_length_range, default=(30, 1000), help="MIN-MAX residues (default 30-1000)")
    p.add_argument("--weights", default=None, help="weights file (default: the shipped model)")


def _run_model_metrics(args) -> int:
    from ..api import load_model
    from ..evaluation.benchmark import select_chains
    from ..data.chains import ChainSet
    from ..evaluation.network import format_network_metrics, network_metrics

    chainset = ChainSet(args.data)
    indices = select_chains(chainset, args.split, args.limit, *args.lengths)
    model = load_model(args.weights, "cpu", runtime="torch")  # network_metrics runs torch batches
    metrics = network_metrics(model.network, chainset, indices, prefix="")
    print(f"{len(indices)} {args.split} chains ({args.lengths[0]}-{args.lengths[1]} residues) from {chainset.path}")
    print(f"weights: {model.path} ({model.version})")
    print(format_network_metrics(metrics))
    return EXIT_OK


# ------------------------------------------------------------------------------------------- weights

def _add_export(sub) -> None:
    p = sub.add_parser("export", help="training checkpoint -> shippable weights (+ pLDDT calibration)")
    p.add_argument("checkpoint", help="training checkpoint (RUN/best.pt or RUN/last.pt)")
    p.add_argument("-o", "--out", required=True, help="weights file to write (OUT.sha256 is written beside it)")
    p.add_argument("--calibrate", action="store_true",
                   help="fit the pLDDT calibration on valid-split chains (needs the chain set)")
    p.add_argument("--data", default=None, help="chain set for --calibrate (default: as for train)")
    p.add_argument("--chains", type=_positive_int, default=60,
                   help="valid-split chains to calibrate on (default 60)")
    p.add_argument("--current-weights", action="store_true",
                   help="ship the optimiser's current weights instead of the run's weight average (--ema-decay)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def _run_export(args) -> int:
    from ..training.export import export_weights

    _new_output(args.out, args.overwrite)
    summary = export_weights(args.checkpoint, args.out, calibrate=args.calibrate, data_path=args.data,
                             num_chains=args.chains, current_weights=args.current_weights)
    print(summary)
    return EXIT_OK



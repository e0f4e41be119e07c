"""CLI commands that fold, compare and search: fold, evaluate, library, search."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .args import (EXIT_FAILED, EXIT_OK, UsageError, _new_output, _output_folder, _positive_float,
                   _positive_int, _seed)
from ..model.runtime import RUNTIMES
from .fold_order import fold_cost, input_preview, longest_first
from .fold_summary import print_table, write_summary
from .fold_worker import FoldJob, RecordFolder, RecordTask, default_threads, other_outputs_message, record_names

# ---------------------------------------------------------------------------------------------- fold

def _add_fold(sub) -> None:
    p = sub.add_parser("fold", help="predict structures for a FASTA file or one sequence")
    p.add_argument("input", nargs="?", help="FASTA file (one structure per record)")
    p.add_argument("--sequence", help="fold this one sequence instead of a FASTA file")
    p.add_argument("--id", default="query", help="record id for --sequence (default: query)")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    p.add_argument("--seed", type=_seed, default=0,
                   help="geometry seed (default 0); the first model starts unjittered: it changes the later models")
    p.add_argument("--num-models", type=_positive_int, default=1,
                   help="structures per record from seeds seed..seed+N-1, ranked by mean pLDDT")
    p.add_argument("--format", choices=("pdb", "cif"), default="pdb",
                   help="structure file format: pdb (default) or cif (mmCIF)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG figure")
    p.add_argument("--html", action="store_true",
                   help="also write <id>.html: a self-contained report with the 3D view (opens offline)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs and refold finished records")
    p.add_argument("--weights", default=None, help="weights file (default: the shipped model)")
    p.add_argument("--templates", default=None, metavar="PATH|none",
                   help="structure library to search for templates (default: the shipped "
                        "foldlite/weights/library.npz when present); none: fold from the network alone")
    p.add_argument("--relax", action="store_true",
                   help="full-atom models: side chains, hydrogens and restrained Amber minimisation "
                        "(the unrelaxed model is kept as <id>_unrelaxed.pdb)")
    p.add_argument("--full-distogram", action="store_true",
                   help="also keep the [L, L, 65] distance-bin probabilities in <id>_distogram.npz "
                        "(12 MB per 300-residue record; by default it holds the [L, L] maps: distance, "
                        "contacts, PAE)")
    p.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="fold records in N processes, each loading the model and library once "
                        "(default 1; with --ray: the number of Ray actors)")
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="network threads per worker (default: the cores divided among --workers)")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto",
                   help="what runs the network: onnx (ONNX Runtime, CPU; the network is exported once into the "
                        "cache folder), torch, or auto (default: onnx on CPUs without native bf16)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="fold on a Ray cluster (pip install 'foldlite[cluster]'): ADDRESS (e.g. HOST:6379 "
                        "or auto), else $RAY_ADDRESS or a local Ray; -o must be a folder all nodes share")
    p.add_argument("--server", nargs="?", const="", default=None, metavar="SOCKET",
                   help="fold in a running `foldlite serve`, which has the model and library loaded: a run "
                        "starts ~2 s sooner; without --weights/--templates it uses the server's (SOCKET: "
                        "default $FOLDLITE_SERVER, else the server's default)")
    p.add_argument("--order", choices=("longest", "input"), default="longest",
                   help="the order records fold in: longest first (default: a long run's memory is then set "
                        "by its longest record and does not grow, and long records do not come last) or as in "
                        "the input; files, summary.tsv and the table are the same either way")
    p.add_argument("--quiet", action="store_true", help="no progress or table")


def _fold_records(args, lengths: list | None = None):
    """Validate all input first (streaming), then return a generator over (record, filename).

    Pass 1 also looks at what the output folder holds: a record that an earlier run finished with other
    options (another --format or --num-models) is refused unless --overwrite, before anything is folded.
    `lengths`, when given, receives each record's length (pass 1), e.g. for the progress bar's total.
    """
    from ..api import MAX_LENGTH, MIN_LENGTH
    from ..io.fasta import FastaRecord, check_length, read_fasta
    from ..io.outputs import record_state
    from ..io.safe_io import safe_filename
    from ..tokenizer import modified_residues, normalize_sequence

    out = _output_folder(args.out)
    if args.sequence is not None:
        if args.input:
            raise UsageError("give either a FASTA file or --sequence, not both")
        sequence = normalize_sequence(args.sequence, args.id)
        check_length(args.id, sequence, MIN_LENGTH, MAX_LENGTH)
        record = FastaRecord(id=args.id, description=args.id, sequence=sequence,
                             modified=tuple(modified_residues(args.sequence)))
        records = lambda: iter([record])  # noqa: E731
    elif args.input:
        records = lambda: read_fasta(args.input)  # noqa: E731
    else:
        raise UsageError("give a FASTA file or --sequence")
    used: set = set()
    for record in records():  # pass 1: validate everything before writing anything
        check_length(record.id, record.sequence, MIN_LENGTH, MAX_LENGTH, source=args.input)
        names = record_names(safe_filename(record.id, used), args.num_models)
        state, existing = record_state(out, names, args.format)
        if state == "other" and not args.overwrite:
            raise UsageError(other_outputs_message(existing, record.id))
        if lengths is not None:
            lengths.append(len(record.sequence))
    used = set()
    return ((record, safe_filename(record.id, used)) for record in records())


def templates_option(value: str | None) -> str:
    """--templates as a FoldJob holds it: "auto" (the default), "none", or an absolute library path."""
    templates = "auto" if value is None else value
    return templates if templates.lower() in ("auto", "none") else str(Path(templates).expanduser().resolve())


def weights_option(value: str | None) -> str | None:
    """--weights as a FoldJob holds it: None (the shipped weights) or an absolute path."""
    return str(Path(value).expanduser().resolve()) if value else None


def _fold_job(args) -> FoldJob:
    """The run's options as plain values, paths made absolute (Ray workers start in other folders)."""
    workers = args.workers or 1
    bf16, runtime = None, args.runtime
    if args.ray is not None or workers > 1:
        # workers and actors fold on this process's runtime (exported here once) and precision (their own
        # timing could differ); a serial run decides where it folds, after its search process has started
        from ..model.loaded import settle_runtime

        runtime = settle_runtime(weights_option(args.weights), args.device, args.runtime)
        if runtime == "torch" and args.device == "cpu":
            from ..model.precision import cpu_bf16_is_fast

            bf16 = cpu_bf16_is_fast()
    return FoldJob(out=str(Path(args.out).resolve()),
                   weights=weights_option(args.weights),
                   device=args.device, templates=templates_option(args.templates), seed=args.seed, num_models=args.num_models,
                   fmt=args.format, plots=not args.no_plots, html=args.html, relax=args.relax,
                   overwrite=args.overwrite, full_distogram=args.full_distogram,
                   bf16=bf16, runtime=runtime,
                   # Ray: one thread per actor (one actor per cluster CPU by default)
                   threads=args.threads or (1 if args.ray is not None else
                                            default_threads(workers) if workers > 1 else None))


def _tasks(args, records, bar):
    """(record, file name) -> RecordTask, saying on stderr which residues a record had substituted."""
    from ..tokenizer import describe_modified

    for index, (record, name) in enumerate(records):
        if record.modified:  # U folded as C, B as X ...: said on stderr and kept in the JSON
            where = f"{args.input}: " if args.input else ""
            bar.write(f"foldlite fold: warning: {where}record {record.id!r}: folded "
                      f"{describe_modified(record.modified)}")
        yield RecordTask(index, record.id, name, record.sequence, tuple(record.modified))


def _run_fold(args, preloaded=None) -> int:
    """preloaded: the model and library of `foldlite serve` (foldlite.cli.server), which folds its
    clients' runs here; None in a `foldlite fold` process."""
    started = time.perf_counter()
    for option in ("ray", "server"):  # `--ray in.fasta -o out`: the FASTA, not an address or socket
        value = getattr(args, option)
        if value and args.input is None and Path(value).is_file():
            args.input = value
            setattr(args, option, "")
    if args.server is not None and preloaded is None:
        from .server_client import fold_on_server

        return fold_on_server(args)
    from ..templates.service import SearchService

    if "numpy" not in sys.modules:
        # this process's numpy maths is the geometry's, on one BLAS thread anyway (foldlite.geometry.
        # threads); without OpenBLAS's thread pool the search process can be forked (foldlite.background)
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    job = _fold_job(args)
    serial = args.ray is None and (args.workers or 1) == 1
    # folding here, the library is loaded and searched in a process of its own from now on, beside the
    # input check, the imports and the model load (foldlite.templates.service); --workers and
    # --ray workers each load it themselves; a server keeps one such process for all its runs
    search = None
    if serial and job.templates != "none":
        search = preloaded.run_search() if preloaded is not None else SearchService(job.templates)
    preview = input_preview(args) if search is not None else None
    if search is not None and preview:
        # the first record to fold is searched as soon as the library is in
        search.request(preview.first_index, preview.first_sequence)
    try:
        return _fold_with(args, job, serial, search, started, preloaded)
    finally:
        if search is not None:
            search.close()


def _fold_with(args, job: FoldJob, serial: bool, search, started: float, preloaded=None) -> int:
    lengths: list[int] = []
    records = _fold_records(args, lengths)
    # model and library loaded here first, before anything is written: a missing or broken file is a
    # usage error (exit 2); with --workers or --ray each worker loads its own and this one is dropped
    folder = RecordFolder(job, search, preloaded=preloaded)
    return _fold_rows(args, job, serial, folder, lengths, records, started)


def _fold_rows(args, job: FoldJob, serial: bool, folder, lengths: list, records, started: float) -> int:
    from ..io.safe_io import remove_stale_temporaries
    from ..progress import progress
    from .fold_pool import process_rows, ray_rows, serial_rows

    if not args.quiet:
        print(f"templates: {folder.templates or 'none'}", file=sys.stderr, flush=True)
    out = Path(args.out)
    remove_stale_temporaries(out)  # what a killed run left half-written (never a live run's files)
    # the ETA follows the work, not the count: longest first, the first records are the slowest
    bar = progress(len(lengths), "fold", "record", enabled=not args.quiet, work=sum(map(fold_cost, lengths)))
    tasks = _tasks(args, records, bar)
    if args.order == "longest":
        tasks = longest_first(tasks)
    if serial:
        rows_iter = serial_rows(folder, tasks)
    elif args.ray is not None:
        folder = None
        rows_iter = ray_rows(job, tasks, args.ray or None, args.workers)
    else:
        folder = None
        rows_iter = process_rows(job, tasks, args.workers)
    rows = []
    try:
        for row in rows_iter:
            rows.append(row)
            cost = fold_cost(row.length)
            if row.done_before:  # nothing folded now: its work leaves the total instead of counting as done
                bar.drop(cost)
            bar.update(note=f"{row.id} ({row.length} aa) {row.status} {row.seconds:.1f} s",
                       work=0.0 if row.done_before else cost)
    finally:
        bar.close()
        rows_iter.close()  # interrupted: the pool or Ray shuts down now, not whenever it is collected
        if rows:
            try:
                write_summary(out, rows)
            except OSError as error:  # a full disk: the records' own files and the table still say it all
                print(f"foldlite fold: warning: could not write {out / 'summary.tsv'}: {error}", file=sys.stderr)
    if not args.quiet:
        print_table(rows, time.perf_counter() - started, out)
    return EXIT_FAILED if any(row.failed for row in rows) else EXIT_OK


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

    from ..evaluation.compare import compare, format_comparison
    from ..io.pdb import read_structure

    model = read_structure(args.prediction, chain=args.prediction_chain)
    reference = read_structure(args.reference, chain=args.reference_chain)
    comparison = compare(model, reference)
    if args.json:
        print(json.dumps({"prediction": args.prediction, "reference": args.reference, **comparison.to_dict()}))
    else:
        print(format_comparison(comparison, args.prediction, args.reference))
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
    build.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def _run_library(args) -> int:
    from ..templates.build import build_library

    out = _new_output(args.out, args.overwrite)
    if not Path(args.source).exists():
        raise UsageError(f"{args.source}: no such chain set or folder")
    command = " ".join(["foldlite", "library", "build", args.source, "-o", str(args.out)]
                       + (["--split", args.split] if args.split else []))
    report = build_library(args.source, out, split=args.split, command=command, show_progress=True)
    print(report.format_report())
    return EXIT_OK


def _add_search(sub) -> None:
    p = sub.add_parser("search", help="find template structures for FASTA sequences in a structure library")
    p.add_argument("input", help="FASTA file (every record is searched)")
    p.add_argument("--library", default=None, help="library .npz (default: foldlite/weights/library.npz)")
    p.add_argument("--max-hits", type=_positive_int, default=10, help="hits per record (default 10)")
    p.add_argument("--max-evalue", type=_positive_float, default=10.0,
                   help="report hits up to this E-value (default 10)")
    # the choices are foldlite.templates.search.SEARCH_METHODS (not imported here: help stays fast)
    p.add_argument("--method", choices=("both", "profile", "sw"), default=None,
                   help="profile: HMMER3 profile search (phmmer), finds distant relatives; sw: k-mer "
                        "prefilter + Smith-Waterman; both: the hits of the two (default: the one fold "
                        "uses, both)")


def _run_search(args) -> int:
    from ..io.fasta import read_fasta_all
    from ..progress import track
    from ..templates.library import default_library_path, load_library
    from ..templates.search import search_library

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
    # the hits go to stdout, progress to stderr (a bar on a terminal, a line every 5 s otherwise)
    for record in track(records, desc="search", unit="record", every_s=5.0):
        hits = search_library(record.sequence, library, args.method, max_hits=args.max_hits,
                              max_evalue=args.max_evalue)
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



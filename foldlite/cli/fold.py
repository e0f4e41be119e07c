"""CLI commands that fold, compare and search: fold, evaluate, library, search."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .args import (EXIT_FAILED, EXIT_OK, UsageError, _new_output, _output_folder, _positive_float,
                   _positive_int, _seed)

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
    p.add_argument("--quiet", action="store_true", help="no progress or table")


def _record_names(name: str, num_models: int) -> list[str]:
    return [name] if num_models == 1 else [f"{name}_rank_{k}" for k in range(1, num_models + 1)]


def _other_outputs_message(path: Path, record_id: str) -> str:
    return (f"{path} exists from a run with other options (--format/--num-models); refolding record "
            f"{record_id!r} would mix two predictions: pass --overwrite to replace its files, or choose another -o")


def _fold_records(args):
    """Validate all input first (streaming), then return a generator over (record, filename).

    Pass 1 also looks at what the output folder holds: a record that an earlier run finished with other
    options (another --format or --num-models) is refused unless --overwrite, before anything is folded.
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
        names = _record_names(safe_filename(record.id, used), args.num_models)
        state, existing = record_state(out, names, args.format)
        if state == "other" and not args.overwrite:
            raise UsageError(_other_outputs_message(existing, record.id))
    used = set()
    return ((record, safe_filename(record.id, used)) for record in records())


def _run_fold(args) -> int:
    import warnings

    from ..api import ModifiedResidueWarning, fold_models, load_model
    from ..io.outputs import record_state, write_prediction
    from ..io.safe_io import remove_stale_temporaries
    from ..templates.library import resolve_templates
    from ..tokenizer import describe_modified

    records = _fold_records(args)
    model = load_model(args.weights, args.device)
    # loaded once, before anything is written: a missing or broken library is a usage error (exit 2)
    library = resolve_templates("auto" if args.templates is None else args.templates)
    if not args.quiet:
        print(f"templates: {library.path or 'in-memory library'} ({len(library)} chains)" if library is not None
              else "templates: none", file=sys.stderr, flush=True)
    out = Path(args.out)
    remove_stale_temporaries(out)  # what a killed run left half-written (never a live run's files)
    rows, failed = [], 0
    started = time.time()
    for index, (record, name) in enumerate(records, start=1):
        names = _record_names(name, args.num_models)
        state, existing = record_state(out, names, args.format)
        if state == "done" and not args.overwrite:
            rows.append((record.id, len(record.sequence), None, None, 0.0, "-",
                         "skipped (done; --overwrite to refold)"))
            continue
        if state == "other" and not args.overwrite:  # appeared since pass 1 (another run into this folder)
            failed += 1
            rows.append((record.id, len(record.sequence), None, None, 0.0, "-",
                         f"failed: {_other_outputs_message(existing, record.id)}"))
            continue
        if record.modified:  # U folded as C, B as X ...: said on stderr and kept in the JSON
            where = f"{args.input}: " if args.input else ""
            print(f"foldlite fold: warning: {where}record {record.id!r}: folded "
                  f"{describe_modified(record.modified)}", file=sys.stderr, flush=True)
        if not args.quiet:
            print(f"[{index}] folding {record.id} ({len(record.sequence)} aa) ...", file=sys.stderr, flush=True)
        tick = time.time()
        try:
            with warnings.catch_warnings():  # the warning above already said it, in the CLI's words
                warnings.simplefilter("ignore", ModifiedResidueWarning)
                predictions = fold_models(record.sequence, model=model, seed=args.seed,
                                          num_models=args.num_models, record_id=record.id, keep_attention=False,
                                          templates=library, modified=record.modified,
                                          relax=args.relax)
            if not args.overwrite and record_state(out, names, args.format)[0] == "done":
                # another run into this folder finished the record meanwhile (same input, same files)
                rows.append((record.id, len(record.sequence), predictions[0].mean_plddt, predictions[0].ptm,
                             time.time() - tick,
                             _best_template(predictions[0]), "skipped (written meanwhile by another run)"))
                continue
            # rank 1 last: until its structure file exists the record reads as unfinished (record_state)
            for prediction, file_name in reversed(list(zip(predictions, names))):
                # an unfinished record's leftovers (no structure file yet) are ours to replace
                write_prediction(prediction, out, name=file_name, fmt=args.format, plots=not args.no_plots,
                                 overwrite=True, extra={"file_stem": file_name}, html=args.html)
            relax_failures = [p.relax_info["status"] for p in predictions
                              if p.relax_info.get("status", "ok") != "ok"]
            failed += bool(relax_failures)  # the unrelaxed model was written; the record still counts as failed
            status = f"relax {relax_failures[0]} (unrelaxed model written)" if relax_failures else "ok"
            rows.append((record.id, len(record.sequence), predictions[0].mean_plddt, predictions[0].ptm,
                         time.time() - tick, _best_template(predictions[0]), status))
        except MemoryError:
            failed += 1
            rows.append((record.id, len(record.sequence), None, None, time.time() - tick, "-",
                         "failed: out of memory"))
        except Exception as error:  # one bad record must not stop the others; it is reported and counted
            failed += 1
            rows.append((record.id, len(record.sequence), None, None, time.time() - tick, "-",
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
    template_width = max([len("template")] + [len(r[5]) for r in rows])
    print(f"{'id':<{width}}  {'length':>6}  {'pLDDT':>6}  {'pTM':>5}  {'time_s':>7}  "
          f"{'template':<{template_width}}  status")
    for record_id, length, plddt, ptm, seconds, template, status in rows:
        plddt_text = f"{plddt:6.1f}" if plddt is not None else f"{'-':>6}"
        ptm_text = f"{ptm:5.2f}" if ptm is not None else f"{'-':>5}"
        print(f"{record_id:<{width}}  {length:>6}  {plddt_text}  {ptm_text}  {seconds:7.2f}  "
              f"{template:<{template_width}}  {status}")
    ok = sum(r[6] == "ok" for r in rows)
    print(f"{ok}/{len(rows)} folded in {elapsed:.1f} s -> {out}")


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
    report = build_library(args.source, out, split=args.split, command=command)
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
    for record in records:
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



"""`foldlite attention`: what each trunk head attends to, as contact maps.

For each record: <name>_attention.png (every layer·head's symmetrised, APC-corrected attention map,
the pair stack's contact map, the attention probe's, and the reference's contacts with --reference)
and <name>_attention.tsv (per head: the probe's weight and the long-range top-L/5 contact precision
against the reference; then the probe and the pair stack). The network runs on the sequence alone
(no templates: the trunk never sees them, and the pair stack's map is then the single-sequence one).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from .args import EXIT_OK, UsageError, _output_folder

_PATH_LIKE = re.compile(r"[./\\]")  # a name with these is meant as a file


def _add_attention(sub) -> None:
    p = sub.add_parser("attention", help="attention maps of every trunk head as contact maps (+ precision "
                                         "against a reference structure)",
                       description="Writes <id>_attention.png and <id>_attention.tsv per record. The network "
                                   "runs on the sequence alone (no templates), so the pair stack's contact "
                                   "map is the single-sequence one. Exit 2 on bad input (nothing written).")
    p.add_argument("input", metavar="SEQUENCE_OR_FASTA", help="a FASTA file, or one sequence of one-letter codes")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--reference", default=None, help="the true structure (PDB or mmCIF) of a single record: "
                                                     "its contacts are drawn and each head is scored on them")
    p.add_argument("--reference-chain", default=None, help="chain id in --reference (default: first protein chain)")
    p.add_argument("--id", default="query", help="record id when SEQUENCE_OR_FASTA is a sequence (default: query)")
    p.add_argument("--weights", default=None, help="weights file (default: the shipped model)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def _records(args):
    """FASTA file or sequence -> checked records (all validated before anything runs)."""
    from ..api import MAX_LENGTH, MIN_LENGTH
    from ..io.fasta import FastaRecord, check_length, read_fasta_all
    from ..tokenizer import SequenceError, modified_residues, normalize_sequence

    path = Path(args.input)
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; give a FASTA file or a sequence")
    if path.exists():
        records = read_fasta_all(path)
        for record in records:
            check_length(record.id, record.sequence, MIN_LENGTH, MAX_LENGTH, source=path)
    elif _PATH_LIKE.search(args.input):
        raise UsageError(f"{args.input}: no such FASTA file")
    else:  # a sequence; its error names the bad character and where it is
        try:
            sequence = normalize_sequence(args.input, args.id)
            check_length(args.id, sequence, MIN_LENGTH, MAX_LENGTH)
        except SequenceError as error:  # perhaps a mistyped file name: say both
            raise UsageError(f"{args.input[:40]}: no such FASTA file; as a sequence: {error}") from None
        return [FastaRecord(args.id, args.id, sequence, modified=tuple(modified_residues(args.input)))]
    if args.reference is not None and len(records) != 1:
        raise UsageError(f"--reference needs a single record, {args.input} has {len(records)}")
    return records


def _probe_for(model):
    """The attention probe fitted for these weights, or None (said on stderr)."""
    from ..model.attention_probe import ProbeError, load_probe

    try:
        probe = load_probe()
    except ProbeError as error:
        print(f"foldlite attention: warning: no attention probe ({error})", file=sys.stderr)
        return None
    if probe.weights_sha256 and probe.weights_sha256[:12] not in model.version:
        print(f"foldlite attention: warning: the attention probe was fitted for weights "
              f"{probe.weights_sha256[:12]}, not {model.sha256[:12]}: its panel and row are left out",
              file=sys.stderr)
        return None
    return probe


def _tsv(rows: list[dict]) -> str:
    def cell(value):
        if value is None:
            return ""
        if isinstance(value, float):
            return "nan" if value != value else f"{value:.4f}"
        return str(value)

    columns = ["map", "layer", "head", "probe_weight", "lr_top_l5_precision"]
    return "\n".join(["\t".join(columns)] + ["\t".join(cell(row[c]) for c in columns) for row in rows]) + "\n"


def _run_attention(args) -> int:
    from ..api import load_model
    from ..evaluation.attention import attention_view, reference_cb
    from ..io.attention_plot import figure_png, plot_attention
    from ..io.outputs import OutputExistsError
    from ..io.pdb import read_structure
    from ..io.safe_io import atomic_write_bytes, safe_filename
    from ..tokenizer import describe_modified

    records = _records(args)
    out = _output_folder(args.out)
    used: set = set()
    names = [safe_filename(record.id, used) for record in records]
    files = [(out / f"{name}_attention.png", out / f"{name}_attention.tsv") for name in names]
    existing = [path for pair in files for path in pair if path.exists()]
    if existing and not args.overwrite:
        raise OutputExistsError(f"{existing[0]} exists; pass --overwrite to replace it")
    reference = None
    if args.reference is not None:
        reference = read_structure(args.reference, chain=args.reference_chain)
        reference_cb(records[0].sequence, reference)  # not the same protein: an error before any work
    model = load_model(args.weights, args.device, runtime="torch")  # the maps come from torch modules
    probe = _probe_for(model)
    out.mkdir(parents=True, exist_ok=True)
    for record, (png, tsv) in zip(records, files):
        if record.modified:  # U read as C, B as X ...: said, as `foldlite fold` says it
            print(f"foldlite attention: warning: record {record.id!r}: read {describe_modified(record.modified)}",
                  file=sys.stderr)
        view = attention_view(model, record.sequence, reference, probe)
        rows = view.table()
        precisions = [row["lr_top_l5_precision"] for row in rows[:len(view.features)]]
        summary = {row["map"].replace("_", " "): row["lr_top_l5_precision"] for row in rows[len(view.features):]}
        figure = plot_attention(view.features, view.num_heads, view.contacts, view.probe_contacts,
                                view.true_contacts, precisions, summary,
                                title=f"{record.id} ({len(record.sequence)} aa): attention maps, symmetrised, "
                                      f"APC-corrected  ({model.version})")
        contents = [(png, figure_png(figure)), (tsv, _tsv(rows).encode("utf-8"))]
        written = []
        try:
            for path, data in contents:
                atomic_write_bytes(path, data)
                written.append(path)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        _print_summary(record.id, len(record.sequence), rows, reference is not None, png, tsv)
    return EXIT_OK


def _print_summary(record_id: str, length: int, rows: list[dict], scored: bool, png: Path, tsv: Path) -> None:
    import numpy as np

    heads = [row for row in rows if row["layer"] is not None]
    if scored:
        best = sorted(heads, key=lambda r: np.nan_to_num(r["lr_top_l5_precision"], nan=-1.0), reverse=True)[:3]
        text = ", ".join(f"{r['map']} {r['lr_top_l5_precision']:.2f}" for r in best)
        others = "  ".join(f"{r['map']} {r['lr_top_l5_precision']:.2f}" for r in rows if r["layer"] is None)
        print(f"{record_id} ({length} aa): long-range top-L/5 precision: best heads {text}; {others}")
    else:
        print(f"{record_id} ({length} aa): {len(heads)} heads (no --reference: nothing to score against)")
    print(f"  -> {png}  {tsv}")

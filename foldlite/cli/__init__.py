"""Command-line interface: parses arguments, calls the library, prints results. No pipeline logic here.

Exit codes: 0 success; 1 some records failed to fold; 2 bad input or usage (nothing written).
"""
from __future__ import annotations

import argparse
import os
import sys

from .args import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError, run_command  # noqa: F401 (the CLI's exit codes)
from .fold import _add_evaluate, _add_fold, _add_library, _add_search, _fold_records  # noqa: F401
from .fold import _run_evaluate, _run_fold, _run_library, _run_search
from .train import _add_benchmark, _add_data, _add_export, _add_model_metrics, _add_train
from .train import _run_benchmark, _run_data, _run_export, _run_model_metrics, _run_train
from .attention import _add_attention, _run_attention
from .server import _add_serve, _run_serve

# ---------------------------------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    from ..version import __version__

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
    _add_attention(sub)
    _add_serve(sub)
    return parser


HANDLERS = {"fold": _run_fold, "train": _run_train, "data": _run_data, "evaluate": _run_evaluate,
            "benchmark": _run_benchmark, "model-metrics": _run_model_metrics, "export": _run_export,
            "library": _run_library, "search": _run_search, "attention": _run_attention,
            "serve": _run_serve}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse already printed the usage error (or --help/--version)
        return int(exit_.code or 0)
    return run_command(args, HANDLERS[args.command])


def console(argv: list[str] | None = None) -> None:
    """The `foldlite` command: main(), then exit without the interpreter's teardown.

    With torch loaded, Python's own exit (module and object cleanup) takes 0.3-0.5 s on 2 cores, a
    fifth of a small fold. By the time main() returns every output file is written and closed, worker
    pools, the search process and Ray are shut down, and only the standard streams are left to flush.
    """
    code = main(argv)
    if code == EXIT_INTERRUPTED:
        # an interrupted --workers pool is left in reference cycles whose collection would unlink its
        # semaphores; skipped by os._exit, Python's resource tracker then warns of "leaked semaphore
        # objects" after the run has said it was interrupted
        import gc

        gc.collect()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, OSError):  # `foldlite ... | head`: the reader has gone
        code = code or 1
    os._exit(code)


if __name__ == "__main__":
    console()

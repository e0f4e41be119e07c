"""Argument types and errors shared by the CLI's commands."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


class UsageError(ValueError):
    """A bad argument value found after parsing (reported like argparse errors, exit code 2)."""


def _expected_errors() -> tuple[type[BaseException], ...]:
    """User-facing errors: one line on stderr and exit code 2, never a traceback."""
    from ..api import DeviceError
    from ..data.build import ChainsetBuildError
    from ..data.chains import ChainSetError
    from ..model.attention_probe import ProbeError
    from ..model.runtime import RuntimeChoiceError
    from ..model.weights_file import WeightsError
    from ..evaluation.compare import AlignmentError
    from ..templates.library import LibraryError
    from ..io.outputs import OutputExistsError
    from ..io.pdb import StructureFileError
    from ..tokenizer import SequenceError

    return (UsageError, AlignmentError, SequenceError, DeviceError, WeightsError, RuntimeChoiceError, StructureFileError,
            OutputExistsError,
            ChainsetBuildError, ChainSetError, LibraryError, ProbeError, FileNotFoundError, IsADirectoryError,
            PermissionError)


def run_command(args: argparse.Namespace, handler) -> int:
    """handler(args) -> exit code, with the CLI's error reporting: an expected error is one line on
    stderr and exit code 2; Ctrl-C (KeyboardInterrupt) says what it left and exits 130."""
    try:
        return handler(args)
    except Exception as error:
        # a UsageError is told apart first: the other classes' imports (torch among them) are then
        # not needed to report it, which keeps `foldlite fold --server`'s client light
        if not isinstance(error, UsageError) and not isinstance(error, _expected_errors()):
            raise
        print(f"foldlite {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("foldlite: interrupted; finished records are complete, nothing is half-written", file=sys.stderr)
        return EXIT_INTERRUPTED


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2 ** 31:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2^31-1, got {value}")
    return value


def _output_folder(path: str) -> Path:
    """The -o folder, refused up front (exit 2, nothing folded) when it cannot be one: a file, or a
    path under a file, or a place where nothing can be written."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder; choose another -o")
    ancestor = out
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{out}: cannot make this folder, {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{out}: cannot write in {ancestor} (permission denied)")
    return out


def _new_output(path: str, overwrite: bool) -> Path:
    """The path of an output file that may only replace an existing file when --overwrite was given;
    checked before the work starts, so a bad -o does not surface only when the result is written."""
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"{out}: is a folder; -o takes a file name here")
    if out.exists() and not overwrite:
        raise UsageError(f"{out} exists; pass --overwrite to replace it")
    _output_folder(str(out.parent))
    return out


def _length_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(v) for v in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX such as 50-300, got {text!r}") from None
    if not 1 <= low <= high:
        raise argparse.ArgumentTypeError(f"need 1 <= MIN <= MAX, got {text!r}")
    return low, high



"""What a `foldlite fold` run wrote, for comparing two runs that should have written the same files."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np


def run_files(out: Path) -> dict:
    """Every file in `out`, timings and summary.tsv aside (they say how long it took, not what it found):
    JSON summaries as dicts, .npz files as {array name: bytes}, HTML reports as text without their
    timings line, other files as bytes."""
    files = {}
    for path in sorted(Path(out).iterdir()):
        if path.name == "summary.tsv":
            continue
        if path.suffix == ".json":
            summary = json.loads(path.read_text())
            summary.pop("timings_s")
            files[path.name] = summary
        elif path.suffix == ".npz":
            with np.load(path) as arrays:
                files[path.name] = {key: arrays[key].tobytes() for key in arrays.files}
        elif path.suffix == ".html":
            files[path.name] = re.sub(r"network [0-9.]+ s, templates [0-9.]+ s, .*? total [0-9.]+ s", "",
                                      path.read_text())
        else:
            files[path.name] = path.read_bytes()
    return files

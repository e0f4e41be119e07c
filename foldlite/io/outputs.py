"""Writing a Prediction's files: structure, JSON summary, distogram arrays, figure.

Every file is written atomically (temporary file, then rename), and nothing that exists is replaced
unless `overwrite` is set, so an interrupted run never leaves a half-written PDB behind.
"""
from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np

from ..constants import DISTOGRAM_EDGES
from .safe_io import atomic_write_bytes

FORMATS = ("pdb", "cif")


class OutputExistsError(FileExistsError):
    """An output file already exists and overwriting was not asked for."""


def output_paths(directory: Path, name: str, fmt: str = "pdb", plots: bool = True,
                 html: bool = False, relaxed: bool = False) -> dict[str, Path]:
    """The files one prediction produces, by kind (a relaxed one also keeps <name>_unrelaxed.<fmt>)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown structure format {fmt!r}; choose one of {FORMATS}")
    paths = {"structure": directory / f"{name}.{fmt}", "json": directory / f"{name}.json",
             "distogram": directory / f"{name}_distogram.npz"}
    if plots:
        paths["plot"] = directory / f"{name}.png"
    if html:
        paths["html"] = directory / f"{name}.html"
    if relaxed:
        paths["unrelaxed"] = directory / f"{name}_unrelaxed.{fmt}"
    return paths


def record_files(directory: Path, names: list[str]) -> list[Path]:
    """Every file predictions under these names can have, whatever the options (both structure formats,
    with and without the figure): the files an existing-output check must look at."""
    files = []
    for name in names:
        for fmt in FORMATS:  # structure and, after --relax, the unrelaxed model, in both formats
            files += [p for kind, p in output_paths(Path(directory), name, fmt, html=True, relaxed=True).items()
                      if kind in ("structure", "unrelaxed")]
        files += [p for kind, p in output_paths(Path(directory), name, html=True).items() if kind != "structure"]
    return files


def record_state(directory: Path, names: list[str], fmt: str) -> tuple[str, Path | None]:
    """What an earlier run left for one record whose predictions are written under `names`
    (one name, or the rank names of --num-models, which are written last rank first).

    ("done", None): every structure file of this format exists (the structure is written last, so the
    record is complete). ("other", path): a finished record under other options: a structure file in the
    other format, or the first name's (a run with fewer --num-models); refolding would mix two
    predictions. ("unfinished", None): nothing, or the leftovers of an interrupted run, ours to replace.
    """
    directory = Path(directory)
    wanted = [directory / f"{name}.{fmt}" for name in names]
    if all(path.exists() for path in wanted):
        return "done", None
    other = [path for name in names for f in FORMATS if f != fmt and (path := directory / f"{name}.{f}").exists()]
    if other:
        return "other", other[0]
    if wanted[0].exists():
        return "other", wanted[0]
    return "unfinished", None


def write_prediction(prediction, directory: Path, name: str | None = None, fmt: str = "pdb",
                     plots: bool = True, overwrite: bool = False, extra: dict | None = None,
                     html: bool = False, full_distogram: bool = False) -> dict[str, Path]:
    """Write all files of one prediction; `name` defaults to the record id (made file-safe); with
    html=True also the <name>.html report, and <name>_unrelaxed.<fmt> for a relaxed prediction.
    With plots, <name>.png is the prediction figure drawn with Pillow (foldlite.io.figure_raster).
    full_distogram: also keep the [L, L, 65] distance-bin probabilities in <name>_distogram.npz
    (see distogram_arrays). The time spent making the files is recorded as prediction.timings["outputs"]
    (and its "total" updated) before the JSON is made, so the JSON's total is the record's time.

    Without `overwrite`, any existing file of this name (in either format) is an OutputExistsError.
    With it, the old files of this name that this call does not rewrite (the other format's structure,
    a figure when plots are off) are removed, so the folder never holds two predictions for one name.
    If writing fails (a full disk), the files this call had written are removed again.
    """
    from .safe_io import safe_filename

    directory = Path(directory)
    name = name or safe_filename(prediction.id, set())
    unrelaxed = getattr(prediction, "unrelaxed", None)
    paths = output_paths(directory, name, fmt, plots, html, relaxed=unrelaxed is not None)
    existing = [path for path in record_files(directory, [name]) if path.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{existing[0]} exists; pass overwrite=True (--overwrite) to replace it")

    # everything is made in memory first: an error here leaves the folder as it was
    tick = time.perf_counter()
    contents = {"distogram": _distogram_npz(prediction, full_distogram)}
    if plots:
        from .figure_raster import prediction_png

        contents["plot"] = prediction_png(prediction)
    if html:  # the self-contained report (foldlite.io.report)
        contents["html"] = prediction.to_html().encode("utf-8")
    if unrelaxed is not None:  # the backbone model a relaxed one came from
        from .pdb import write_cif, write_pdb

        contents["unrelaxed"] = (write_pdb(unrelaxed) if fmt == "pdb" else write_cif(unrelaxed)).encode("utf-8")
    # the structure goes last: its presence marks a finished record (reruns skip it)
    structure = (prediction.to_pdb() if fmt == "pdb" else prediction.to_cif()).encode("utf-8")
    _set_timing(prediction, "outputs", time.perf_counter() - tick)
    summary = prediction.summary()
    summary["files"] = {kind: path.name for kind, path in paths.items()}
    summary.update(extra or {})
    contents["json"] = (json.dumps(summary, indent=1) + "\n").encode("utf-8")
    contents["structure"] = structure

    directory.mkdir(parents=True, exist_ok=True)
    # the old structure goes first, so that until the new one is written the record reads as unfinished
    # (an interrupted run is refolded on rerun instead of being skipped with mixed files)
    stale = [path for path in record_files(directory, [name]) if path not in paths.values()]
    for path in [paths["structure"], *stale]:
        path.unlink(missing_ok=True)
    written = []
    try:
        for kind, data in contents.items():
            atomic_write_bytes(paths[kind], data)
            written.append(paths[kind])
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return paths


def _set_timing(prediction, key: str, seconds: float) -> None:
    """Record a stage's time in prediction.timings and keep its "total" the sum of the stages. Set,
    not added: saving the same prediction again reports that write's time, not the sum of both."""
    timings = getattr(prediction, "timings", None)
    if timings is None:
        return
    timings[key] = seconds
    timings["total"] = sum(v for k, v in timings.items() if k != "total")


def distogram_arrays(prediction, full_distogram: bool = False) -> dict[str, np.ndarray]:
    """What <name>_distogram.npz holds: by default the maps people look at, float16 [L, L] unless said.

    `distance` (the network's expected Cβ distance, Å, the > 22 Å class counted as 22), `contacts`
    (P(Cβ-Cβ < 8 Å)), `pae` (Å, of the model) and `ptm`, `ss3` [L, 3], `bin_edges`, `sequence`: 0.5 MB
    for 300 residues. full_distogram adds the [L, L, 65] bin probabilities, `distogram` (the
    network's) and `restrained_distogram` (template restraints mixed in, when used): 12 MB each at
    300 residues, 47 MB each at 600, which a proteome run rarely needs (README "Folding a proteome").
    """
    from .plots import expected_distance_map  # the figure's map: the overflow class counted as 22 Å

    arrays = {"distance": expected_distance_map(prediction.distogram).astype(np.float16),
              "contacts": prediction.contacts.astype(np.float16),
              "ss3": prediction.ss3_probs.astype(np.float16),
              "bin_edges": DISTOGRAM_EDGES, "sequence": np.array(prediction.sequence)}
    if getattr(prediction, "pae", None) is not None:
        arrays["pae"] = prediction.pae.astype(np.float16)  # [L, L] Å predicted distance error (foldlite.geometry.pae)
        arrays["ptm"] = np.float32(prediction.ptm)
    if full_distogram:
        arrays["distogram"] = prediction.distogram.astype(np.float16)  # [L, L, 65]
        restrained = getattr(prediction, "restrained_distogram", None)
        if restrained is not None:  # what the geometry used once template restraints were mixed in
            arrays["restrained_distogram"] = restrained.astype(np.float16)  # [L, L, 65]
    return arrays


def _distogram_npz(prediction, full_distogram: bool = False) -> bytes:
    buffer = io.BytesIO()
    # not compressed: float16 probabilities shrink by only ~12 % under zlib, which took 0.8-1.2 s per
    # 300-residue record (the whole fold takes about as long)
    np.savez(buffer, **distogram_arrays(prediction, full_distogram))
    return buffer.getvalue()

"""Writing a Prediction's files: structure, JSON summary, distogram arrays, figure.

Every file is written atomically (temporary file, then rename), and nothing that exists is replaced
unless `overwrite` is set, so an interrupted run never leaves a half-written PDB behind.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ..constants import DISTOGRAM_EDGES
from .safe_io import atomic_write_bytes, atomic_write_text

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


def write_prediction(prediction, directory: Path, name: str | None = None, fmt: str = "pdb",
                     plots: bool = True, overwrite: bool = False, extra: dict | None = None,
                     html: bool = False) -> dict[str, Path]:
    """Write all files of one prediction; `name` defaults to the record id (made file-safe)."""
    from .safe_io import safe_filename

    directory = Path(directory)
    name = name or safe_filename(prediction.id, set())
    unrelaxed = getattr(prediction, "unrelaxed", None)
    paths = output_paths(directory, name, fmt, plots, html, relaxed=unrelaxed is not None)
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{existing[0]} exists; pass overwrite=True (--overwrite) to replace it")
    directory.mkdir(parents=True, exist_ok=True)

    summary = prediction.summary()
    summary["files"] = {kind: path.name for kind, path in paths.items()}
    summary.update(extra or {})
    structure_text = prediction.to_pdb() if fmt == "pdb" else prediction.to_cif()

    buffer = io.BytesIO()
    # float16 probabilities keep a 300-residue distogram at a few MB; contacts and SS ride along
    arrays = {"distogram": prediction.distogram.astype(np.float16),
              "contacts": prediction.contacts.astype(np.float16),
              "ss3": prediction.ss3_probs.astype(np.float16),
              "bin_edges": DISTOGRAM_EDGES, "sequence": np.array(prediction.sequence)}
    if getattr(prediction, "pae", None) is not None:
        arrays["pae"] = prediction.pae.astype(np.float16)  # [L, L] Å predicted distance error (foldlite.geometry.pae)
        arrays["ptm"] = np.float32(prediction.ptm)
    if getattr(prediction, "restrained_distogram", None) is not None:
        # what the geometry used once template restraints were mixed in (the network's own is `distogram`)
        arrays["restrained_distogram"] = prediction.restrained_distogram.astype(np.float16)
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(paths["distogram"], buffer.getvalue())
    if plots:
        figure_buffer = io.BytesIO()
        figure = prediction.plot()
        figure.savefig(figure_buffer, format="png", dpi=110)
        import matplotlib.pyplot as plt

        plt.close(figure)
        atomic_write_bytes(paths["plot"], figure_buffer.getvalue())
    if html:  # the self-contained report (foldlite.io.report)
        atomic_write_text(paths["html"], prediction.to_html(), encoding="utf-8")
    atomic_write_text(paths["json"], json.dumps(summary, indent=1) + "\n")
    if unrelaxed is not None:
        from .pdb import write_cif, write_pdb

        atomic_write_text(paths["unrelaxed"], write_pdb(unrelaxed) if fmt == "pdb" else write_cif(unrelaxed))
    # the structure goes last: its presence marks a finished record (reruns skip it)
    atomic_write_text(paths["structure"], structure_text)
    return paths

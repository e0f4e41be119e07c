"""A weights file's network exported to ONNX once and kept in the cache folder (foldlite.cache), so that
later folds on the CPU run on ONNX Runtime without importing torch (~1.3-1.5 s of every process start).

An entry is networks/<weights SHA-256>-f<EXPORT_FORMAT>.onnx. Besides the weights' digest (checked when
an entry is opened) its metadata holds their confidence calibration and provenance as JSON: a fold
needs nothing else from the .pt file. The first fold with a weights file makes the entry (export_entry:
torch and the onnx package, ~2 s for the shipped network, compared with torch before it is kept);
processes that make one at the same time each write their own scratch file and rename it into place.
The entry is stored as ONNX Runtime's graph-optimized form at the "extended" level (fusions that hold
on any CPU; the CPU-specific layout changes are made when a session opens): a session then opens in
~0.045 s instead of ~0.075 s, with bit-identical outputs.
The cache only speeds folding up: an entry that is missing, damaged or foreign is ignored (and made
again), and without a cache folder (or without onnxruntime) folds run on torch as before.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

from ..cache import cache_root
from .onnx_network import EXPORT_FORMAT, OnnxNetwork, OnnxNetworkError

NETWORKS_FOLDER = "networks"


def entry_path(weights_sha256: str, root: Path | None = None) -> Path | None:
    """Where the export of the weights with this digest lives; None when the cache is turned off."""
    root = cache_root() if root is None else root
    if root is None:
        return None
    return root / NETWORKS_FOLDER / f"{weights_sha256}-f{EXPORT_FORMAT}.onnx"


def open_entry(weights_sha256: str, threads: int | None = None) -> tuple[OnnxNetwork, dict, dict] | None:
    """(network, calibration dict, provenance dict) from the entry of these weights, or None when there
    is no usable one (no cache, none made yet, damaged, or made from other weights)."""
    path = entry_path(weights_sha256)
    if path is None or not path.is_file():
        return None
    try:
        network = OnnxNetwork(path, threads=threads)
        if network.weights_sha256 != weights_sha256:
            return None
        network.config  # noqa: B018 (an entry without its configuration is not usable)
        calibration = json.loads(network.metadata["calibration"])
        provenance = json.loads(network.metadata["provenance"])
    except (OnnxNetworkError, KeyError, ValueError, OSError):
        return None
    return network, calibration, provenance


def export_entry(network, weights_sha256: str, calibration: dict, provenance: dict) -> Path | None:
    """Export a torch network (foldlite.model.network.FoldliteModel) as the entry of these weights; the
    entry's path, or None when it cannot be made here (no cache folder, not writable, no onnx package,
    a network without a template pathway, or an export that does not match torch)."""
    path = entry_path(weights_sha256)
    if path is None or not network.config.pair.templates:
        return None
    try:
        from .onnx_export import ExportCheckError, export_checked

        export_checked(network, path, weights_sha256,
                       {"calibration": json.dumps(calibration), "provenance": json.dumps(provenance, default=str)})
    except (ImportError, OSError, ExportCheckError):  # no onnx package, a cache that cannot be written
        return None
    except Exception as error:  # noqa: BLE001 (torch's exporter raises many kinds) fold on torch, but say why
        warnings.warn(f"foldlite: the network could not be exported to ONNX ({type(error).__name__}: {error}); "
                      "folding with torch", RuntimeWarning, stacklevel=2)
        return None
    try:
        _store_optimized(path)
    except Exception:  # noqa: BLE001 (onnxruntime raises its own classes) the plain export stays usable
        pass
    return path


def _store_optimized(path: Path) -> None:
    """Replace the export at `path` by ONNX Runtime's "extended" optimization of it (module docstring);
    the metadata stays. Written beside it under a name of its own, then renamed over it."""
    import onnxruntime

    fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".optimized", dir=path.parent)
    os.close(fd)
    try:
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = scratch
        onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        os.chmod(scratch, 0o644)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise

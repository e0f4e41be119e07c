"""A loaded model and one pass of its network: load_model -> LoadedModel -> run_network -> NetworkOutput.

The network runs on torch or on ONNX Runtime (foldlite.model.runtime chooses, foldlite.model.onnx_cache
keeps the export); either way run_network returns numpy probabilities. torch is imported only where a
model runs on it: its import alone takes ~1.5 s, most of a CPU fold's start on ONNX Runtime.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..geometry.confidence import Calibration
from ..templates.features import TemplateFeatures
from ..tokenizer import encode_canonical
from ..version import __version__
from .onnx_network import OnnxNetwork, softmax_in_place
from .runtime import use_onnx
from .weights_file import WeightsError, default_weights_path, sha256_of, verify_checksum


class DeviceError(ValueError):
    """A device that was asked for but is not available."""


def resolve_device(device):
    """'auto' (or None) -> cuda when available, else cpu; 'cuda' without CUDA is an error (a torch.device)."""
    import torch

    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} requested but CUDA is not available on this machine; use --device cpu")
    if resolved.type not in ("cpu", "cuda"):
        raise DeviceError(f"device {device!r} is not supported; use cpu, cuda or auto")
    return resolved


@dataclass
class LoadedModel:
    """The network with its confidence calibration and where it came from.

    network: a foldlite.model.network.FoldliteModel (torch) or, for runtime "onnx", an OnnxNetwork
    (foldlite.model.onnx_network) on the same weights' export; device: a torch.device, or "cpu"."""

    network: object
    calibration: Calibration
    device: object
    path: Path
    provenance: dict
    sha256: str

    @property
    def runtime(self) -> str:
        """"onnx" or "torch": what runs the network."""
        return "onnx" if isinstance(self.network, OnnxNetwork) else "torch"

    @property
    def version(self) -> str:
        return f"foldlite {__version__} weights {self.sha256[:12]}"


def load_model(path: str | os.PathLike | None = None, device="cpu", runtime: str = "auto",
               threads: int | None = None) -> LoadedModel:
    """Load weights (default: the shipped ones; read with weights_only=True and strict keys).

    runtime: "torch"; "onnx" (ONNX Runtime, CPU only: the weights' export in the cache folder, made on
    first use, foldlite.model.onnx_cache); "auto" (default): onnx for CPU folds where onnxruntime is
    installed and the CPU has no native bf16, when the cache can hold the export; torch otherwise
    (foldlite.model.runtime). threads: ONNX Runtime's threads (default: all cores); torch's follow
    torch.set_num_threads."""
    from .allocator import tune_allocator

    # freed [L, L, C] maps stay with the process for the next ones, on either runtime: the network's, and
    # the distogram's numpy work after it (softmax, restraints, geometry, confidence, files)
    tune_allocator()
    path = Path(path) if path is not None else default_weights_path()
    # RuntimeChoiceError for "onnx" where it cannot run
    if use_onnx(runtime, device) and (loaded := _load_exported(path, threads)) is not None:
        return loaded
    if runtime == "onnx":
        raise _no_export(path)
    return _load_torch(path, device)


def _load_torch(path: Path, device) -> LoadedModel:
    from .checkpoint import model_from_checkpoint, read_checkpoint

    device = resolve_device(device)
    payload = read_checkpoint(path)
    network = model_from_checkpoint(payload, path).to(device).eval()
    return LoadedModel(network=network, calibration=Calibration.from_dict(payload.get("calibration")),
                       device=device, path=path, provenance=payload.get("provenance", {}),
                       sha256=sha256_of(path))


def _load_exported(path: Path, threads: int | None) -> LoadedModel | None:
    """The weights' export from the cache, made first when there is none (which reads the weights with
    torch); None when no export can be kept."""
    entry = _exported(path, threads)
    if entry is None:
        return None
    network, calibration, provenance, sha256 = entry
    return LoadedModel(network=network, calibration=Calibration.from_dict(calibration), device="cpu",
                       path=path, provenance=provenance, sha256=sha256)


def _exported(path: Path, threads: int | None):
    """(OnnxNetwork, calibration dict, provenance dict, weights SHA-256) from the cache, the export made
    first when there is none; None when it cannot be kept. WeightsError for a missing or damaged file."""
    from .onnx_cache import export_entry, open_entry

    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    verify_checksum(path)
    sha256 = sha256_of(path)
    entry = open_entry(sha256, threads)
    if entry is None:
        from .checkpoint import model_from_checkpoint, read_checkpoint

        payload = read_checkpoint(path)
        network = model_from_checkpoint(payload, path)
        if export_entry(network, sha256, payload.get("calibration"), payload.get("provenance", {})) is None:
            return None
        entry = open_entry(sha256, threads)
    return None if entry is None else (*entry, sha256)


def _no_export(path: Path) -> WeightsError:
    return WeightsError(f"{path}: runtime 'onnx' needs the network exported into the cache folder, which is "
                        "turned off or cannot be written (FOLDLITE_CACHE_DIR), or the onnx package to export it")


def settle_runtime(path: str | os.PathLike | None = None, device="cpu", runtime: str = "auto") -> str:
    """"onnx" or "torch": what load_model(path, device, runtime) will run on, with the ONNX export made
    first where it will be "onnx". A run's parent settles this once so that its workers all fold on the
    same runtime (identical files) and do not each export the network."""
    path = Path(path) if path is not None else default_weights_path()
    if use_onnx(runtime, device) and _exported(path, threads=1) is not None:
        return "onnx"
    if runtime == "onnx":
        raise _no_export(path)
    return "torch"


@dataclass
class NetworkOutput:
    """Per-sequence head outputs as numpy probabilities.

    distogram [L, L, 65], ss3 [L, 3], ca_torsion [L, 36], attention [N*H, L, L] float16 or None.
    """

    distogram: np.ndarray
    ss3: np.ndarray
    ca_torsion: np.ndarray
    attention: np.ndarray | None


def run_network(model: LoadedModel, sequence: str, keep_attention: bool = True,
                templates: TemplateFeatures | None = None) -> NetworkOutput:
    """One forward pass of a canonical sequence, with template features when given (and the
    network has a template pathway)."""
    tokens = encode_canonical(sequence)  # [L]
    if model.runtime == "onnx":
        out = model.network.run(tokens, None if templates is None else (templates.distance, templates.residue))
        return NetworkOutput(distogram=softmax_in_place(out.distogram, model.network.threads),
                             ss3=softmax_in_place(out.ss3),
                             ca_torsion=softmax_in_place(out.ca_torsion),
                             attention=out.attention.astype(np.float16) if keep_attention else None)
    import torch

    from .network import softmax_in_place as torch_softmax_in_place
    from .precision import autocast_context

    inputs = None
    if templates is not None and model.network.config.pair.templates:
        inputs = (torch.from_numpy(templates.distance)[None].to(model.device),  # [1, T, L, L]
                  torch.from_numpy(templates.residue)[None].to(model.device))  # [1, T, L, 3]
    with torch.no_grad(), autocast_context(model.device):
        out = model.network(torch.from_numpy(tokens)[None].to(model.device), templates=inputs)  # [1, L] in
    attention = out.attention[0].to(torch.float16).cpu().numpy() if keep_attention else None
    return NetworkOutput(
        distogram=torch_softmax_in_place(out.distogram[0].float()).cpu().numpy(),
        ss3=torch.softmax(out.ss3[0].float(), -1).cpu().numpy(),
        ca_torsion=torch.softmax(out.ca_torsion[0].float(), -1).cpu().numpy(),
        attention=attention,
    )

"""Export the network to ONNX: one file for every sequence length and number of templates.

Why: a process that folds with torch spends ~1.5 s importing it before anything runs; ONNX Runtime
imports in ~0.1 s and runs this network as fast (README "Speed and memory"). The export is a trace of
the model with `use_whole_maps()` (no loops over rows, whose count would be frozen into the trace),
for one unpadded sequence (batch 1) with T >= 1 templates; a fold without templates passes one template
that covers no pair, which adds exactly zero (TemplateEmbedding). Inputs and outputs:

    tokens [1, L] int64; template_distance [1, T, L, L] float32 Å (NaN: unaligned);
    template_residue [1, T, L, 3] float32
    -> distogram [1, L, L, K], ss3 [1, L, 3], ca_torsion [1, L, 36] logits (float32),
       attention [1, N*H, L, L] probabilities

The file's metadata names the weights it came from (their SHA-256), EXPORT_FORMAT and the network's
ModelConfig (JSON), and holds any
further text the caller gives (foldlite.model.onnx_cache stores the calibration and provenance).
export_checked also compares the export with torch before it keeps the file. Needs the `onnx` package
besides torch.
"""
from __future__ import annotations

import copy
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

import torch
from torch import nn

from .network import FoldliteModel
from .onnx_network import EXPORT_FORMAT, OnnxNetwork, empty_templates

INPUT_NAMES = ["tokens", "template_distance", "template_residue"]
OUTPUT_NAMES = ["distogram", "ss3", "ca_torsion", "attention"]
TRACE_LENGTH = 24  # residues of the example the trace runs on: any length works afterwards
CHECK_LENGTHS = (17, 150)  # residues of the random sequences an export is checked on
CHECK_TOLERANCE = 1e-3  # largest |difference| of any logit or attention weight, torch against ONNX Runtime


class ExportCheckError(RuntimeError):
    """An export whose outputs differ from torch's by more than CHECK_TOLERANCE."""


class _Outputs(nn.Module):
    """The network as a function of plain tensors, returning the outputs a fold needs."""

    def __init__(self, network: FoldliteModel):
        super().__init__()
        self.network = network

    def forward(self, tokens, template_distance, template_residue):
        out = self.network(tokens, templates=(template_distance, template_residue))
        return out.distogram, out.ss3, out.ca_torsion, out.attention


def export_onnx(network: FoldliteModel, path: str | os.PathLike, weights_sha256: str = "",
                metadata: dict[str, str] | None = None) -> Path:
    """Write the network (left unchanged: a copy is traced) to `path`, atomically; `metadata` (text
    keys and values) is stored beside the format and the weights' SHA-256."""
    import onnx  # needed by torch.onnx.export as well; a clear ImportError here if it is missing

    if not network.config.pair.templates:
        raise ValueError("this export needs a network with a template pathway (config.pair.templates)")
    traced = copy.deepcopy(network).float().eval().use_whole_maps()
    tokens = torch.arange(TRACE_LENGTH)[None] % 20  # [1, L]: any residues do
    # two templates that cover nothing, [1, T = 2, ...]: any T works afterwards
    distance, residue = (torch.from_numpy(a)[None].repeat_interleave(2, dim=1) for a in empty_templates(TRACE_LENGTH))
    dynamic = {"tokens": {1: "L"}, "template_distance": {1: "T", 2: "L", 3: "L"},
               "template_residue": {1: "T", 2: "L"}, "distogram": {1: "L", 2: "L"}, "ss3": {1: "L"},
               "ca_torsion": {1: "L"}, "attention": {2: "L", 3: "L"}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # the TorchScript-based exporter's deprecation notice, and the tracer's notes on the
            # q, k, v unpacking and the padding test, which this batch-1, unpadded trace settles
            warnings.simplefilter("ignore")
            torch.onnx.export(_Outputs(traced), (tokens, distance, residue), scratch, dynamo=False,
                              opset_version=17, input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
                              dynamic_axes=dynamic)
        model = onnx.load(scratch)
        stored = {**(metadata or {}), "foldlite_export_format": EXPORT_FORMAT, "weights_sha256": weights_sha256,
                  "config": json.dumps(network.config.to_dict())}
        for key, value in stored.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, scratch)
        os.chmod(scratch, 0o644)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return path


def difference_to_torch(network: FoldliteModel, path: str | os.PathLike) -> float:
    """Largest |difference| between torch's and ONNX Runtime's outputs over CHECK_LENGTHS (random
    sequences, no templates)."""
    session = OnnxNetwork(path)
    worst = 0.0
    for length in CHECK_LENGTHS:
        tokens = np.random.default_rng(length).integers(0, 20, length)
        with torch.no_grad():
            expected = network(torch.from_numpy(tokens)[None])
        got = session.run(tokens)
        for name in ("distogram", "ss3", "ca_torsion", "attention"):
            worst = max(worst, float(np.abs(getattr(got, name) - getattr(expected, name)[0].float().numpy()).max()))
    return worst


def export_checked(network: FoldliteModel, path: str | os.PathLike, weights_sha256: str = "",
                   metadata: dict[str, str] | None = None) -> float:
    """export_onnx into a scratch folder beside `path`, compared with torch there; moved to `path` (a
    rename, replacing any file there) only when within CHECK_TOLERANCE, else ExportCheckError and no
    file. Returns the largest difference."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    network = network.float().eval()
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as scratch:
        candidate = export_onnx(network, Path(scratch) / path.name, weights_sha256, metadata)
        difference = difference_to_torch(network, candidate)
        if difference > CHECK_TOLERANCE:
            raise ExportCheckError(f"the ONNX export differs from torch by {difference:.2e} (> {CHECK_TOLERANCE})")
        candidate.replace(path)
    return difference

"""Run a network exported by foldlite.model.onnx_export with ONNX Runtime: numpy in, numpy out, and
no torch in the process (its import alone takes ~1.5 s on a 2-core laptop-class CPU).

Shapes: tokens [L] int (foldlite.tokenizer codes); templates None or (distance [T, L, L] Å with NaN
where unaligned, residue [T, L, 3]) as foldlite.templates.features makes them; outputs as
onnx_export's docstring says, without the batch axis.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..config import ModelConfig

EXPORT_FORMAT = "3"  # written by onnx_export into the metadata; bump when inputs, outputs, metadata or the graph change
# (3: the graph of session 19, Gemm with bias on the pair maps and no Einsum for the pooled pair features)


class OnnxNetworkError(ValueError):
    """A file that is not a foldlite ONNX export of this format."""


@dataclass
class OnnxOutputs:
    """Logits (float32) of the heads, and the trunk's attention probabilities."""

    distogram: np.ndarray  # [L, L, K]
    ss3: np.ndarray  # [L, 3]
    ca_torsion: np.ndarray  # [L, 36]
    attention: np.ndarray  # [N*H, L, L]


def empty_templates(length: int) -> tuple[np.ndarray, np.ndarray]:
    """One template that covers no residue, which adds exactly zero to the pair map (TemplateEmbedding):
    what a fold without templates feeds the export. ([1, L, L] NaN distances, [1, L, 3] zero features)."""
    return np.full((1, length, length), np.nan, np.float32), np.zeros((1, length, 3), np.float32)


class OnnxNetwork:
    """An ONNX Runtime session on an exported network, `threads` intra-op threads (default: all cores)."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        import onnxruntime

        self.path = Path(path)
        options = onnxruntime.SessionOptions()
        self.threads = threads or os.cpu_count() or 1
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # the arena's memory pattern is planned for one input shape; every length is a new shape
        # (measured at 500 residues: 0.3 GB more peak memory with it on, and no faster)
        options.enable_mem_pattern = False
        # idle threads sleep instead of spinning: a fold shares the cores with its search and figure
        # processes, whose work the spinning would take CPU time from
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own classes for missing, damaged or foreign files
            raise OnnxNetworkError(f"{self.path}: not a readable ONNX model ({error})") from error
        metadata = self.session.get_modelmeta().custom_metadata_map
        if metadata.get("foldlite_export_format") != EXPORT_FORMAT:
            raise OnnxNetworkError(f"{self.path}: not a foldlite network export of format {EXPORT_FORMAT} "
                                   f"(its metadata: {metadata or 'none'})")
        self.weights_sha256 = metadata.get("weights_sha256", "")
        self.metadata = dict(metadata)  # text keys and values (onnx_export: the format, weights, caller's)

    @cached_property
    def config(self) -> ModelConfig:
        """The exported network's configuration (sizes, heads, bins), as the torch model has it."""
        try:
            return ModelConfig.from_dict(json.loads(self.metadata["config"]))
        except (KeyError, ValueError, TypeError) as error:
            raise OnnxNetworkError(f"{self.path}: the export does not record its network's configuration") from error

    def run(self, tokens: np.ndarray, templates: tuple[np.ndarray, np.ndarray] | None = None) -> OnnxOutputs:
        no_templates = templates is None or len(templates[0]) == 0
        distance, residue = empty_templates(len(tokens)) if no_templates else templates
        feeds = {"tokens": np.asarray(tokens, np.int64)[None],
                 "template_distance": np.asarray(distance, np.float32)[None],
                 "template_residue": np.asarray(residue, np.float32)[None]}
        distogram, ss3, ca_torsion, attention = self.session.run(None, feeds)
        return OnnxOutputs(distogram[0], ss3[0], ca_torsion[0], attention[0])


def softmax_in_place(logits: np.ndarray, threads: int = 1) -> np.ndarray:
    """Softmax over the last axis of a float32 array, computed in its own memory (a 2,000-residue
    distogram is 1 GB: no second copy). threads > 1: the leading axis is split among that many threads
    (numpy lets go of the GIL in these passes, and the cores the network used are free again); each
    row is still computed whole by one thread, so the numbers are the same (301 residues: ~28 -> ~17 ms
    on 2 cores)."""
    if threads < 2 or len(logits) < 2 * threads:
        return _softmax_rows(logits)
    bounds = np.linspace(0, len(logits), threads + 1).astype(int)
    with ThreadPoolExecutor(max_workers=threads) as helpers:
        list(helpers.map(lambda lo, hi: _softmax_rows(logits[lo:hi]), bounds[:-1], bounds[1:]))
    return logits


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    logits -= logits.max(axis=-1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=-1, keepdims=True)
    return logits

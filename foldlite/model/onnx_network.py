"""Run a network exported by foldlite.model.onnx_export with ONNX Runtime: numpy in, numpy out, and
no torch in the process (its import alone takes ~1.5 s on a 2-core laptop-class CPU).

Shapes: tokens [L] int (foldlite.tokenizer codes); templates None or (distance [T, L, L] Å with NaN
where unaligned, residue [T, L, 3]) as foldlite.templates.features makes them; outputs as
onnx_export's docstring says, without the batch axis.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EXPORT_FORMAT = "1"  # written by onnx_export into the file's metadata; bump when inputs or outputs change


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
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        # the arena's memory pattern is planned for one input shape; every length is a new shape
        # (measured at 500 residues: 0.3 GB more peak memory with it on, and no faster)
        options.enable_mem_pattern = False
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own classes for missing, damaged or foreign files
            raise OnnxNetworkError(f"{self.path}: not a readable ONNX model ({error})") from error
        metadata = self.session.get_modelmeta().custom_metadata_map
        if metadata.get("foldlite_export_format") != EXPORT_FORMAT:
            raise OnnxNetworkError(f"{self.path}: not a foldlite network export of format {EXPORT_FORMAT} "
                                   f"(its metadata: {metadata or 'none'})")
        self.weights_sha256 = metadata.get("weights_sha256", "")

    def run(self, tokens: np.ndarray, templates: tuple[np.ndarray, np.ndarray] | None = None) -> OnnxOutputs:
        no_templates = templates is None or len(templates[0]) == 0
        distance, residue = empty_templates(len(tokens)) if no_templates else templates
        feeds = {"tokens": np.asarray(tokens, np.int64)[None],
                 "template_distance": np.asarray(distance, np.float32)[None],
                 "template_residue": np.asarray(residue, np.float32)[None]}
        distogram, ss3, ca_torsion, attention = self.session.run(None, feeds)
        return OnnxOutputs(distogram[0], ss3[0], ca_torsion[0], attention[0])

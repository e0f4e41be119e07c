"""Contacts read off the trunk's attention maps alone: symmetrise, average-product correction (APC),
then a logistic regression with one weight per layer·head (the way protein language models are
probed for contacts).

    maps [N*H, L, L] attention probabilities -> apc(a + aᵀ) [N*H, L, L] -> probe -> P(contact) [L, L]

The probe's few dozen numbers ship beside the weights (foldlite/weights/attention_probe.npz, made by
tools/fit_attention_probe.py) with the sha256 of the weights file they were fitted for; a probe is
only meaningful for the trunk it was fitted on, so a Prediction from other weights is refused.
FOLDLITE_ATTENTION_PROBE=path uses another probe file (one fitted for your own weights).
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PROBE_NAME = "attention_probe.npz"
PROBE_ENV = "FOLDLITE_ATTENTION_PROBE"
PROBE_FORMAT = 1


class ProbeError(ValueError):
    """No usable attention probe: missing, damaged, or fitted for other weights."""


def symmetrized_apc(maps: np.ndarray) -> np.ndarray:
    """Attention maps [C, L, L] -> symmetrised and APC-corrected maps [C, L, L] float32.

    F = A + Aᵀ per map, then F_ij - F_i· F_·j / F_·· (row sum times column sum over the total, the
    background a residue pair would get from how much each residue attends or is attended overall).
    The result stays symmetric (F's row and column sums are equal)."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3 or maps.shape[1] != maps.shape[2]:
        raise ValueError(f"attention maps must have shape [C, L, L], got {maps.shape}")
    sym = maps + maps.transpose(0, 2, 1)  # [C, L, L]
    rows = sym.sum(axis=2, keepdims=True)  # [C, L, 1]
    cols = sym.sum(axis=1, keepdims=True)  # [C, 1, L]
    total = np.maximum(sym.sum(axis=(1, 2), keepdims=True), np.finfo(np.float32).tiny)  # [C, 1, 1]
    return sym - rows * cols / total


@dataclass
class AttentionProbe:
    """Logistic regression over standardised APC maps: P = sigmoid(Σ_c w_c (F_c - mean_c)/scale_c + b)."""

    weights: np.ndarray  # [C] one per layer·head (layer-major: c = layer * heads + head)
    bias: float
    mean: np.ndarray  # [C] feature mean on the training pairs
    scale: np.ndarray  # [C] feature standard deviation on the training pairs
    num_heads: int
    weights_sha256: str = ""  # the weights file the probe was fitted for ("" = any)
    provenance: dict = field(default_factory=dict)

    @property
    def num_features(self) -> int:
        return len(self.weights)

    def logits(self, maps: np.ndarray) -> np.ndarray:
        """Raw attention maps [C, L, L] -> contact logits [L, L] (symmetric)."""
        features = symmetrized_apc(maps)
        if features.shape[0] != self.num_features:
            raise ProbeError(f"the attention probe takes {self.num_features} maps (layers x heads), "
                             f"got {features.shape[0]}: it was fitted for another network")
        w = (self.weights / self.scale).astype(np.float32)  # [C]
        offset = self.bias - float(np.sum(self.weights * self.mean / self.scale))
        return np.einsum("c,cij->ij", w, features) + np.float32(offset)  # [L, L]

    def predict(self, maps: np.ndarray) -> np.ndarray:
        """Raw attention maps [C, L, L] -> P(Cβ-Cβ < 8 Å) [L, L], symmetric, in (0, 1)."""
        logits = self.logits(maps)
        return (0.5 * (1.0 + np.tanh(0.5 * logits))).astype(np.float32)  # sigmoid without overflow

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, format_version=np.int64(PROBE_FORMAT), weights=self.weights.astype(np.float64),
                 bias=np.float64(self.bias), mean=self.mean.astype(np.float64),
                 scale=self.scale.astype(np.float64), num_heads=np.int64(self.num_heads),
                 weights_sha256=np.array(self.weights_sha256), provenance=np.array(json.dumps(self.provenance)))
        return buffer.getvalue()

    def save(self, path: str | os.PathLike) -> None:
        from ..io.safe_io import atomic_write_bytes

        atomic_write_bytes(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AttentionProbe":
        path = Path(path)
        if not path.is_file():
            raise ProbeError(f"{path}: no attention probe file there")
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["format_version"]) != PROBE_FORMAT:
                    raise ProbeError(f"{path}: attention probe format {int(data['format_version'])}, "
                                     f"this foldlite reads format {PROBE_FORMAT}")
                probe = cls(weights=data["weights"], bias=float(data["bias"]), mean=data["mean"],
                            scale=data["scale"], num_heads=int(data["num_heads"]),
                            weights_sha256=str(data["weights_sha256"]),
                            provenance=json.loads(str(data["provenance"])))
        except ProbeError:
            raise
        except Exception as error:  # a damaged or foreign file fails in many ways (zip, key, json)
            raise ProbeError(f"{path}: not a readable attention probe ({type(error).__name__}: {error})") from None
        if not (probe.weights.shape == probe.mean.shape == probe.scale.shape) or np.any(probe.scale <= 0):
            raise ProbeError(f"{path}: inconsistent attention probe arrays")
        return probe


def default_probe_path() -> Path:
    """$FOLDLITE_ATTENTION_PROBE, else the probe shipped beside the weights."""
    if os.environ.get(PROBE_ENV):
        return Path(os.environ[PROBE_ENV])
    from importlib.resources import files

    return Path(str(files("foldlite") / "weights" / PROBE_NAME))


_CACHE: dict[tuple[str, float], AttentionProbe] = {}


def load_probe(path: str | os.PathLike | None = None) -> AttentionProbe:
    """The probe at `path` (default: default_probe_path()), read once per file version."""
    path = Path(path) if path is not None else default_probe_path()
    key = (str(path), path.stat().st_mtime if path.exists() else 0.0)
    if key not in _CACHE:
        _CACHE[key] = AttentionProbe.load(path)
    return _CACHE[key]


def attention_contacts(attention: np.ndarray | None, model_version: str = "",
                       probe: AttentionProbe | None = None) -> np.ndarray:
    """P(contact) [L, L] from a prediction's attention maps [N*H, L, L] (Prediction.attention_contacts).

    model_version: the prediction's "foldlite X weights <sha256[:12]>"; the probe must have been
    fitted for those weights (a probe with an empty weights_sha256 is taken for any)."""
    if attention is None:
        raise ProbeError("this prediction kept no attention maps (folded with keep_attention=False)")
    probe = probe or load_probe()
    fitted_for = probe.weights_sha256[:12]
    if fitted_for and fitted_for not in model_version:
        raise ProbeError(
            f"the attention probe was fitted for weights {fitted_for}, this prediction came from "
            f"{model_version or 'unknown weights'}; fit one for them with `python tools/fit_attention_probe.py "
            f"--weights W -o probe.npz` and set {PROBE_ENV}=probe.npz")
    return probe.predict(attention)

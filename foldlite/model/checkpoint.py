"""Saving and loading checkpoints and shipped weights: plain-type dicts read with weights_only=True."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from ..config import ModelConfig
from .network import FoldliteModel
# the file checks need no torch (a fold on ONNX Runtime runs them too); imported here for callers
from .weights_file import (WEIGHTS_NAME, WeightsError, check_zip_members, default_weights_path,  # noqa: F401
                           sha256_of, verify_checksum)

FORMAT_VERSION = 1


def save_checkpoint(payload: dict, path: str | os.PathLike) -> None:
    """torch.save to a temporary file in the same folder, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; weights are package data others must read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint dict safely (weights_only=True) and check its format version and checksum."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    verify_checksum(path)
    check_zip_members(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, pickle with foreign objects, random bytes ...
        raise WeightsError(
            f"{path}: not a readable foldlite weights file (format version {FORMAT_VERSION} expected): "
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}") from None
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise WeightsError(f"{path}: not a foldlite weights file (no config/state_dict; "
                           f"format version {FORMAT_VERSION} expected)")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise WeightsError(f"{path}: format version {version!r}, this foldlite reads version {FORMAT_VERSION}")
    return payload


def model_from_checkpoint(payload: dict, path: str | os.PathLike = "<checkpoint>") -> FoldliteModel:
    """Build the model its stored config describes and load the weights with strict keys."""
    try:
        config = ModelConfig.from_dict(payload["config"])
        model = FoldliteModel(config)
        model.load_state_dict(payload["state_dict"], strict=True)
    except (RuntimeError, ValueError, TypeError, KeyError) as error:
        raise WeightsError(f"{path}: weights do not match the model: {str(error).splitlines()[0]}") from None
    return model

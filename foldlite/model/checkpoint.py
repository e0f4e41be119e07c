"""Saving and loading checkpoints and shipped weights: plain-type dicts read with weights_only=True."""
from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import torch

from ..config import ModelConfig
from .network import FoldliteModel

FORMAT_VERSION = 1
WEIGHTS_NAME = "foldlite.pt"


class WeightsError(ValueError):
    """A weights file that is missing, truncated, foreign or of another format version."""


def default_weights_path() -> Path:
    from importlib.resources import files

    return Path(str(files("foldlite") / "weights" / WEIGHTS_NAME))


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file. Remembered per file version (path, inode, size, modification time in ns):
    loading weights checks the file against its .sha256 and then records its digest, and 20 MB take
    ~0.03 s to hash each time."""
    stat = os.stat(path)
    return _sha256(str(Path(path).resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _sha256(path: str, inode: int, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def verify_checksum(path: Path) -> None:
    """When PATH.sha256 sits beside the weights (as for the shipped ones), the file must match it."""
    sidecar = Path(str(path) + ".sha256")
    if not sidecar.exists():
        return
    expected = sidecar.read_text().split()[0] if sidecar.read_text().strip() else ""
    actual = sha256_of(path)
    if actual != expected:
        raise WeightsError(f"{path}: checksum mismatch (sha256 {actual[:16]}..., expected {expected[:16]}... "
                           f"from {sidecar.name}); the file is corrupted or was replaced: reinstall foldlite")


def check_zip_members(path: Path) -> None:
    """torch.load does not check the CRC-32 of the tensors it reads, so damage inside one would load as
    wrong weights; zipfile checks every member. A file that is not a zip is left to torch.load's error."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error):
        return
    if bad is not None:
        raise WeightsError(f"{path}: damaged weights file (CRC-32 check failed for {bad.rsplit('/', 1)[-1]})")


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

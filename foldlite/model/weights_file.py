"""The weights file itself, without torch: where the shipped one lies, its SHA-256, and the checks that
it is whole (its .sha256 sidecar, the CRC-32 of every zip member). foldlite.model.checkpoint reads it."""
from __future__ import annotations

import functools
import hashlib
import os
import zipfile
import zlib
from pathlib import Path

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

"""A structure library kept decompressed on disk with its search index, memory-mapped by later runs.

Loading the shipped library means inflating 27 MB of deflated arrays (~0.25 s) and building the
k-mer index of its 4.6 M residues (~0.2 s), in every process that searches it. The first process to
load a library writes its arrays and index as plain .npy files into a cache folder; later processes
map them (numpy's mmap_mode="r"): nothing to inflate or sort, and the pages are shared between
processes (`foldlite fold --workers N`, a server and its search process).

    library = mapped_library(path)   # what resolve_templates("auto" or a path) returns

The cache folder is foldlite.cache.cache_root() ($FOLDLITE_CACHE_DIR, else $XDG_CACHE_HOME/foldlite, else
~/.cache/foldlite); the shipped library takes 67 MB there, under libraries/. FOLDLITE_CACHE_DIR=off (or
empty) turns it off.
An entry belongs to one library file: its resolved path and its content, named by the CRC-32s that the
.npz holds for its arrays. A file rewritten on disk gets a new entry and the old one is removed. The
cache only ever speeds loading up: an entry that cannot be read or does not match is ignored (and
rebuilt), and a folder that cannot be written leaves the library loaded from its file as before, with
identical search results either way.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
import zipfile
from pathlib import Path

import numpy as np

from ..cache import CACHE_VARIABLE, cache_root  # noqa: F401 (CACHE_VARIABLE: for callers)
from . import search
from .library import Library, load_library

MAPPED_FORMAT = 1  # raise when the arrays below or the search index's layout change
# the library's own arrays (as load_library keeps them) and the search's derived ones
_ARRAYS = ("names", "lengths", "seq", "ca_delta", "cb_offset", "center",
           "kmer_starts", "kmer_positions", "residue_codes")


def _entry_folder(root: Path, path: Path) -> tuple[Path, str]:
    """(this file version's folder, the prefix every version of the same path shares). A version is
    named by the CRC-32 and size of every array in the .npz (from the zip's directory, read in ~1 ms):
    a file rewritten with other content gets another entry even with the same size and time stamp.
    Raises OSError or zipfile.BadZipFile for a file that is not there or not a zip."""
    resolved = path.resolve()
    prefix = hashlib.sha1(str(resolved).encode("utf-8")).hexdigest()[:16]
    with zipfile.ZipFile(resolved) as archive:
        members = sorted((info.filename, info.CRC, info.file_size) for info in archive.infolist())
    content = hashlib.sha1(repr(members).encode("utf-8")).hexdigest()[:16]
    return root / "libraries" / f"{prefix}-{content}-v{MAPPED_FORMAT}", prefix


def _search_index_key() -> dict:
    """What the stored index depends on besides the library: a change here invalidates entries."""
    return {"k": search.K, "alphabet": search.STANDARD_RESIDUES, "separator": search.SEPARATOR_CODE}


def open_mapped(path: str | os.PathLike, root: Path | None = None) -> Library | None:
    """The library at `path` from its cache entry, arrays memory-mapped and search index in place;
    None when there is no usable entry (no cache, none written yet, or one that does not match)."""
    root = cache_root() if root is None else root
    if root is None:
        return None
    try:
        folder, _ = _entry_folder(root, Path(path))
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != MAPPED_FORMAT or meta.get("index") != _search_index_key():
            return None
        arrays = {}
        for name in _ARRAYS:
            array = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            if [list(array.shape), str(array.dtype)] != meta["arrays"][name]:
                return None  # a truncated or foreign file
            arrays[name] = array
        residues = int(np.sum(arrays["lengths"]))
        if len(arrays["seq"]) != residues or len(arrays["residue_codes"]) != residues + len(arrays["lengths"]) + 1:
            return None
        library = Library(names=arrays["names"], lengths=arrays["lengths"], seq=arrays["seq"], ca=None,
                          ca_delta=arrays["ca_delta"], cb_offset=arrays["cb_offset"], center=arrays["center"],
                          source=meta["source"], path=Path(path), provenance=meta["provenance"])
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):  # missing, unreadable, damaged
        return None
    library.cache["kmer_index"] = (arrays["kmer_starts"], arrays["kmer_positions"])
    library.cache["residue_codes"] = arrays["residue_codes"]
    return library


def save_mapped(library: Library, root: Path | None = None) -> Path | None:
    """Write `library` (loaded from library.path) and its search index as a cache entry, replacing one
    that cannot be read; the entry's folder, or None when there is no cache or it cannot be written
    (nothing is left half-written: the entry appears by one rename, after its files)."""
    root = cache_root() if root is None else root
    if root is None or library.path is None or library._ca_delta is None:
        return None
    try:
        folder, prefix = _entry_folder(root, Path(library.path))
    except (OSError, zipfile.BadZipFile):  # the library file is gone or was replaced by another kind
        return None
    # unique per process, also where machines share the cache folder (a cluster's home directory)
    staging = folder.with_name(f"{folder.name}.tmp-{socket.gethostname()}-{os.getpid()}")
    if folder.is_dir():
        if open_mapped(library.path, root) is not None:
            return folder  # written meanwhile (another process)
        # one that cannot be read (damaged or foreign) is replaced: moved aside first, so that no
        # reader finds it half removed
        try:
            os.replace(folder, staging)
        except OSError:
            return None
        shutil.rmtree(staging, ignore_errors=True)
    starts, positions = search.kmer_index(library)
    arrays = {"names": library.names, "lengths": library.lengths, "seq": library.seq,
              "ca_delta": library._ca_delta, "cb_offset": library.cb_offset, "center": library.center,
              "kmer_starts": starts, "kmer_positions": positions, "residue_codes": search.library_residue_codes(library)}
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        for name in _ARRAYS:
            np.save(staging / f"{name}.npy", np.ascontiguousarray(arrays[name]), allow_pickle=False)
        meta = {"format": MAPPED_FORMAT, "index": _search_index_key(), "library": str(Path(library.path).resolve()),
                "source": library.source, "provenance": library.provenance,
                "arrays": {name: [list(arrays[name].shape), str(arrays[name].dtype)] for name in _ARRAYS}}
        (staging / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        os.replace(staging, folder)  # fails when another process wrote the entry first: theirs stays
    except OSError:  # read-only or full disk, or another process won the race
        shutil.rmtree(staging, ignore_errors=True)
        return folder if folder.is_dir() else None
    _remove_other_versions(folder, prefix)
    return folder


def _remove_other_versions(folder: Path, prefix: str) -> None:
    """Remove the entries of older versions of the same library file, and staging folders that a
    killed process left (an hour old: a live one is written in seconds)."""
    for other in folder.parent.glob(f"{prefix}-*"):
        try:
            if other == folder or (".tmp-" in other.name and time.time() - other.stat().st_mtime < 3600):
                continue
        except OSError:
            continue
        shutil.rmtree(other, ignore_errors=True)  # a process still mapping it keeps its pages (POSIX)


def mapped_library(path: str | os.PathLike) -> Library:
    """The library at `path`: mapped from its cache entry, else loaded from the file (LibraryError
    when missing or damaged, as load_library) and its entry written for next time."""
    library = open_mapped(path)
    if library is not None:
        return library
    library = load_library(path)
    save_mapped(library)
    return library

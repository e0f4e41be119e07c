"""Which structure library a fold searches: resolve_templates (fold()'s `templates` argument) and the
per-process cache behind it, which maps libraries from the disk cache (foldlite.templates.mapped)."""
from __future__ import annotations

import os
from pathlib import Path

from .library import Library, default_library_path, load_library
from .mapped import mapped_library

_LIBRARIES: dict[tuple, Library] = {}  # (resolved path, mtime, size) -> Library (with its search index)


def cached_library(path: str | os.PathLike) -> Library:
    """load_library with a per-process cache: the first search builds a k-mer index kept on the
    Library, so reusing it makes folding many sequences cheap. Across processes the library and its
    index are memory-mapped from a disk cache (foldlite.templates.mapped). A file replaced on disk
    (new mtime or size) is loaded again."""
    path = Path(path).expanduser()
    if not path.is_file():
        return load_library(path)  # raises LibraryError with the usual message
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _LIBRARIES:
        _LIBRARIES.clear()  # one library at a time: a full one holds ~80 MB with its index
        _LIBRARIES[key] = mapped_library(path)
    return _LIBRARIES[key]


def resolve_templates(templates) -> Library | None:
    """The `templates` argument of fold() -> a Library, or None for no templates.

    "auto": the shipped library (foldlite/weights/library.npz) when present, else None;
    None or "none": no templates; a path: that library (LibraryError if missing or broken);
    a Library: itself.
    """
    if templates is None or isinstance(templates, Library):
        return templates
    if isinstance(templates, str) and templates.lower() == "none":
        return None
    if isinstance(templates, str) and templates.lower() == "auto":
        path = default_library_path()
        return cached_library(path) if path.is_file() else None
    if isinstance(templates, (str, os.PathLike)):
        return cached_library(templates)
    raise TypeError(f"templates must be 'auto', 'none', None, a library path or a Library, "
                    f"got {type(templates).__name__}")

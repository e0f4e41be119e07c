"""The folder where foldlite keeps what later processes can reuse instead of rebuilding: the template
library decompressed with its search index (foldlite.templates.mapped) and the network exported to
ONNX (foldlite.model.onnx_cache).

The folder is $FOLDLITE_CACHE_DIR, else $XDG_CACHE_HOME/foldlite, else ~/.cache/foldlite;
FOLDLITE_CACHE_DIR=off (or empty) turns the cache off. Everything in it can be deleted at any time:
it is rebuilt on the next run that needs it.
"""
from __future__ import annotations

import os
from pathlib import Path

CACHE_VARIABLE = "FOLDLITE_CACHE_DIR"
_OFF = ("", "off", "none", "0")


def cache_root() -> Path | None:
    """The cache folder (module docstring), or None when it is turned off."""
    value = os.environ.get(CACHE_VARIABLE)
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = Path.home() / ".cache"
        except (RuntimeError, KeyError):  # no home directory to be found: no cache
            return None
    return Path(base) / "foldlite"

"""The library's disk cache (foldlite.templates.mapped): mapped arrays and index, the same searches,
and a cache that is stale, damaged, switched off or unwritable never changes what is loaded."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from foldlite.templates import mapped
from foldlite.templates.library import LibraryError, load_library
from foldlite.templates.search import find_templates, kmer_index, library_residue_codes, prefilter


def _copy(library_path, tmp_path):
    path = tmp_path / "lib.npz"
    shutil.copy(library_path, path)
    return path


def _mapped(array) -> bool:
    """Whether `array` is a read-only view of a memory-mapped file (np.load's mmap_mode="r")."""
    while array is not None and not isinstance(array, np.memmap):
        array = array.base if isinstance(array, np.ndarray) else None
    return array is not None


def _entries(root):
    return sorted(p.name for p in (root / "libraries").iterdir()) if (root / "libraries").is_dir() else []


def test_a_mapped_library_holds_the_same_arrays_and_finds_the_same_templates(library_path, chainset, tmp_path):
    root = tmp_path / "cache"
    path = _copy(library_path, tmp_path)
    assert mapped.open_mapped(path, root) is None  # nothing written yet
    loaded = load_library(path)
    folder = mapped.save_mapped(loaded, root)
    assert folder is not None and (folder / "meta.json").is_file()
    library = mapped.open_mapped(path, root)
    assert library is not None and library.path == path
    assert _mapped(library.seq) and _mapped(kmer_index(library)[1])  # from disk, not read into memory
    for name in ("names", "lengths", "offsets", "seq", "_ca_delta", "cb_offset", "center"):
        assert np.array_equal(getattr(library, name), getattr(loaded, name)), name
    assert (library.source, library.provenance) == (loaded.source, loaded.provenance)
    for mine, theirs in zip(kmer_index(library), kmer_index(loaded)):
        assert np.array_equal(mine, theirs)
    assert np.array_equal(library_residue_codes(library), library_residue_codes(loaded))
    assert [np.array_equal(library.ca(i), loaded.ca(i)) for i in (0, len(loaded) - 1)] == [True, True]
    for index in chainset.indices()[:6]:
        sequence, name = chainset.sequence(int(index)), str(chainset.names[int(index)])
        for mine, theirs in zip(prefilter(sequence, library), prefilter(sequence, loaded)):
            assert np.array_equal(mine, theirs)
        hits = find_templates(sequence, library, exclude_names=(name,))
        expected = find_templates(sequence, loaded, exclude_names=(name,))
        assert [(h.name, h.evalue, h.identity) for h in hits] == [(h.name, h.evalue, h.identity) for h in expected]


def test_mapped_library_writes_the_entry_once_and_replaces_it_when_the_file_changes(library_path, tmp_path,
                                                                                     monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv(mapped.CACHE_VARIABLE, str(root))
    path = _copy(library_path, tmp_path)
    first = mapped.mapped_library(path)
    assert not _mapped(first.seq) and len(_entries(root)) == 1  # loaded from the file, then saved
    assert _mapped(mapped.mapped_library(path).seq)
    # the file replaced by a smaller library: a new entry, the old one gone
    with np.load(library_path) as data:
        arrays = {k: data[k] for k in data.files}
    keep = 5
    rows = int(arrays["length"][:keep].sum())
    arrays.update(name=arrays["name"][:keep], length=arrays["length"][:keep], seq=arrays["seq"][:rows],
                  ca_delta=arrays["ca_delta"][:rows], cb_offset=arrays["cb_offset"][:rows],
                  center=arrays["center"][:keep])
    stat = path.stat()
    np.savez_compressed(path, **arrays)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same time stamp: the content tells
    replaced = mapped.mapped_library(path)
    assert len(replaced) == keep and len(_entries(root)) == 1
    assert len(mapped.mapped_library(path)) == keep


def test_a_damaged_or_foreign_entry_is_ignored_and_rebuilt(library_path, tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv(mapped.CACHE_VARIABLE, str(root))
    path = _copy(library_path, tmp_path)
    folder = mapped.save_mapped(load_library(path))
    (folder / "seq.npy").write_bytes((folder / "seq.npy").read_bytes()[:200])  # truncated
    assert mapped.open_mapped(path) is None
    shutil.rmtree(folder)
    folder = mapped.save_mapped(load_library(path))
    meta = (folder / "meta.json").read_text()
    (folder / "meta.json").write_text(meta.replace('"k": 3', '"k": 4'))  # an index made another way
    assert mapped.open_mapped(path) is None
    (folder / "meta.json").write_text("{not json")
    library = mapped.mapped_library(path)  # still loads, from the file
    assert len(library) == len(load_library(path))
    assert mapped.open_mapped(path) is not None  # and the damaged entry was written anew
    assert _entries(root) == [folder.name]


def test_the_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(mapped.CACHE_VARIABLE, str(tmp_path / "mine"))
    assert mapped.cache_root() == tmp_path / "mine"
    monkeypatch.delenv(mapped.CACHE_VARIABLE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mapped.cache_root() == tmp_path / "xdg" / "foldlite"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mapped.cache_root() == tmp_path / "home" / ".cache" / "foldlite"


def test_no_cache_when_switched_off_or_unwritable(library_path, tmp_path, monkeypatch):
    path = _copy(library_path, tmp_path)
    monkeypatch.setenv(mapped.CACHE_VARIABLE, "off")
    assert mapped.cache_root() is None
    assert len(mapped.mapped_library(path)) == len(load_library(path))
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv(mapped.CACHE_VARIABLE, str(blocked))
    assert mapped.save_mapped(load_library(path)) is None
    assert len(mapped.mapped_library(path)) == len(load_library(path))
    assert blocked.read_text().startswith("a file")  # left as it was


def test_a_missing_or_broken_library_file_still_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv(mapped.CACHE_VARIABLE, str(tmp_path / "cache"))
    with pytest.raises(LibraryError, match="library build"):
        mapped.mapped_library(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(LibraryError, match="not a structure library"):
        mapped.mapped_library(tmp_path / "text.npz")
    assert _entries(tmp_path / "cache") == []

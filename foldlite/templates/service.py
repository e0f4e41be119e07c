"""Template search in a process of its own, for `foldlite fold`.

Loading the shipped library (~0.3 s since session 8; ~0.8 s before), building its search indexes (~0.4 s) and searching a
300-residue query (~0.6 s) is numpy, Biopython and HMMER work; torch's import (~1.4 s) and the model
load are Python work in the folding process. In one process they take turns on the GIL, so a
single fold waited ~2 s for its templates after the model was ready; in two processes they run side
by side (on 2 cores, measured: templates ready as the model is, ~2 s after start instead of ~4 s).
While a record folds, the service already searches the next one, from its second search on only on
CPU time the fold leaves (the idle scheduling class).

    service = SearchService("auto")            # starts loading at once (a spawned process, no torch)
    service.describe()                         # "PATH (N chains)"; LibraryError if it cannot be read
    service.request(key, sequence)             # queue a search (answers come in request order)
    hits, library = service.result(key)        # hits against `library`: only the chains hit
    service.close()

The answer is find_templates' with its defaults (fold()'s), made by the same code as an in-process
search, so a fold gets the same templates either way. Only the chains hit travel back
(Library.subset_for, a few kB), with each Hit's index renumbered to match.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..background import BackgroundProcess, BackgroundProcessError

if TYPE_CHECKING:  # numpy-importing modules: a spawned search process starts before they are imported
    from .hits import Hit
    from .library import Library


class SearchServiceError(BackgroundProcessError):
    """The search process stopped answering (it died, or its pipe broke)."""


def _load(templates: str):
    """Setup in the search process: (library or None, (path, chains) or None)."""
    from .resolve import resolve_templates
    from .search import warm_up

    library = resolve_templates(templates)
    if library is not None:
        # HMMER's copy of the library (~0.1 s) is made by the first search's profile thread, beside its
        # k-mer search, not before it: the fold waits for that first answer
        warm_up(library, profile=False)
    return library, None if library is None else (str(library.path), len(library))


def _search(library: Library | None, sequence: str):
    """One request: fold()'s search, and only the chains hit (renumbered hits). Without a library
    ("auto" and none shipped) there is nothing to search; the fold's first request is sent before
    that is known."""
    if library is None:
        return [], None
    from .search import find_templates

    hits = find_templates(sequence, library)
    subset, hits = library.subset_for(hits)
    return hits, subset


class SearchService(BackgroundProcess):
    """A spawned process that holds the template library and searches it (module docstring)."""

    Stopped = SearchServiceError

    def __init__(self, templates: str):
        """templates: "auto" (the shipped library, if present) or a library path."""
        # nice 10 until its first answer: the first record's search is what the fold waits for
        # first, and it runs beside the fold's imports and model load, which leave it a core; then
        # the idle scheduling class (result below): a search for the next record takes only the CPU
        # time the fold leaves. At nice 10 it still preempted one of the fold's two network threads
        # now and then, and a parallel region waits for its slowest thread (AVX2-only AMD EPYC, 20
        # test chains with --no-plots: 35.7-40.5 s against 40.5-43.6 s in four alternating pairs).
        # forked, it starts with the search's modules (numpy among them) already imported here
        super().__init__(_load, _search, templates, nice=10, name="foldlite-search",
                         preload=("foldlite.templates.resolve", "foldlite.templates.search"))

    def setup_failed(self, message: str) -> Exception:
        from .library import LibraryError

        return LibraryError(message)  # a usage error, as when the library is read here

    def describe(self) -> str | None:
        """'PATH (N chains)' once the library is loaded, None when there is none ("auto" without a
        shipped library). Raises LibraryError when the library cannot be read."""
        from .library import library_label

        detail = self.ready()
        return None if detail is None else library_label(*detail)

    def result(self, key) -> tuple[list[Hit], Library | None]:
        """The hits for a requested key and the library they index (only the chains hit).
        Raises RuntimeError when that search failed, SearchServiceError when the process is gone."""
        try:
            return super().result(key)
        except SearchServiceError:
            raise
        except RuntimeError as error:  # this search failed in the process (the others go on)
            raise RuntimeError(f"template search: {error}") from None
        finally:
            self.become_idle()  # the first answer is in (see __init__)

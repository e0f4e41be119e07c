"""Template search in a process of its own, for `foldlite fold`.

Loading the shipped library (~0.8 s), building its search indexes (~0.4 s) and searching a
300-residue query (~0.6 s) is numpy, Biopython and HMMER work; torch's import (~1.4 s) and the model
load are Python work in the folding process. In one process they take turns on the GIL, so a
single fold waited ~2 s for its templates after the model was ready; in two processes they run side
by side (on 2 cores, measured: templates ready as the model is, ~2 s after start instead of ~4 s).
While a record folds, the service already searches the next one.

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

import multiprocessing

from .hits import Hit
from .library import Library, LibraryError, library_label


class SearchServiceError(RuntimeError):
    """The search process stopped answering (it died, or its pipe broke)."""


def _serve(connection, templates: str) -> None:
    """The search process: load the library, say so, then answer (key, sequence) until None."""
    import os

    if hasattr(os, "nice"):
        # below the folding process: a search for the next record takes only the CPU time that the fold
        # leaves (its torch threads otherwise lose time to it, measured ~+2 % on 100 records)
        os.nice(10)
    from .library import resolve_templates
    from .search import find_templates, warm_up

    try:
        library = resolve_templates(templates)
        if library is not None:
            warm_up(library)
    except Exception as error:  # noqa: BLE001 (the folding process reports it: a usage error)
        connection.send(("error", f"{error}"))
        return
    connection.send(("ready", None if library is None else (str(library.path), len(library))))
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the folding process is gone
            return
        if message is None:
            return
        key, sequence = message
        try:
            hits = find_templates(sequence, library)
            subset, hits = library.subset_for(hits)
            connection.send((key, hits, subset, None))
        except Exception as error:  # noqa: BLE001 (this record fails, the others go on)
            connection.send((key, None, None, f"template search: {type(error).__name__}: {error}"))


class SearchService:
    """A spawned process that holds the template library and searches it (module docstring)."""

    def __init__(self, templates: str):
        """templates: "auto" (the shipped library, if present) or a library path."""
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch, no OpenMP state
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, templates), name="foldlite-search",
                                        daemon=True)
        self._process.start()
        child.close()
        self._info = None  # ("ready", (path, chains) | None) once the library is loaded
        self._answers: dict = {}  # key -> (hits, library, error) received ahead of their turn
        self._pending: set = set()  # keys requested and not yet answered

    def _receive(self):
        try:
            return self._connection.recv()
        except (EOFError, OSError) as error:
            raise SearchServiceError(f"the template search process stopped ({error or 'no answer'})") from None

    def describe(self) -> str | None:
        """'PATH (N chains)' once the library is loaded, None when there is none ("auto" without a
        shipped library). Raises LibraryError when the library cannot be read."""
        if self._info is None:
            self._info = self._receive()
        kind, detail = self._info
        if kind == "error":
            raise LibraryError(detail)
        return None if detail is None else library_label(*detail)

    def request(self, key, sequence: str) -> None:
        """Queue a search for `sequence` (canonical); its answer is collected with result(key). A key
        already asked for is not asked again. A process that has already stopped (a library it could not
        read makes it say why and exit at once) is not an error here: describe() and result() report it."""
        if key in self._pending or key in self._answers:
            return
        try:
            self._connection.send((key, sequence))
        except (OSError, ValueError):  # broken pipe: its last words, if any, are still there to read
            pass
        self._pending.add(key)

    def result(self, key) -> tuple[list[Hit], Library | None]:
        """The hits for a requested key and the library they index (only the chains hit).
        Raises RuntimeError when that search failed, SearchServiceError when the process is gone."""
        if key not in self._pending and key not in self._answers:
            raise KeyError(f"no search was requested for {key!r}")
        self.describe()  # the "ready" message comes first
        while key not in self._answers:
            answer_key, hits, library, error = self._receive()
            self._answers[answer_key] = (hits, library, error)
            self._pending.discard(answer_key)
        hits, library, error = self._answers.pop(key)
        if error is not None:
            raise RuntimeError(error)
        return hits, library

    def close(self) -> None:
        """Stop the process: at once when searches are still queued (nobody will read them). Idempotent."""
        if self._connection.closed:
            return
        if not self._pending:
            try:
                self._connection.send(None)
            except (OSError, ValueError):
                pass
            self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
        self._connection.close()

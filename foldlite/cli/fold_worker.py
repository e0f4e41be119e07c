"""Folding one record of `foldlite fold` and writing its files: the same code for a serial run, each
--workers process and each Ray actor, so that all three write identical files.

A RecordFolder loads the model and the template library once (per process or actor) and then folds
RecordTasks, one call each; in a serial run the library stays in a search process of its own
(foldlite.templates.service), which sends back the hits and their chains, the same as a search here.
A task carries its file name, chosen by the parent in input order, so the names do not depend on which
worker finishes first. Files are written atomically, structure last
(foldlite.io.outputs), so any number of workers can write into one folder.
"""
from __future__ import annotations

import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FoldJob:
    """The run-wide options a worker needs (plain values: it travels to other processes and machines)."""

    out: str
    weights: str | None = None
    device: str = "cpu"
    templates: str = "auto"  # "auto", "none" or a library path
    seed: int = 0
    num_models: int = 1
    fmt: str = "pdb"
    plots: bool = True
    html: bool = False
    relax: bool = False
    overwrite: bool = False
    full_distogram: bool = False
    threads: int | None = None  # network threads per worker (None: the runtime's default, all cores)
    runtime: str = "auto"  # what runs the network: "auto", "onnx" or "torch" (foldlite.model.runtime)
    bf16: bool | None = None  # the run's precision, decided once by the parent (None: each decides)


@dataclass
class Preloaded:
    """What `foldlite serve` loaded once for all its runs (foldlite.cli.server)."""

    model: object  # foldlite.api.LoadedModel
    library: object  # foldlite.templates.library.Library, or None
    templates: str  # the server's --templates: "auto", "none" or a resolved library path
    search: object = None  # foldlite.templates.service.SearchService holding the library, or None
    runs: int = 0  # runs handed a view of the search process so far

    def run_search(self):
        """The search process as one run sees it (None: search in the server's process), its answers
        kept apart from other runs'. A search process that died is dropped here: runs then search
        in-process, as a `foldlite fold` whose search process died does."""
        self.search = _alive(self.search)
        if self.search is None:
            return None
        self.runs += 1
        return _RunSearch(self.search, self.runs)

    def check(self, job: FoldJob) -> None:
        """UsageError unless a run with `job`'s options folds as a `foldlite fold` process would."""
        from ..model.weights_file import sha256_of
        from .args import UsageError

        if job.weights is not None and Path(job.weights) != Path(self.model.path).resolve() \
                and (not Path(job.weights).is_file() or sha256_of(job.weights) != self.model.sha256):
            raise UsageError(f"the server folds with {self.model.path}, not {job.weights}: drop --weights "
                             f"or --server, or start a server with these weights")
        if job.templates != "none" and job.templates != self.templates:
            raise UsageError(f"the server searches the library {self.templates!r}, not {job.templates!r}: "
                             f"pass the same --templates (or none), or drop --server")
        if job.runtime not in ("auto", self.model.runtime):
            raise UsageError(f"the server runs its network on {self.model.runtime}, not {job.runtime}: "
                             f"drop --runtime or --server")
        if str(job.device) != str(self.model.device) and job.device != "auto":
            raise UsageError(f"the server folds on {self.model.device}, not {job.device}: drop --device or --server")


def _alive(helper):
    """A server's helper process (foldlite.background), or None once it has died (it is closed)."""
    if helper is not None and not helper.running:
        helper.close()
        return None
    return helper


class _RunSearch:
    """A server's search process (foldlite.templates.service) for one run: the run's keys (its task
    indices) are made unique to it, and close() forgets the answers the run did not read."""

    def __init__(self, service, run: int):
        self.service, self.run, self.keys = service, run, set()

    def describe(self):
        return self.service.describe()

    def request(self, key, sequence) -> None:
        self.keys.add(key)
        self.service.request((self.run, key), sequence)

    def result(self, key):
        return self.service.result((self.run, key))

    def close(self) -> None:
        for key in self.keys:
            self.service.forget((self.run, key))


@dataclass(frozen=True)
class RecordTask:
    """One record: its place in the input, id, file name (stem), canonical sequence and substitutions."""

    index: int
    id: str
    name: str
    sequence: str
    modified: tuple = ()


SKIPPED_DONE = "skipped (done; --overwrite to refold)"  # an earlier run wrote every file of the record


@dataclass
class RecordRow:
    """What happened to one record: the table's row and summary.tsv's line."""

    index: int
    id: str
    name: str
    length: int
    status: str  # "ok", "skipped (...)", "failed: ...", "relax failed: ... (unrelaxed model written)"
    plddt: float | None = None
    ptm: float | None = None
    seconds: float = 0.0  # record_seconds: with one model, the JSON's timings_s.total
    templates: tuple = ()  # "NAME NN%" of each template used, best first

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def failed(self) -> bool:
        return self.status.startswith(("failed", "relax"))

    @property
    def done_before(self) -> bool:
        """An earlier run folded it: nothing was folded now."""
        return self.status == SKIPPED_DONE


def record_names(name: str, num_models: int) -> list[str]:
    return [name] if num_models == 1 else [f"{name}_rank_{k}" for k in range(1, num_models + 1)]


def other_outputs_message(path: Path, record_id: str) -> str:
    return (f"{path} exists from a run with other options (--format/--num-models); refolding record "
            f"{record_id!r} would mix two predictions: pass --overwrite to replace its files, or choose another -o")


def _template_labels(templates: list[dict]) -> tuple:
    return tuple(f"{t['name']} {100 * t['identity']:.0f}%" for t in templates)


def _row_from_json(task: RecordTask, path: Path, status: str) -> RecordRow:
    """A finished record's row read back from its JSON (a rerun's summary still lists its scores)."""
    row = RecordRow(task.index, task.id, task.name, len(task.sequence), status)
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        row.plddt, row.ptm = summary.get("mean_plddt"), summary.get("ptm")
        row.templates = _template_labels(summary.get("templates") or [])
    except (OSError, ValueError, TypeError, KeyError):
        pass  # the structure file is what counts; a missing or odd JSON only leaves the scores empty
    return row


class RecordFolder:
    """Model and library loaded once; fold(task) folds one record, writes its files, returns its row."""

    def __init__(self, job: FoldJob, search=None, preloaded: Preloaded | None = None):
        """search: a foldlite.templates.service.SearchService that holds the library and searches it
        in its own process (a serial `foldlite fold`); None: the library is loaded here.
        preloaded: the model and library of a server (checked against job by Preloaded.check)."""
        from ..api import load_model
        from ..templates.library import library_label
        from ..templates.resolve import resolve_templates

        self.job = job
        self.out = Path(job.out)
        self.model = preloaded.model if preloaded is not None else \
            load_model(job.weights, job.device, job.runtime, threads=job.threads)
        if self.model.runtime == "torch":  # torch is imported only for a network that runs on it
            import torch

            from ..model.precision import use_bf16

            if job.threads:
                torch.set_num_threads(job.threads)
            if job.bf16 is not None:  # the same precision as every other worker of the run: identical files
                use_bf16(job.bf16)
        self.search = search
        if search is not None:
            self.library = None
            self.templates = search.describe()  # LibraryError (a usage error) if it cannot be read
        else:
            self.library = None if job.templates == "none" else \
                preloaded.library if preloaded is not None else resolve_templates(job.templates)
            self.templates = None if self.library is None else library_label(self.library.path, len(self.library))

    def request(self, task: RecordTask) -> None:
        """Start the search for a record that will be folded next, when a search process makes it (so
        that it runs while the record before it folds) and the record is not already done."""
        from ..io.outputs import record_state

        if self.search is None or self.templates is None:
            return
        if not self.job.overwrite and record_state(self.out, record_names(task.name, self.job.num_models),
                                                   self.job.fmt)[0] == "done":
            return  # it will be skipped
        self.search.request(task.index, task.sequence)  # once per task (the service ignores repeats)

    def _library_for(self, task: RecordTask):
        """(library to fold `task` with, seconds spent waiting for its search). With a search process:
        the chains it found, its hits handed to find_templates through remember_templates."""
        if self.search is None or self.templates is None:
            return self.library, 0.0
        from ..templates.resolve import resolve_templates
        from ..templates.search import remember_templates
        from ..templates.service import SearchServiceError

        tick = time.perf_counter()
        try:
            self.request(task)
            hits, library = self.search.result(task.index)
        except SearchServiceError as error:  # search here from now on (same library, same answers)
            print(f"foldlite fold: warning: {error}; searching in this process from now on", file=sys.stderr)
            self.search, self.library = None, resolve_templates(self.job.templates)
            return self.library, time.perf_counter() - tick
        remember_templates(task.sequence, library, hits)
        return library, time.perf_counter() - tick

    def fold(self, task: RecordTask) -> RecordRow:
        from ..api import ModifiedResidueWarning, fold_models
        from ..io.outputs import record_state, write_prediction

        job, names = self.job, record_names(task.name, self.job.num_models)
        row = RecordRow(task.index, task.id, task.name, len(task.sequence), "ok")
        state, existing = record_state(self.out, names, job.fmt)
        if state == "done" and not job.overwrite:
            return _row_from_json(task, self.out / f"{names[0]}.json", SKIPPED_DONE)
        if state == "other" and not job.overwrite:  # appeared since the input was checked (another run)
            row.status = f"failed: {other_outputs_message(existing, task.id)}"
            return row
        tick = time.perf_counter()
        try:
            library, waited = self._library_for(task)
            with warnings.catch_warnings():  # the CLI already said it, in its own words
                warnings.simplefilter("ignore", ModifiedResidueWarning)
                predictions = fold_models(task.sequence, model=self.model, seed=job.seed,
                                          num_models=job.num_models, record_id=task.id, keep_attention=False,
                                          templates=library, modified=task.modified, relax=job.relax)
            for prediction in predictions:  # the wait for the search process is this record's search time
                prediction.timings["templates"] += waited
                prediction.timings["total"] += waited
            best = predictions[0]
            row.plddt, row.ptm, row.templates = best.mean_plddt, best.ptm, _template_labels(best.templates)
            if not job.overwrite and record_state(self.out, names, job.fmt)[0] == "done":
                # another run into this folder finished the record meanwhile (same input, same files)
                row.status, row.seconds = "skipped (written meanwhile by another run)", time.perf_counter() - tick
                return row
            # rank 1 last: until its structure file exists the record reads as unfinished (record_state)
            for prediction, file_name in reversed(list(zip(predictions, names))):
                # an unfinished record's leftovers (no structure file yet) are ours to replace
                write_prediction(prediction, self.out, name=file_name, fmt=job.fmt, plots=job.plots,
                                 overwrite=True, extra={"file_stem": file_name}, html=job.html,
                                 full_distogram=job.full_distogram)
            row.seconds = record_seconds(predictions)
            failures = [p.relax_info["status"] for p in predictions if p.relax_info.get("status", "ok") != "ok"]
            if failures:  # the unrelaxed model was written; the record still counts as failed
                row.status = f"relax {failures[0]} (unrelaxed model written)"
        except MemoryError:
            row.status, row.seconds = "failed: out of memory", time.perf_counter() - tick
        except Exception as error:  # one bad record must not stop the others; it is reported and counted
            row.status, row.seconds = f"failed: {type(error).__name__}: {error}", time.perf_counter() - tick
        return row


def record_seconds(predictions) -> float:
    """A record's time: the search and the network once, then geometry, relaxation and files per model.
    For one model this is its JSON's timings_s.total (what the table shows)."""
    first = predictions[0].timings
    per_model = ("geometry", "relax", "outputs")
    return first.get("templates", 0.0) + first.get("network", 0.0) + sum(
        p.timings.get(key, 0.0) for p in predictions for key in per_model)


def default_threads(workers: int) -> int:
    """Torch threads per worker: the machine's cores divided among the workers (at least 1)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))

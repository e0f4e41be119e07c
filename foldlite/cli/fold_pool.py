"""Where `foldlite fold` folds its records: in this process, in N worker processes (--workers N) or
on a Ray cluster (--ray [ADDRESS]). Each yields RecordRows as records finish (any order).

Every worker is a foldlite.cli.fold_worker.RecordFolder: it loads the model and the library once and
folds many records, with `job.threads` torch threads (the cores divided among the workers). Workers
are started with "spawn" (a fresh interpreter, no OpenMP state inherited from a forked parent).
"""
from __future__ import annotations

import multiprocessing
import signal
from typing import Iterable, Iterator

from .args import UsageError
from .fold_worker import FoldJob, RecordFolder, RecordRow, RecordTask

_WORKER: RecordFolder | None = None  # the RecordFolder of this worker process


def serial_rows(folder: RecordFolder, tasks: Iterable[RecordTask]) -> Iterator[RecordRow]:
    """Fold here, one record after the other; the next record's template search is asked for before
    the current one folds (a search process then makes it meanwhile, see RecordFolder.request)."""
    tasks = iter(tasks)
    current = next(tasks, None)
    while current is not None:
        upcoming = next(tasks, None)
        folder.request(current)
        if upcoming is not None:
            folder.request(upcoming)
        yield folder.fold(current)
        current = upcoming


def _start_worker(job: FoldJob) -> None:
    global _WORKER
    # Ctrl-C reaches the whole process group: the parent reports it and ends the pool (its `with`
    # block terminates the workers), so a worker ignores it instead of printing its own traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER = RecordFolder(job)


def _fold_in_worker(task: RecordTask) -> RecordRow:
    return _WORKER.fold(task)


def process_rows(job: FoldJob, tasks: Iterable[RecordTask], workers: int) -> Iterator[RecordRow]:
    """Fold in `workers` processes; rows come back as records finish."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_start_worker, initargs=(job,)) as pool:
        # chunksize 1: records differ in length (and time) by 100x, so hand them out one at a time
        yield from pool.imap_unordered(_fold_in_worker, tasks, chunksize=1)


def ray_rows(job: FoldJob, tasks: Iterable[RecordTask], address: str | None,
             workers: int | None) -> Iterator[RecordRow]:
    """Fold on a Ray cluster: one actor (a RecordFolder) per `job.threads` CPUs of the cluster, or
    `workers` actors; each actor writes its records' files into job.out, which must be a folder
    every node sees (a shared file system). address None: RAY_ADDRESS, or a local Ray started here
    (or the one this process already runs)."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'foldlite[cluster]' (or pip install ray)") from None
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, include_dashboard=False, logging_level="ERROR")
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise UsageError(f"--ray {address or ''}: cannot reach or start a Ray cluster ({error})") from None
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        threads = job.threads or 1
        count = workers or max(1, cpus // threads)
        actor = ray.remote(num_cpus=threads)(RecordFolder)
        pool = ActorPool([actor.remote(job) for _ in range(count)])
        yield from pool.map_unordered(lambda folder, task: folder.fold.remote(task), tasks)
    finally:
        if started:
            ray.shutdown()

"""`foldlite serve`: the model and template library loaded once and kept warm, folding the runs of
`foldlite fold --server` one after another.

A `foldlite fold` process spends ~2-3 s before its first record is folded: Python and torch start,
the model and library load, and the first forward pass prepares its kernels. A server pays that once.
Each run it takes is folded by the same code as a serial `foldlite fold` with the same options
(foldlite.cli.fold), so it writes the same files, into the client's folders, with the client's
messages, progress and table on the client's own terminal (foldlite.cli.server_protocol).

Runs are taken one at a time, in the order they connect. Ctrl-C in a client stops its run (records
it finished stay complete, nothing is half-written); Ctrl-C or SIGTERM stops the server, after
stopping the run it was folding in the same way (while it loads: once the load is done).

    foldlite serve &                                  # ready in a few seconds
    foldlite fold proteins.fasta -o out/ --server     # the default socket; or --server PATH
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import stat
import sys
import threading
import time
from pathlib import Path

from .args import EXIT_OK, EXIT_USAGE, UsageError, _positive_int, run_command
from .server_protocol import SERVER_ENV, ProtocolError, receive_message, send_message, socket_path

# calmodulin (149 residues, 4 of its first 7 changed), folded once at start-up so that the first run finds
# the network, the search, the template restraints and the geometry warm: the library holds its
# relatives (kernels for other lengths are still prepared on first use)
WARM_UP_SEQUENCE = ("MSEKLTAEQIAEFKEAFSLFDKDGDGTITTKELGTVMRSLGQNPTEAELQDMINEVDADGNGTIDFPEFLTMMARK"
                    "MKDTDSEEEIREAFRVFDKDGNGYISAAELRHVMTNLGEKLTDEEVDEMIREADIDGDGQVNYEEFVQMMTAK")


def _add_serve(sub) -> None:
    p = sub.add_parser("serve", help="keep the model and library loaded; fold the runs of `foldlite fold --server`")
    p.add_argument("--socket", default=None, metavar="PATH",
                   help=f"Unix socket to listen on (default: ${SERVER_ENV}, else $XDG_RUNTIME_DIR/foldlite/"
                        f"server.sock, else /tmp/foldlite-UID/server.sock)")
    p.add_argument("--weights", default=None, help="weights file (default: the shipped model)")
    p.add_argument("--templates", default=None, metavar="PATH|none",
                   help="structure library (default: the shipped one when present); runs may still ask "
                        "for --templates none")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="torch threads (default: torch's)")


def _run_serve(args) -> int:
    from .fold import templates_option, weights_option
    from .fold_worker import FoldJob

    path = socket_path(args.socket)
    log = _logger(sys.stderr)
    job = FoldJob(out=os.getcwd(), device=args.device, templates=templates_option(args.templates),
                  threads=args.threads, weights=weights_option(args.weights))
    state = _ServerState()
    state.install_signal_handlers()  # before anything is loaded: SIGTERM then always cleans up
    with _listening(path) as listener:  # first: a second server at the same path fails at once
        preloaded = None
        try:
            state.loading = True
            try:
                preloaded = _load(job, log)
            finally:
                state.loading = False
            if not state.stopping:
                log(f"ready at {path}: fold with `foldlite fold IN.fasta -o OUT --server"
                    f"{'' if args.socket is None else ' ' + str(path)}`")
            while not state.stopping:
                connection, _ = listener.accept()
                with connection:
                    _serve_one(connection, preloaded, state, log)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM while loading or waiting for a run
            pass
        finally:
            if preloaded is not None and preloaded.search is not None:
                preloaded.search.close()
    log("stopped")
    return EXIT_OK


def _logger(stream):
    def log(message: str) -> None:
        print(f"foldlite serve: {time.strftime('%H:%M:%S')} {message}", file=stream, flush=True)
    return log


@contextlib.contextmanager
def _listening(path: Path):
    """A listening socket at `path` (mode 0600 in a folder of its owner), removed again at the end."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise UsageError(f"{path} exists and is not a socket; choose another --socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            path.unlink(missing_ok=True)  # left by a server that was killed
        else:
            raise UsageError(f"a foldlite server is already listening at {path}")
        finally:
            probe.close()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket file is born 0600: only its owner can connect
    try:
        listener.bind(str(path))
    except OSError as error:
        listener.close()
        raise UsageError(f"{path}: cannot listen there ({error.strerror or error})") from None
    finally:
        os.umask(old_umask)
    listener.listen(16)
    inode = path.stat().st_ino
    try:
        yield listener
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            if path.stat().st_ino == inode:  # still ours (not a newer server's)
                path.unlink()


def _load(job, log):
    """Model and library loaded, and one warm-up fold made."""
    from ..api import fold_models
    from ..io.figure_raster import prediction_png
    from ..templates.service import SearchService
    from .fold_worker import Preloaded, RecordFolder

    started = time.perf_counter()
    # the library also lives in a search process, as in a `foldlite fold` run: it searches a run's
    # next record while this one folds (the copy here folds the warm-up and stands in if it dies)
    search = SearchService(job.templates) if job.templates != "none" else None
    folder = RecordFolder(job)
    if folder.model.runtime == "torch":
        from ..model.precision import cpu_bf16_is_fast, use_bf16

        use_bf16(cpu_bf16_is_fast())  # decided once: every run folds with the same precision
    log(f"weights {folder.model.path} ({folder.model.sha256[:12]}), templates: {folder.templates or 'none'}")
    prediction = fold_models(WARM_UP_SEQUENCE, model=folder.model, templates=folder.library, keep_attention=False)[0]
    prediction_png(prediction)  # the figure's font loaded
    if search is not None:
        search.describe()  # its library loaded (a LibraryError here if it cannot be read)
        search.request(0, WARM_UP_SEQUENCE)
        search.result(0)  # its first search made
    log(f"loaded and warmed up in {time.perf_counter() - started:.1f} s")
    return Preloaded(model=folder.model, library=folder.library, templates=job.templates, search=search)


class _ServerState:
    """Whether a run is being folded, and whether the server was asked to stop."""

    def __init__(self):
        self.running = False
        self.stopping = False
        self.loading = False  # while True, a stop request waits for the load to end (see _stop)

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGUSR1, self._cancel_run)  # sent by a _CancelWatch
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)

    def _cancel_run(self, signum, frame):
        if self.running:  # late (the run already ended): nothing to stop
            raise KeyboardInterrupt

    def _stop(self, signum, frame):
        self.stopping = True
        # stops the run being folded, or the wait for the next one. Not while loading: raised inside an
        # import, the exception can surface as another one (numpy's C-level set-up once turned it into
        # "TypeError: expected a message argument" and the server exited 1); the load ends, then it stops
        if not self.loading:
            raise KeyboardInterrupt


class _CancelWatch:
    """While a run is folded, a thread waits for the client to send anything or to go away; then it
    interrupts the fold the way Ctrl-C interrupts a local one (SIGUSR1 -> KeyboardInterrupt)."""

    def __init__(self, connection: socket.socket, state: _ServerState):
        self.connection, self.state = connection, state
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self.state.running = True
        self.thread.start()
        return self

    def _watch(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.recv(64)
        if self.state.running:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)

    def __exit__(self, *exc):
        self.state.running = False
        return False

    def join(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)  # wakes the thread's recv
        self.thread.join()


def _serve_one(connection: socket.socket, preloaded, state: _ServerState, log) -> None:
    """Receive one run, fold it with the client's streams and working folder, answer its exit code."""
    from ..version import __version__

    try:
        request, fds = receive_message(connection, max_fds=2)
    except (ProtocolError, OSError) as error:
        log(f"dropped a connection: {error}")
        return
    if len(fds) != 2:
        for fd in fds:
            os.close(fd)
        log("dropped a request without the client's stdout and stderr")
        return
    started = time.perf_counter()
    stdout = open(fds[0], "w", encoding="utf-8", errors="replace", buffering=1)
    stderr = open(fds[1], "w", encoding="utf-8", errors="replace", buffering=1)
    here = os.getcwd()
    watch = _CancelWatch(connection, state)
    code = EXIT_USAGE
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), watch:
            # the run's own options are read inside run_command: a bad request is a usage error too
            code = run_command(argparse.Namespace(command="fold"), lambda _: _fold(request, __version__, preloaded))
    except KeyboardInterrupt:  # arrived between the fold and the end of the run: the run is complete
        pass
    except Exception as error:  # noqa: BLE001 (e.g. the client's stdout closed: this run fails, the server goes on)
        code = 1
        log(f"a run failed: {type(error).__name__}: {error}")
        with contextlib.suppress(Exception):
            print(f"foldlite fold: error: the server's run failed: {type(error).__name__}: {error}", file=stderr)
    finally:
        os.chdir(here)
        for stream in (stdout, stderr):
            with contextlib.suppress(OSError):
                stream.close()
    with contextlib.suppress(OSError):
        send_message(connection, {"exit": code})
    watch.join()
    options = request.get("args") if isinstance(request.get("args"), dict) else {}
    log(f"{request.get('cwd')}: fold {options.get('input') or '--sequence'} -> {options.get('out')}: "
        f"exit {code} in {time.perf_counter() - started:.1f} s")


def _request_args(request: dict, version: str) -> argparse.Namespace:
    options = request.get("args")
    if not isinstance(options, dict) or options.get("command") != "fold":
        raise UsageError("the server takes `foldlite fold` runs only")
    if request.get("version") != version:
        raise UsageError(f"the server runs foldlite {version} and this client {request.get('version')}: "
                         f"restart `foldlite serve` with this installation")
    return argparse.Namespace(**{**options, "server": None})


def _fold(request: dict, version: str, preloaded) -> int:
    from .fold import _fold_job, _run_fold

    args = _request_args(request, version)
    os.chdir(request.get("cwd") or ".")  # relative paths of the run are the client's
    if args.workers not in (None, 1) or args.ray is not None or args.threads is not None:
        raise UsageError("a server folds one record at a time with its own threads: drop --workers, "
                         "--ray and --threads, or drop --server")
    if args.templates is None:  # a run without --templates searches the server's library, as a run
        args.templates = preloaded.templates  # without --weights folds with the server's weights
    preloaded.check(_fold_job(args))
    return _run_fold(args, preloaded=preloaded)

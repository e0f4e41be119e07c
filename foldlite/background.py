"""A helper process beside `foldlite fold`'s folding process, niced below the fold, answering keyed
requests in the order they were asked.

It is forked where that is safe: on Linux, from a process that has no other thread yet (forking one
with thread pools can deadlock the child); the child then starts at once with the modules the
parent imported beforehand (`preload`), where a spawned one first starts an interpreter and imports
numpy and the rest itself (~0.3 s of a 2-core machine that the fold's own imports also need).
Elsewhere, or once the parent has threads, it is spawned: a fresh interpreter.

The template search uses it (foldlite.templates.service): on 2 cores the folding process imports its
modules and loads the model on one core, and its geometry and file writing leave a core idle; the
library load and search run there instead of before the network.

    helper = BackgroundProcess(setup, handle, argument, nice=10, name="foldlite-x", preload=("pkg.module",))
    detail = helper.ready()            # what setup said; setup_failed(message) raised if it failed
    helper.request(key, payload)       # queue work (a key already asked for is not asked again)
    answer = helper.result(key)        # handle(state, payload), or RuntimeError(its error)
    helper.close()

setup(argument) -> (state, detail) runs once in the helper; handle(state, payload) -> answer once per
request. Both must be module-level functions (they travel to the helper by name). A helper that dies
or whose pipe breaks raises `Stopped` (BackgroundProcessError) instead of hanging; a failed setup
raises what `setup_failed` makes of its message (a subclass chooses, e.g. a LibraryError).
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import sys


class BackgroundProcessError(RuntimeError):
    """The helper process stopped answering (it died, or its pipe broke)."""


def _serve(connection, setup, handle, argument, nice: int) -> None:
    """The helper: run setup, say how it went, then answer (key, payload) until None."""
    # Ctrl-C reaches the whole process group; the folding process reports it and stops its helpers
    # (close()), so a helper ignores it instead of printing a traceback of its own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice and hasattr(os, "nice"):
        os.nice(nice)  # below the folding process: it only takes the CPU time the fold leaves
    try:
        state, detail = setup(argument)
    except Exception as error:  # noqa: BLE001 (the folding process reports it, in its own words)
        connection.send(("error", f"{error}"))
        return
    connection.send(("ready", detail))
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the folding process is gone
            _leave()
        if message is None:
            _leave()
        key, payload = message
        try:
            connection.send((key, handle(state, payload), None))
        except Exception as error:  # noqa: BLE001 (this request fails, the others go on)
            connection.send((key, None, f"{type(error).__name__}: {error}"))


def run_when_idle(pid: int) -> bool:
    """Put process `pid` in the idle scheduling class; False where the OS has none or refuses."""
    if not hasattr(os, "SCHED_IDLE"):
        return False
    try:
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        return False
    return True


def _leave() -> None:
    """End the helper without the interpreter's teardown: with matplotlib or the library loaded it took
    ~0.2 s, which the folding process waited for in close() (it holds no files and nothing to flush
    but its streams)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0)


def start_method() -> str:
    """"fork" on Linux when this process has a single thread, else "spawn" (module docstring)."""
    if not sys.platform.startswith("linux"):
        return "spawn"
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            threads = next(int(line.split()[1]) for line in status if line.startswith("Threads:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return "spawn"
    return "fork" if threads == 1 else "spawn"


class BackgroundProcess:
    """A helper process with keyed requests (module docstring)."""

    Stopped = BackgroundProcessError  # what a dead helper raises (subclasses name their own)

    def __init__(self, setup, handle, argument=None, nice: int = 10, name: str = "foldlite-helper",
                 idle: bool = False, preload: tuple[str, ...] = ()):
        """idle: the helper only runs on CPU time no other process wants (Linux's SCHED_IDLE, set
        from here as soon as it is started; where that is missing or refused, `nice` alone).
        preload: modules imported here first when the helper is forked, so that it has them."""
        if start_method() == "fork":
            for module in preload:
                importlib.import_module(module)
        self.start_method = start_method()  # again: importing them may have started threads (OpenBLAS)
        context = multiprocessing.get_context(self.start_method)
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, setup, handle, argument, nice),
                                        name=name, daemon=True)
        self._process.start()
        self.idle = False
        if idle:
            self.become_idle()
        child.close()
        self.name = name
        self._ready = None  # ("ready", detail) or ("error", message), once received
        self._answers: dict = {}  # key -> (answer, error) received ahead of its turn
        self._pending: set = set()  # keys requested and not yet answered
        self._unwanted: set = set()  # pending keys whose answers nobody will read (forget)

    def _receive(self):
        try:
            return self._connection.recv()
        except (EOFError, OSError) as error:
            raise self.Stopped(f"the {self.name} process stopped ({error or 'no answer'})") from None

    def setup_failed(self, message: str) -> Exception:
        """The error that a failed setup raises in the folding process."""
        return RuntimeError(f"{self.name}: {message}")

    def ready(self):
        """What setup said, once it finished (waits for it); raises setup_failed(its message) when it
        failed (the helper then exits)."""
        if self._ready is None:
            self._ready = self._receive()
        kind, detail = self._ready
        if kind == "error":
            raise self.setup_failed(detail)
        return detail

    def request(self, key, payload) -> None:
        """Queue `payload` under `key`; collect its answer with result(key). A key already asked for is
        not asked again. A helper that has already stopped (a failed setup makes it exit at once) is no
        error here: ready() and result() report it."""
        if key in self._pending or key in self._answers:
            return
        try:
            self._connection.send((key, payload))
        except (OSError, ValueError):  # broken pipe: its last words, if any, are still there to read
            pass
        self._pending.add(key)

    def asked(self, key) -> bool:
        return key in self._pending or key in self._answers

    def result(self, key):
        """The answer for a requested key. RuntimeError when that request failed in the helper,
        `Stopped` when the helper is gone, setup_failed(...) when its setup failed."""
        if not self.asked(key):
            raise KeyError(f"nothing was requested under {key!r}")
        self.ready()  # its message comes first
        while key not in self._answers:
            answer_key, answer, error = self._receive()
            self._pending.discard(answer_key)
            if answer_key in self._unwanted:
                self._unwanted.discard(answer_key)
            else:
                self._answers[answer_key] = (answer, error)
        answer, error = self._answers.pop(key)
        if error is not None:
            raise RuntimeError(error)
        return answer

    @property
    def running(self) -> bool:
        return self._process.is_alive()

    def become_idle(self) -> None:
        """From now on the helper only runs on CPU time no other process wants (idle=True above)."""
        if not self.idle:
            self.idle = run_when_idle(self._process.pid)

    def forget(self, key) -> None:
        """Drop the answer for `key`, received or still to come (a long-lived helper, e.g. a server's,
        must not keep the answers of a run that stopped before reading them)."""
        self._answers.pop(key, None)
        if key in self._pending:
            self._unwanted.add(key)

    def close(self) -> None:
        """Stop the helper: at once when requests are still queued (nobody will read them). Idempotent."""
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

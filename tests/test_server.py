"""`foldlite serve` and `foldlite fold --server`: the same files as a local run, clear errors, Ctrl-C in
a client, a second server refused, SIGTERM stops the server and removes its socket."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from run_outputs import run_files

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the server listens on a Unix socket")

# one precision for the server and the local runs (a timing could decide either way): identical files
ENV = {**os.environ, "FOLDLITE_BF16": "0"}


def _foldlite(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "foldlite", *map(str, args)], env=ENV, capture_output=True,
                          text=True, timeout=timeout)


class _Server:
    """A `foldlite serve` subprocess, its stderr collected by a thread (a full pipe would block it)."""

    def __init__(self, *args):
        self.socket = Path(tempfile.mkdtemp(prefix="fl")) / "s.sock"  # short: a socket path has < 108 bytes
        self.process = subprocess.Popen([sys.executable, "-m", "foldlite", "serve", "--socket", str(self.socket),
                                         *map(str, args)], env=ENV, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(180):
            self.process.kill()
            pytest.fail("the server did not get ready:\n" + "".join(self.lines))

    def _read(self):
        for line in self.process.stderr:
            self.lines.append(line)
            if "ready at" in line:
                self.ready.set()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)


@pytest.fixture(scope="module")
def records(chainset):
    """Short sample chains: they find themselves in the sample library, so templates are used."""
    order = np.argsort(chainset.lengths)
    picks = [int(i) for i in order if 30 <= chainset.lengths[i] <= 70][:3]
    return {str(chainset.names[i]): chainset.sequence(i) for i in picks}


@pytest.fixture(scope="module")
def server(tiny_weights, library_path):
    server = _Server("--weights", tiny_weights, "--templates", library_path, "--threads", "1")
    yield server
    server.stop()


def _write_fasta(path: Path, records: dict) -> Path:
    path.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in records.items()))
    return path


@pytest.mark.parametrize("count, extra", [(1, []), (3, ["--no-plots"]),
                                          (1, ["--num-models", "2", "--format", "cif", "--html", "--no-plots"])])
def test_a_run_on_the_server_writes_the_same_files_as_a_local_run(server, tmp_path, records, tiny_weights,
                                                                  library_path, count, extra):
    fasta = _write_fasta(tmp_path / "in.fasta", dict(list(records.items())[:count]))
    options = ["--weights", tiny_weights, "--templates", library_path, *extra]
    local = _foldlite("fold", fasta, "-o", tmp_path / "local", *options, "--threads", "1")
    served = _foldlite("fold", fasta, "-o", tmp_path / "served", *options, "--server", server.socket)
    assert local.returncode == 0, local.stderr
    assert served.returncode == 0, served.stderr
    assert "templates:" in served.stderr and f"{count}/{count} folded" in served.stdout  # the client's own streams
    files = run_files(tmp_path / "served")
    assert files == run_files(tmp_path / "local")
    assert any(name.endswith(".png") for name in files) == ("--no-plots" not in extra)
    assert any(name.endswith(".html") for name in files) == ("--html" in extra)


def test_runs_relative_to_the_clients_folder_and_rerun_skips_finished_records(server, tmp_path, records):
    _write_fasta(tmp_path / "in.fasta", records)
    run = lambda: subprocess.run([sys.executable, "-m", "foldlite", "fold", "in.fasta", "-o", "out", "--no-plots",  # noqa: E731
                                  "--templates", "none", "--server", str(server.socket)], cwd=tmp_path, env=ENV,
                                 capture_output=True, text=True, timeout=300)
    first = run()
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.pdb")) == sorted(f"{name}.pdb" for name in records)
    again = run()
    assert again.returncode == 0 and again.stdout.count("skipped") == len(records)


@pytest.mark.parametrize("extra, message", [
    (["--workers", "2"], "drop --workers"),
    (["--weights", "elsewhere.pt"], "the server folds with"),
    (["--templates", "other_library.npz"], "the server searches the library"),
])
def test_options_the_server_cannot_honour_are_usage_errors(server, tmp_path, records, extra, message):
    fasta = _write_fasta(tmp_path / "in.fasta", dict(list(records.items())[:1]))
    result = _foldlite("fold", fasta, "-o", tmp_path / "out", *extra, "--server", server.socket)
    assert result.returncode == 2 and message in result.stderr, "".join(server.lines)
    assert not (tmp_path / "out").exists()


def test_bad_input_through_the_server_is_reported_to_the_client(server, tmp_path):
    result = _foldlite("fold", tmp_path / "missing.fasta", "-o", tmp_path / "out", "--server", server.socket)
    assert result.returncode == 2 and "missing.fasta" in result.stderr
    bad = tmp_path / "bad.fasta"
    bad.write_text(">x\nMKT1\n")
    result = _foldlite("fold", bad, "-o", tmp_path / "out", "--server", server.socket)
    assert result.returncode == 2 and "bad.fasta" in result.stderr
    assert not (tmp_path / "out").exists()


def test_another_version_or_a_bad_request_is_a_usage_error_and_the_server_goes_on(server, tmp_path):
    import socket

    from foldlite.cli.server_protocol import receive_message, send_message

    out, err = open(tmp_path / "out.txt", "w"), open(tmp_path / "err.txt", "w")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection, out, err:
        connection.connect(str(server.socket))
        send_message(connection, {"args": {"command": "fold"}, "cwd": str(tmp_path), "version": "0.0.0"},
                     fds=(out.fileno(), err.fileno()))
        reply, _ = receive_message(connection)
    assert reply == {"exit": 2}
    assert "restart `foldlite serve`" in (tmp_path / "err.txt").read_text()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection, open(tmp_path / "err.txt", "w") as err:
        connection.connect(str(server.socket))  # not a request at all: refused, and the server goes on
        send_message(connection, {"args": 5}, fds=(err.fileno(), err.fileno()))
        assert receive_message(connection)[0] == {"exit": 2}
    assert server.process.poll() is None


def test_without_a_server_the_client_says_how_to_start_one(tmp_path, records):
    fasta = _write_fasta(tmp_path / "in.fasta", dict(list(records.items())[:1]))
    result = _foldlite("fold", fasta, "-o", tmp_path / "out", "--server", tmp_path / "nobody.sock")
    assert result.returncode == 2 and "no foldlite server is listening" in result.stderr
    assert "foldlite serve" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_in_a_client_stops_its_run_and_the_server_takes_the_next(server, tmp_path, records):
    sequence = max(records.values(), key=len)
    fasta = _write_fasta(tmp_path / "many.fasta", {f"r{k:02d}": sequence for k in range(40)})
    out = tmp_path / "out"
    client = subprocess.Popen([sys.executable, "-m", "foldlite", "fold", str(fasta), "-o", str(out), "--no-plots",
                               "--server", str(server.socket)], env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(out.glob("*.pdb")) and time.monotonic() < deadline and client.poll() is None:
        time.sleep(0.05)
    client.send_signal(signal.SIGINT)
    _, stderr = client.communicate(timeout=120)
    assert client.returncode == 130 and "interrupted" in stderr, stderr
    assert "Traceback" not in stderr
    finished = list(out.glob("*.pdb"))
    assert 0 < len(finished) < 40
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # nothing half-written
    again = _foldlite("fold", fasta, "-o", out, "--no-plots", "--server", server.socket)
    assert again.returncode == 0, again.stderr
    assert len(list(out.glob("*.pdb"))) == 40 and server.process.poll() is None


def test_a_client_whose_output_is_gone_fails_alone_and_the_server_goes_on(server, tmp_path, records):
    fasta = _write_fasta(tmp_path / "in.fasta", dict(list(records.items())[:1]))
    client = subprocess.Popen([sys.executable, "-m", "foldlite", "fold", str(fasta), "-o", str(tmp_path / "a"),
                               "--no-plots", "--server", str(server.socket)], env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    client.stdout.close()  # like `foldlite fold ... | head -0`: the table has nowhere to go
    assert client.wait(120) != 0
    again = _foldlite("fold", fasta, "-o", tmp_path / "b", "--no-plots", "--server", server.socket)
    assert again.returncode == 0, again.stderr
    assert server.process.poll() is None


def test_a_second_server_on_the_same_socket_is_refused(server):
    result = _foldlite("serve", "--socket", server.socket, "--templates", "none")
    assert result.returncode == 2 and "already listening" in result.stderr
    assert server.socket.exists()


def test_sigterm_stops_the_server_and_removes_its_socket(tiny_weights, tmp_path):
    server = _Server("--weights", tiny_weights, "--templates", "none", "--threads", "1")
    assert oct(server.socket.stat().st_mode & 0o777) == oct(0o600)  # only its owner may connect
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(60) == 0
    assert not server.socket.exists()


@pytest.mark.parametrize("delay_s", [0.0, 0.4, 1.2])
def test_sigterm_while_the_server_loads_also_removes_its_socket(tiny_weights, delay_s):
    """At any moment of the load: raised inside an import (numpy's, once), the stop came out as another
    exception and the server exited 1, so a stop request while loading waits for the load to end."""
    path = Path(tempfile.mkdtemp(prefix="fl")) / "s.sock"
    process = subprocess.Popen([sys.executable, "-m", "foldlite", "serve", "--socket", str(path), "--weights",
                                tiny_weights, "--templates", "none"], env=ENV, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not path.exists() and time.monotonic() < deadline:  # bound before the model loads
        time.sleep(0.01)
    time.sleep(delay_s)  # into the imports and the model load
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert not path.exists() and "Traceback" not in stderr

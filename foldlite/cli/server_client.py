"""`foldlite fold --server`: hand the run to a running `foldlite serve` (foldlite.cli.server).

This side imports neither torch nor numpy, so the client process starts in ~0.1 s; the server,
which has the model and library loaded and warm, does the rest. See foldlite.cli.server_protocol.
"""
from __future__ import annotations

import os
import socket
import sys

from ..version import __version__
from .args import EXIT_INTERRUPTED, UsageError
from .server_protocol import CANCEL, ProtocolError, receive_message, send_message, socket_path


def fold_on_server(args) -> int:
    """Send the parsed `fold` options to the server at args.server (or the default socket) and return
    the exit code the run had there. UsageError when no server listens there."""
    path = socket_path(args.server)
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
        connection.close()
        raise UsageError(f"no foldlite server is listening at {path}: start one with `foldlite serve` "
                         f"(or drop --server to fold in this process)") from None
    except PermissionError:
        connection.close()
        raise UsageError(f"{path}: permission denied (a server's socket is open to its owner only)") from None
    options = {key: value for key, value in vars(args).items() if key != "server"}
    with connection:
        sys.stdout.flush()
        sys.stderr.flush()
        send_message(connection, {"args": options, "cwd": os.getcwd(), "version": __version__},
                     fds=(sys.stdout.fileno(), sys.stderr.fileno()))
        try:
            return _exit_code(connection)
        except KeyboardInterrupt:  # ask the server to stop this run as Ctrl-C stops a local one
            try:
                connection.sendall(CANCEL)
                return _exit_code(connection)  # it reports what it stopped; a second Ctrl-C leaves now
            except (KeyboardInterrupt, OSError):
                return EXIT_INTERRUPTED


def _exit_code(connection: socket.socket) -> int:
    try:
        reply, _ = receive_message(connection)
    except (ProtocolError, OSError) as error:
        print(f"foldlite fold: error: the server stopped before the run ended ({error}); records it "
              f"finished are complete, nothing is half-written", file=sys.stderr)
        return 1
    return int(reply.get("exit", 1))

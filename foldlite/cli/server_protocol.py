"""How `foldlite fold --server` talks to `foldlite serve`.

A Unix socket that only its owner may use (mode 0600 in a folder of mode 0700): the server writes
files for whoever connects, so nobody else may. The client sends one JSON line, {"args": the parsed
fold options, "cwd": its working folder}, with its stdout and stderr as file descriptors beside it
(SCM_RIGHTS): the server's messages, progress bar and table then go straight to the client's terminal
or files. The server answers one JSON line, {"exit": code}. Any byte the client sends before that
(or the client going away) asks the server to stop the fold, as Ctrl-C would.
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path

SERVER_ENV = "FOLDLITE_SERVER"  # socket path used when --server/--socket is given without one
CANCEL = b"cancel\n"
_MAX_MESSAGE = 16 * 1024 * 1024  # bytes; a request holds at most one --sequence of a few thousand letters


class ProtocolError(ConnectionError):
    """The other side closed the connection or sent something that is not a message."""


def default_socket_path() -> Path:
    """$FOLDLITE_SERVER, else $XDG_RUNTIME_DIR/foldlite/server.sock, else /tmp/foldlite-UID/server.sock."""
    if os.environ.get(SERVER_ENV):
        return Path(os.environ[SERVER_ENV]).expanduser()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(runtime) / "foldlite" if runtime else Path(tempfile.gettempdir()) / f"foldlite-{os.getuid()}"
    return folder / "server.sock"


def socket_path(given: str | None) -> Path:
    """The socket a command uses: `given`, or the default when it is empty."""
    return Path(given).expanduser() if given else default_socket_path()


def send_message(connection: socket.socket, message: dict, fds: tuple[int, ...] = ()) -> None:
    data = (json.dumps(message) + "\n").encode("utf-8")
    sent = socket.send_fds(connection, [data], list(fds)) if fds else 0
    if sent < len(data):  # (an empty send after a fast answer would meet a closed socket)
        connection.sendall(data[sent:])


def receive_message(connection: socket.socket, max_fds: int = 0) -> tuple[dict, list[int]]:
    """One JSON line and the file descriptors that came with it (at most max_fds)."""
    data, fds = b"", []
    while not data.endswith(b"\n"):
        if max_fds and not data:  # descriptors travel with the first bytes
            chunk, fds, _, _ = socket.recv_fds(connection, 65536, max_fds)
        else:
            chunk = connection.recv(65536)
        if not chunk:
            for fd in fds:
                os.close(fd)
            raise ProtocolError("the connection closed before a whole message arrived")
        data += chunk
        if len(data) > _MAX_MESSAGE:
            raise ProtocolError(f"a message longer than {_MAX_MESSAGE} bytes")
    try:
        message = json.loads(data)
    except ValueError as error:
        raise ProtocolError(f"not a JSON message: {error}") from None
    if not isinstance(message, dict):
        raise ProtocolError("not a JSON object")
    return message, fds

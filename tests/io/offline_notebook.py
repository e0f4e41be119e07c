"""Execute a notebook with nbclient, talking to the kernel over Unix sockets instead of TCP.

    python tests/io/offline_notebook.py IN.ipynb OUT.ipynb      # run from the folder the cells may write to

The test runs this inside a network namespace of its own (`unshare --net`), where not even loopback is
up: ZeroMQ's ipc transport needs no network at all, so the notebook really runs offline.
"""
from __future__ import annotations

import os
import sys
import tempfile

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient


def main(source: str, target: str) -> int:
    notebook = nbformat.read(source, as_version=4)
    with tempfile.TemporaryDirectory() as sockets:
        manager = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "kernel"))
        client = NotebookClient(notebook, km=manager, timeout=600,
                                resources={"metadata": {"path": os.getcwd()}})
        client.execute()
    nbformat.write(notebook, target)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

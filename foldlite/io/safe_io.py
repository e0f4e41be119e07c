"""Safe file output: atomic writes and filesystem-safe names derived from untrusted record ids."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path

MAX_NAME_LENGTH = 100
_HASH_LENGTH = 8
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Names Windows refuses whatever the extension; avoiding them keeps outputs portable.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
             *(f"lpt{i}" for i in range(1, 10))}


def _current_umask() -> int:
    # os.umask can only be read by setting it; do it once at import, before any threads exist.
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the complete new one.

    The data goes to a temporary file in the same directory (same filesystem, so the final
    ``os.replace`` is atomic); the temporary file is removed if anything fails. Its name carries the
    writer's process id, so files left by a killed process can be told from those still being written
    (``remove_stale_temporaries``).
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:50]}.{os.getpid()}.",
                                    suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates the file 0600; give it the permissions a plain open() would have.
        os.chmod(tmp_name, 0o666 & ~_UMASK)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Atomically write ``text`` (newlines written exactly as given, no platform translation)."""
    atomic_write_bytes(path, text.encode(encoding))


# ".<name>.<pid>.<random>.tmp", as atomic_write_bytes names its temporary files
_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")


def _process_running(pid: int) -> bool:
    if os.name != "posix":  # no cheap, harmless liveness check: treat every writer as running
        return True
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of atomic writes whose process is gone (a run killed with SIGKILL
    cannot clean up after itself); files of writers still running are left alone. Returns what went."""
    directory = Path(directory)
    removed = []
    if not directory.is_dir():
        return removed
    for path in directory.iterdir():
        match = _TEMPORARY.match(path.name)
        if match and int(match.group(1)) != os.getpid() and not _process_running(int(match.group(1))):
            try:
                path.unlink()
                removed.append(path)
            except FileNotFoundError:  # another run cleaned it first
                pass
    return removed


def _short_hash(text: str) -> str:
    # surrogatepass: record ids decoded with errors="surrogateescape" must still hash.
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LENGTH]


def safe_filename(record_id: str, used: set) -> str:
    """Turn an arbitrary record id into a unique, filesystem-safe basename (no extension).

    The result uses only ASCII letters, digits and ``._-``, never starts with ``.`` or ``-``,
    is at most ``MAX_NAME_LENGTH`` characters, and is not a Windows device name. When the id had
    to be changed or truncated, a short hash of the original id is appended so that different ids
    (``a/b`` and ``a_b``) stay different. Uniqueness is case-insensitive, because macOS and
    Windows filesystems are: ``used`` holds the lower-cased names already handed out, and the
    returned name is added to it (keep passing the same set for one output directory).
    """
    record_id = str(record_id)
    # Decompose accented letters so "café" becomes "cafe" rather than "caf_".
    ascii_form = unicodedata.normalize("NFKD", record_id).encode("ascii", "ignore").decode("ascii")
    name = _UNSAFE.sub("_", ascii_form).lstrip(".-").rstrip(".")
    changed = name != record_id
    if not name:
        name, changed = "record", True
    if name.split(".")[0].lower() in _RESERVED:
        name, changed = f"_{name}", True
    limit = MAX_NAME_LENGTH - (_HASH_LENGTH + 1)
    if changed or len(name) > MAX_NAME_LENGTH:
        name = f"{name[:limit].rstrip('.')}_{_short_hash(record_id)}"
    if name.lower() in used:
        # Same name after cleaning (or differing only in case): the hash of the original id
        # separates them; a counter handles the (rare) case where that is taken as well.
        base = name if changed else f"{name[:limit].rstrip('.')}_{_short_hash(record_id)}"
        name, counter = base, 2
        while name.lower() in used:
            suffix = f"_{counter}"
            name = f"{base[:MAX_NAME_LENGTH - len(suffix)]}{suffix}"
            counter += 1
    used.add(name.lower())
    return name

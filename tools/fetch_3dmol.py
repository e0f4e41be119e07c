"""Fetch the 3Dmol.js build that the installed py3Dmol expects, into foldlite/assets/3dmol/.

    python tools/fetch_3dmol.py            # version from the installed py3Dmol
    python tools/fetch_3dmol.py --version 2.5.5

py3Dmol only writes JavaScript calls; the library itself it loads from a CDN at display time, which
fails offline. foldlite ships the same build as package data and inlines it (foldlite.io.viz). This
script is the only way those files are made: it asks npm (the ordinary client, with its own registry
settings) for the published `3dmol` package, checks the tarball against the integrity hash npm
reports, and copies the minified build and its licence files unchanged. SOURCE.json records the
version, npm's integrity hash and the SHA-256 of every file, and tests check the shipped files
against it, so a hand edit is caught.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import inspect
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "foldlite" / "assets" / "3dmol"
PACKAGE = "3dmol"
# tarball member -> shipped file name: the build py3Dmol loads, the package's BSD-3-Clause licence,
# and the licence comments that the minified build points to
MEMBERS = {
    "package/build/3Dmol-min.js": "3Dmol-min.js",
    "package/LICENSE": "LICENSE",
    "package/build/3Dmol-min.js.LICENSE.txt": "3Dmol-min.js.LICENSE.txt",
}


def expected_version() -> str:
    """The 3Dmol.js version in the installed py3Dmol's default script address (js=...@X.Y.Z/...)."""
    import py3Dmol

    default = inspect.signature(py3Dmol.view.__init__).parameters["js"].default
    match = re.search(r"3dmol@(\d+\.\d+\.\d+)", default, re.IGNORECASE)
    if match is None:
        raise SystemExit(f"cannot read the 3Dmol.js version from py3Dmol's default js={default!r}; "
                         "pass --version")
    return match.group(1)


def npm_pack(version: str, folder: Path) -> tuple[Path, str]:
    """Download PACKAGE@version with `npm pack`; return (tarball, npm's integrity string)."""
    result = subprocess.run(["npm", "pack", f"{PACKAGE}@{version}", "--json", "--pack-destination",
                             str(folder)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"npm pack {PACKAGE}@{version} failed:\n{result.stderr[-2000:]}")
    info = json.loads(result.stdout)[0]
    if info["version"] != version:
        raise SystemExit(f"npm returned {PACKAGE}@{info['version']}, not {version}")
    return folder / info["filename"], info["integrity"]


def check_integrity(tarball: Path, integrity: str) -> None:
    """Subresource-integrity check ('sha512-<base64>') of the downloaded tarball."""
    algorithm, _, expected = integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if digest != expected:
        raise SystemExit(f"{tarball.name}: {algorithm} does not match npm's integrity {integrity}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=None, help="3Dmol.js version (default: what py3Dmol expects)")
    args = parser.parse_args(argv)
    version = args.version or expected_version()
    DEST.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tarball, integrity = npm_pack(version, Path(tmp))
        check_integrity(tarball, integrity)
        files = {}
        with tarfile.open(tarball, "r:gz") as archive:
            for member, name in MEMBERS.items():
                data = archive.extractfile(member).read()
                (DEST / name).write_bytes(data)
                files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    source = {"package": PACKAGE, "version": version, "npm_integrity": integrity,
              "license": "BSD-3-Clause", "fetched_by": "tools/fetch_3dmol.py", "files": files}
    (DEST / "SOURCE.json").write_text(json.dumps(source, indent=1) + "\n")
    for name, meta in files.items():
        print(f"{DEST.relative_to(ROOT) / name}: {meta['bytes']:,} bytes")
    print(f"{PACKAGE}@{version} ({integrity[:20]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

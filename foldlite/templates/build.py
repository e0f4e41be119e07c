"""Building structure libraries (the format is described in foldlite.templates.library): from a
chain set (pdb_chains.npz format, foldlite.data.chains) or from a folder of PDB/mmCIF files."""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..geometry.backbone import ideal_cb
from ..io.safe_io import atomic_write_bytes
from ..progress import track
from .library import _CA_LIMIT, LIBRARY_FORMAT, MIN_LENGTH, CA_UNIT, CB_UNIT, LibraryError, _is_npz


@dataclass
class LibraryReport:
    """What build_library wrote and what it skipped (with reasons)."""

    output_path: str
    source: str
    chains: int = 0
    residues: int = 0
    size_bytes: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file or file chain, reason)

    def format_report(self) -> str:
        lines = [f"wrote {self.chains} chains ({self.residues} residues, {self.size_bytes / 1e6:.1f} MB) "
                 f"from {self.source} to {self.output_path}"]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)}:")
            lines += [f"  {what}: {why}" for what, why in self.skipped[:50]]
            if len(self.skipped) > 50:
                lines.append(f"  ... and {len(self.skipped) - 50} more")
        return "\n".join(lines)


def _encode(ca: np.ndarray, cb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cα, Cβ [L, 3] Å (centred) -> (Cα int16 [L, 3] in CA_UNIT, Cβ - Cα int8 [L, 3] in CB_UNIT)."""
    ca_int = np.rint(ca / CA_UNIT).astype(np.int16)
    # offset from the *rounded* Cα, so Cβ's only error is the offset's own rounding (<= 0.025 Å per axis)
    offset = np.rint((cb - ca_int * CA_UNIT) / CB_UNIT)
    return ca_int, np.clip(offset, -127, 127).astype(np.int8)


def _from_chainset(path: Path, split: str | None, report: LibraryReport, show_progress: bool = False):
    """Yield (name, sequence bytes [L] uint8, Cα [L, 3], Cβ [L, 3], centre [3]) from a chain set."""
    from ..data.chains import ChainSet, ChainSetError

    if not _is_npz(path):
        raise LibraryError(f"{path}: not a chain-set .npz (nor a folder of structure files)")
    try:
        chainset = ChainSet(path)
        indices = chainset.indices(split)
    except ChainSetError as error:  # already names the file
        raise LibraryError(str(error)) from None
    except (OSError, ValueError, EOFError) as error:  # not an .npz, not a chain set, unknown split
        raise LibraryError(f"{path}: cannot use it as a chain set ({error})") from None
    for index in track(indices, desc="library build", unit="chain", enabled=show_progress):
        lo, hi = int(chainset.offsets[index]), int(chainset.offsets[index] + chainset.lengths[index])
        name = str(chainset.names[index])
        if hi - lo < MIN_LENGTH:
            report.skipped.append((name, f"too short ({hi - lo} residues < {MIN_LENGTH})"))
            continue
        xyz = chainset.xyz[lo:hi].astype(np.float64) / 100.0  # [L, 4, 3] Å, already centred
        cb = ideal_cb(xyz[:, 0], xyz[:, 1], xyz[:, 2])
        yield name, chainset.seq[lo:hi], xyz[:, 1], cb, chainset.center[index]


def _from_folder(folder: Path, report: LibraryReport, show_progress: bool = False):
    """Same as _from_chainset, for every protein chain of every PDB/mmCIF file in a folder."""
    from ..data.build import _is_structure_name, _structure_files
    from ..io.pdb import STRUCTURE_SUFFIXES, StructureFileError, read_chains

    for path in track(_structure_files(folder), desc="library build", unit="file", enabled=show_progress):
        if not _is_structure_name(path):
            report.skipped.append((path.name, f"not a structure file (expected {', '.join(STRUCTURE_SUFFIXES)}, "
                                              "optionally .gz)"))
            continue
        try:
            chains = read_chains(path)
        except (StructureFileError, OSError, UnicodeDecodeError) as error:
            report.skipped.append((path.name, str(error).removeprefix(f"{path}: ")))
            continue
        if not chains:
            report.skipped.append((path.name, "no protein chain"))
        for chain in chains:
            label = f"{path.name} chain {chain.chain_id}"
            if len(chain) < MIN_LENGTH:
                report.skipped.append((label, f"too short ({len(chain)} residues < {MIN_LENGTH})"))
                continue
            center = chain.ca.mean(axis=0)
            ca = chain.ca - center
            if np.abs(ca).max() > _CA_LIMIT:
                report.skipped.append((label, f"coordinates extend beyond {_CA_LIMIT:.0f} Å of the chain centre"))
                continue
            n, c = chain.coords[:, 0] - center, chain.coords[:, 2] - center
            seq = np.frombuffer(chain.sequence.encode("ascii"), dtype=np.uint8)
            yield f"{chain.name}_{chain.chain_id}", seq, ca, ideal_cb(n, ca, c), center


def _provenance(command: str | None, source: str, split: str | None) -> dict:
    """What a library records about its making: command, date, foldlite version, source, split."""
    from datetime import datetime, timezone
    from importlib import metadata

    try:
        version = metadata.version("foldlite")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {"command": command, "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "foldlite": version, "source": source, "split": split or "all"}


def build_library(source: str | os.PathLike, output_path: str | os.PathLike,
                  split: str | None = None, command: str | None = None,
                  show_progress: bool = False) -> LibraryReport:
    """Write a structure library from a chain-set .npz (optionally one split) or a folder of
    PDB/mmCIF files (every protein chain of the first model; unusable files are skipped with a
    reason in the report). The file is written atomically. Raises LibraryError when nothing is
    usable (nothing is written). command: how it was built (the CLI passes its command line), kept
    in the library's provenance so that the file can be rebuilt. show_progress: a bar (or lines) on
    stderr (foldlite.progress)."""
    source = Path(source)
    report = LibraryReport(output_path=str(output_path), source=str(source))
    if source.is_dir():
        if split is not None:
            raise LibraryError(f"{source}: --split only applies to a chain-set .npz, not a folder")
        chains = _from_folder(source, report, show_progress)
    elif source.is_file():
        report.source = f"{source} ({split or 'all'} chains)"
        chains = _from_chainset(source, split, report, show_progress)
    else:
        raise LibraryError(f"{source}: no such chain set or folder")

    names, lengths, seqs, cas, cbs, centers = [], [], [], [], [], []
    for name, seq, ca, cb, center in chains:
        ca_int, cb_offset = _encode(ca, cb)
        delta = ca_int.copy()
        # int16 steps may wrap around across a chain break far from the centre; decoding sums in
        # int64 and casts back to int16, i.e. works modulo 2^16, so the result is still exact
        delta[1:] -= ca_int[:-1]
        names.append(name)
        lengths.append(len(seq))
        seqs.append(seq)
        cas.append(delta)
        cbs.append(cb_offset)
        centers.append(center)
    if not names:
        first = f"; first: {report.skipped[0][0]}: {report.skipped[0][1]}" if report.skipped else ""
        raise LibraryError(f"{source}: no usable protein chains{first}")
    arrays = {
        "format": np.array(LIBRARY_FORMAT),
        "name": np.array(names, dtype=str),
        "length": np.array(lengths, dtype=np.int32),
        "seq": np.concatenate(seqs).astype(np.uint8),
        "ca_delta": np.concatenate(cas).astype(np.int16),
        "cb_offset": np.concatenate(cbs).astype(np.int8),
        "center": np.array(centers, dtype=np.float32),
        "source": np.array(report.source),
        "provenance": np.array(json.dumps(_provenance(command, report.source, split))),
    }
    buffer = io.BytesIO()  # np.savez would append ".npz" to a path; write the exact name
    np.savez_compressed(buffer, **arrays)
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)  # the CLI checked -o before the work
    atomic_write_bytes(output_path, buffer.getvalue())
    report.chains, report.residues = len(names), int(sum(lengths))
    report.size_bytes = len(buffer.getvalue())
    return report

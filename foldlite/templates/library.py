"""Structure library: sequences and Cα/Cβ traces of known structures, for template search.

A library is one compressed .npz (no pickle), built from a chain set (pdb_chains.npz format, see
foldlite.chains) or from a folder of PDB/mmCIF files:

| key | dtype, shape | meaning |
|---|---|---|
| `format` | int, () | LIBRARY_FORMAT |
| `name` | str, (C,) | chain names (`1ABC_A`) |
| `length` | int32, (C,) | residues per chain; chain i is rows offset[i]:offset[i]+length[i] |
| `seq` | uint8, (R,) | one-letter codes (ASCII) |
| `ca_delta` | int16, (R, 3) | Cα in CA_UNIT (0.1 Å) relative to the chain centre, as steps (*) |
| `cb_offset` | int8, (R, 3) | ideal Cβ (virtual for Gly) minus the stored Cα, in CB_UNIT (0.05 Å) |
| `center` | float32, (C, 3) | chain centre in Å (absolute Cα = center + Cα) |
| `source` | str, () | what the library was built from (and which split) |

(*) each residue stores its step from the previous one, the first residue of a chain its position;
steps are small numbers, which makes the file compress to about 70 % of storing positions.

The train split of pdb_chains.npz (18,946 chains of >= 10 residues, 4.1 M residues) takes 24.2 MB
and ~1 s to load. In memory it stays integer (~41 MB; the search index adds ~36 MB); floats are made
per chain.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..geometry.backbone import ideal_cb
from ..io.safe_io import atomic_write_bytes

LIBRARY_FORMAT = 1
CA_UNIT = 0.1  # Å per int16 step of the stored Cα
CB_UNIT = 0.05  # Å per int8 step of the stored Cβ - Cα (|Cβ - Cα| is ~1.5 Å, at most ~5 Å in odd residues)
MIN_LENGTH = 10  # residues; shorter chains make no useful templates
_CA_LIMIT = 3000.0  # Å from the chain centre that int16 in 0.1 Å can hold (±3276.7), with margin
REQUIRED = ("format", "name", "length", "seq", "ca_delta", "cb_offset", "center")


class LibraryError(ValueError):
    """A structure library that is missing, unreadable or cannot be built; the message says why."""


def default_library_path() -> Path:
    """Where a shipped library would live: foldlite/weights/library.npz (may not exist)."""
    return Path(__file__).resolve().parents[1] / "weights" / "library.npz"


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


class Library:
    """An in-memory structure library (see the module docstring for the arrays)."""

    def __init__(self, names: np.ndarray, lengths: np.ndarray, seq: np.ndarray, ca: np.ndarray,
                 cb_offset: np.ndarray, center: np.ndarray, source: str = "", path: Path | None = None):
        self.names = np.asarray(names).astype(str)  # [C]
        self.lengths = np.asarray(lengths, dtype=np.int64)  # [C]
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)  # [C]
        self.seq = np.asarray(seq, dtype=np.uint8)  # [R] ASCII
        self.ca_int = np.asarray(ca, dtype=np.int16)  # [R, 3] Cα / CA_UNIT, relative to the centre
        self.cb_offset = np.asarray(cb_offset, dtype=np.int8)  # [R, 3] (Cβ - Cα) / CB_UNIT
        self.center = np.asarray(center, dtype=np.float32)  # [C, 3] Å
        self.source = source
        self.path = path
        self.cache: dict = {}  # search indexes built on first use (see foldlite.search)
        self._name_to_index: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"Library({len(self)} chains, {self.total_residues} residues, from {self.source!r})"

    @property
    def total_residues(self) -> int:
        return int(self.lengths.sum())

    def _rows(self, index: int) -> slice:
        start = int(self.offsets[index])
        return slice(start, start + int(self.lengths[index]))

    def sequence(self, index: int) -> str:
        return self.seq[self._rows(index)].tobytes().decode("ascii")

    def ca(self, index: int) -> np.ndarray:
        """Cα [L, 3] Å, relative to the chain centre."""
        return self.ca_int[self._rows(index)].astype(np.float64) * CA_UNIT

    def cb(self, index: int) -> np.ndarray:
        """Ideal Cβ [L, 3] Å (virtual for Gly), same frame as ca()."""
        rows = self._rows(index)
        return (self.ca_int[rows].astype(np.float64) * CA_UNIT
                + self.cb_offset[rows].astype(np.float64) * CB_UNIT)

    def index_of(self, name: str) -> int | None:
        """Index of the first chain called `name`, or None."""
        if self._name_to_index is None:
            self._name_to_index = {}
            for i, n in enumerate(self.names.tolist()):
                self._name_to_index.setdefault(n, i)
        return self._name_to_index.get(name)

    def residue_chain(self) -> np.ndarray:
        """[R] int32: the chain index of every residue row (cached)."""
        if "residue_chain" not in self.cache:
            self.cache["residue_chain"] = np.repeat(np.arange(len(self), dtype=np.int32), self.lengths)
        return self.cache["residue_chain"]


# ---------------------------------------------------------------------------------------- building

def _encode(ca: np.ndarray, cb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cα, Cβ [L, 3] Å (centred) -> (Cα int16 [L, 3] in CA_UNIT, Cβ - Cα int8 [L, 3] in CB_UNIT)."""
    ca_int = np.rint(ca / CA_UNIT).astype(np.int16)
    # offset from the *rounded* Cα, so Cβ's only error is the offset's own rounding (<= 0.025 Å per axis)
    offset = np.rint((cb - ca_int * CA_UNIT) / CB_UNIT)
    return ca_int, np.clip(offset, -127, 127).astype(np.int8)


def _is_npz(path: Path) -> bool:
    """Whether the file starts like a zip archive (.npz); numpy's own message for anything else is
    about pickles, which misleads."""
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def _from_chainset(path: Path, split: str | None, report: LibraryReport):
    """Yield (name, sequence bytes [L] uint8, Cα [L, 3], Cβ [L, 3], centre [3]) from a chain set."""
    from ..data.chains import ChainSet

    if not _is_npz(path):
        raise LibraryError(f"{path}: not a chain-set .npz (nor a folder of structure files)")
    try:
        chainset = ChainSet(path)
        indices = chainset.indices(split)
    except (OSError, ValueError, EOFError) as error:  # not an .npz, not a chain set, unknown split
        raise LibraryError(f"{path}: cannot use it as a chain set ({error})") from None
    for index in indices:
        lo, hi = int(chainset.offsets[index]), int(chainset.offsets[index] + chainset.lengths[index])
        name = str(chainset.names[index])
        if hi - lo < MIN_LENGTH:
            report.skipped.append((name, f"too short ({hi - lo} residues < {MIN_LENGTH})"))
            continue
        xyz = chainset.xyz[lo:hi].astype(np.float64) / 100.0  # [L, 4, 3] Å, already centred
        cb = ideal_cb(xyz[:, 0], xyz[:, 1], xyz[:, 2])
        yield name, chainset.seq[lo:hi], xyz[:, 1], cb, chainset.center[index]


def _from_folder(folder: Path, report: LibraryReport):
    """Same as _from_chainset, for every protein chain of every PDB/mmCIF file in a folder."""
    from ..data.build import _is_structure_name, _structure_files
    from ..io.pdb import STRUCTURE_SUFFIXES, StructureFileError, read_chains

    for path in _structure_files(folder):
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


def build_library(source: str | os.PathLike, output_path: str | os.PathLike,
                  split: str | None = None) -> LibraryReport:
    """Write a structure library from a chain-set .npz (optionally one split) or a folder of
    PDB/mmCIF files (every protein chain of the first model; unusable files are skipped with a
    reason in the report). The file is written atomically. Raises LibraryError when nothing is
    usable (nothing is written)."""
    source = Path(source)
    report = LibraryReport(output_path=str(output_path), source=str(source))
    if source.is_dir():
        if split is not None:
            raise LibraryError(f"{source}: --split only applies to a chain-set .npz, not a folder")
        chains = _from_folder(source, report)
    elif source.is_file():
        report.source = f"{source} ({split or 'all'} chains)"
        chains = _from_chainset(source, split, report)
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
    }
    buffer = io.BytesIO()  # np.savez would append ".npz" to a path; write the exact name
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(output_path, buffer.getvalue())
    report.chains, report.residues = len(names), int(sum(lengths))
    report.size_bytes = len(buffer.getvalue())
    return report


# ----------------------------------------------------------------------------------------- loading

def _decode_ca(delta: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per-chain step encoding [R, 3] -> Cα int16 [R, 3] (integer arithmetic, exact)."""
    total = np.cumsum(delta, axis=0, dtype=np.int64)  # [R, 3] running sum over all chains
    ends = np.cumsum(lengths)
    # what the running sum holds just before each chain starts, removed from that chain's rows
    before = np.concatenate([np.zeros((1, 3), np.int64), total[ends[:-1] - 1]])  # [C, 3]
    return (total - np.repeat(before, lengths, axis=0)).astype(np.int16)


def load_library(path: str | os.PathLike) -> Library:
    """Read a library written by build_library. Raises LibraryError if missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise LibraryError(f"{path}: no structure library there; build one with "
                           f"`foldlite library build CHAINSET.npz -o {path} --split train`")
    if not _is_npz(path):
        raise LibraryError(f"{path}: not a structure library (.npz written by `foldlite library build`)")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in REQUIRED if k not in data.files]
            if missing:
                raise LibraryError(f"{path}: not a structure library (missing arrays {missing})")
            if int(data["format"]) != LIBRARY_FORMAT:
                raise LibraryError(f"{path}: library format {int(data['format'])}, this foldlite reads "
                                   f"{LIBRARY_FORMAT}; rebuild it with `foldlite library build`")
            lengths = data["length"].astype(np.int64)
            library = Library(names=data["name"], lengths=lengths, seq=data["seq"],
                              ca=_decode_ca(data["ca_delta"], lengths), cb_offset=data["cb_offset"],
                              center=data["center"], source=str(data["source"]) if "source" in data.files else "",
                              path=path)
    except LibraryError:
        raise
    except (OSError, ValueError, EOFError) as error:  # not a zip, truncated, pickled object arrays...
        raise LibraryError(f"{path}: cannot read the structure library ({error})") from None
    if len(library.seq) != library.total_residues or library.ca_int.shape != (len(library.seq), 3):
        raise LibraryError(f"{path}: inconsistent library arrays (lengths do not add up)")
    return library

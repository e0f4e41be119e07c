"""Structure library: sequences and Cα/Cβ traces of known structures, for template search.

A library is one compressed .npz (no pickle), built from a chain set (pdb_chains.npz format, see
foldlite.data.chains) or from a folder of PDB/mmCIF files:

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
| `provenance` | str, () | JSON: the command that built it, date, foldlite version, source, split (optional) |

(*) each residue stores its step from the previous one, the first residue of a chain its position;
steps are small numbers, which makes the file compress to about 70 % of storing positions.

The shipped library is every chain of pdb_chains.npz (train, valid and test: 21,067 chains of >= 10
residues, 4.56 M residues; `foldlite library build pdb_chains.npz -o foldlite/weights/library.npz`,
the command is kept in its provenance): 26.9 MB, ~0.25 s to load. In memory it stays integer (~46 MB;
the k-mer index adds ~18 MB, the profile search's digital sequences ~5 MB); floats are made per chain.
fold() and `foldlite fold` load libraries through foldlite.templates.resolve, which maps them and their
search index from a disk cache after the first load (foldlite.templates.mapped).
"""
from __future__ import annotations

import dataclasses
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np


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


def library_label(path, chains: int) -> str:
    """How `foldlite fold` names the library it searches: 'PATH (N chains)'."""
    return f"{path or 'in-memory library'} ({chains} chains)"


class Library:
    """An in-memory structure library (see the module docstring for the arrays)."""

    def __init__(self, names: np.ndarray, lengths: np.ndarray, seq: np.ndarray, ca: np.ndarray | None,
                 cb_offset: np.ndarray, center: np.ndarray, source: str = "", path: Path | None = None,
                 provenance: dict | None = None, ca_delta: np.ndarray | None = None):
        """ca: Cα [R, 3] int16 in CA_UNIT; or None and ca_delta: the file's per-chain steps (each chain's
        first row absolute, then differences), decoded chain by chain as chains are used."""
        if (ca is None) == (ca_delta is None):
            raise ValueError("give the Cα coordinates either decoded (ca) or as steps (ca_delta)")
        self.names = np.asarray(names).astype(str)  # [C]
        self.lengths = np.asarray(lengths, dtype=np.int64)  # [C]
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)  # [C]
        self.seq = np.asarray(seq, dtype=np.uint8)  # [R] ASCII
        # [R, 3] Cα / CA_UNIT, relative to the centre: decoded (or None until ca_int is asked for) and steps
        self._ca_int = None if ca is None else np.asarray(ca, dtype=np.int16)
        self._ca_delta = None if ca_delta is None else np.asarray(ca_delta, dtype=np.int16)
        self.cb_offset = np.asarray(cb_offset, dtype=np.int8)  # [R, 3] (Cβ - Cα) / CB_UNIT
        self.center = np.asarray(center, dtype=np.float32)  # [C, 3] Å
        self.source = source
        self.provenance = provenance or {}  # how the file was built (build_library), {} if unknown
        self.path = path
        self.cache: dict = {}  # derived arrays (search indexes), written only through cached()
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

    @property
    def ca_int(self) -> np.ndarray:
        """[R, 3] int16 Cα / CA_UNIT of every chain. A loaded library decodes it from the file's steps
        only when asked (0.5 s for the shipped 4.6 M residues, which a search never needs: a fold
        only reads its templates' chains, through _chain_ca)."""
        if self._ca_int is None:
            self._ca_int = _decode_ca(self._ca_delta, self.lengths)
        return self._ca_int

    def _chain_ca(self, index: int) -> np.ndarray:
        """[L, 3] int16 Cα / CA_UNIT of one chain (from its steps, exact integer sums, when not decoded)."""
        rows = self._rows(index)
        if self._ca_int is not None:
            return self._ca_int[rows]
        return np.cumsum(self._ca_delta[rows], axis=0, dtype=np.int64).astype(np.int16)

    def sequence(self, index: int) -> str:
        return self.seq[self._rows(index)].tobytes().decode("ascii")

    def ca(self, index: int) -> np.ndarray:
        """Cα [L, 3] Å, relative to the chain centre."""
        return self._chain_ca(index).astype(np.float64) * CA_UNIT

    def cb(self, index: int) -> np.ndarray:
        """Ideal Cβ [L, 3] Å (virtual for Gly), same frame as ca()."""
        return (self._chain_ca(index).astype(np.float64) * CA_UNIT
                + self.cb_offset[self._rows(index)].astype(np.float64) * CB_UNIT)

    def subset_for(self, hits: list) -> tuple["Library", list]:
        """(a Library of only the chains `hits` index, the hits renumbered to it): what a search
        process sends back instead of the whole library (foldlite.templates.service)."""
        chains = sorted({hit.index for hit in hits})
        rows = np.concatenate([np.arange(self.offsets[i], self.offsets[i] + self.lengths[i]) for i in chains]) \
            if chains else np.zeros(0, dtype=np.int64)
        ca = np.concatenate([self._chain_ca(i) for i in chains]) if chains else np.zeros((0, 3), np.int16)
        subset = Library(self.names[chains], self.lengths[chains], self.seq[rows], ca,
                         self.cb_offset[rows], self.center[chains], source=self.source, path=self.path,
                         provenance=self.provenance)
        renumber = {index: k for k, index in enumerate(chains)}
        return subset, [dataclasses.replace(hit, index=renumber[hit.index]) for hit in hits]

    def index_of(self, name: str) -> int | None:
        """Index of the first chain called `name`, or None."""
        if self._name_to_index is None:
            self._name_to_index = {}
            for i, n in enumerate(self.names.tolist()):
                self._name_to_index.setdefault(n, i)
        return self._name_to_index.get(name)

    def cached(self, key: str, build):
        """The derived array `key`, built by build() on first use and kept with this library (the
        search's k-mer index takes ~0.2 s to build for 4 M residues, so it is built once per library)."""
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key]

    def residue_chain(self) -> np.ndarray:
        """[R] int32: the chain index of every residue row (cached)."""
        return self.cached("residue_chain", lambda: np.repeat(np.arange(len(self), dtype=np.int32), self.lengths))


def _is_npz(path: Path) -> bool:
    """Whether the file starts like a zip archive (.npz); numpy's own message for anything else is
    about pickles, which misleads."""
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


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
                              ca=None, ca_delta=data["ca_delta"], cb_offset=data["cb_offset"],
                              center=data["center"], source=str(data["source"]) if "source" in data.files else "",
                              path=path, provenance=json.loads(str(data["provenance"]))
                              if "provenance" in data.files else None)
    except LibraryError:
        raise
    # not a zip, truncated, bad CRC or deflate stream, pickled object arrays...
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:  # JSONDecodeError too
        raise LibraryError(f"{path}: damaged structure library, cannot read it ({error})") from None
    if len(library.seq) != library.total_residues or library._ca_delta.shape != (len(library.seq), 3):
        raise LibraryError(f"{path}: inconsistent library arrays (lengths do not add up)")
    return library

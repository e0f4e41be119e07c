"""Amino-acid sequences -> integer tokens.

Alphabet: the 20 standard residues, X for unknown, and a padding token.
Lower case is accepted; U (selenocysteine) -> C, O (pyrrolysine) -> K,
B/Z/J (ambiguous) -> X; one trailing ``*`` (stop codon) is dropped. Such
substitutions are not silent: ``modified_residues`` lists them, and fold()
reports them (a warning, and ``modified_residues`` in the JSON).
Everything else is an error that names the record, the character and its
1-based position.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

STANDARD_RESIDUES = "ACDEFGHIKLMNPQRSTVWY"
UNKNOWN = "X"
ALPHABET = STANDARD_RESIDUES + UNKNOWN  # token i <-> ALPHABET[i]
UNKNOWN_TOKEN = ALPHABET.index(UNKNOWN)  # 20
PAD_TOKEN = len(ALPHABET)  # 21
VOCAB_SIZE = PAD_TOKEN + 1  # 22

# Non-standard one-letter codes we accept and what they become.
SUBSTITUTIONS = {"U": "C", "O": "K", "B": "X", "Z": "X", "J": "X"}

_EXPLANATIONS = {
    "-": "alignment gaps ('-') are not residues; remove them",
    ".": "alignment gaps ('.') are not residues; remove them",
    ":": "':' chain separators are not supported; fold each chain as its own record",
    "/": "'/' chain separators are not supported; fold each chain as its own record",
    "*": "'*' (stop) is only allowed as the last character",
}


# What each substitution means, for the warning.
_SUBSTITUTION_NAMES = {"U": "selenocysteine", "O": "pyrrolysine", "B": "Asx (D or N)", "Z": "Glx (E or Q)",
                       "J": "Xle (I or L)"}


class ModifiedResidue(NamedTuple):
    """A residue folded as another one than the input gave: position 1-based, one-letter codes."""

    position: int
    given: str
    folded_as: str

    def describe(self) -> str:
        shown = "X (unknown, written as UNK)" if self.folded_as == UNKNOWN else self.folded_as
        return f"{self.given} ({_SUBSTITUTION_NAMES[self.given]}) at {self.position} as {shown}"


def modified_residues(sequence: str) -> list[ModifiedResidue]:
    """The substitutions normalize_sequence makes in ``sequence`` (U -> C, O -> K, B/Z/J -> X)."""
    return [ModifiedResidue(position, char.upper(), SUBSTITUTIONS[char.upper()])
            for position, char in enumerate(sequence, start=1)
            if char.isascii() and char.upper() in SUBSTITUTIONS]


def describe_modified(modified: list[ModifiedResidue], limit: int = 5) -> str:
    """'U (selenocysteine) at 12 as C; B (Asx (D or N)) at 30 as X (...)' with at most `limit` shown."""
    text = "; ".join(m.describe() for m in modified[:limit])
    if len(modified) > limit:
        text += f"; and {len(modified) - limit} more"
    return text


class SequenceError(ValueError):
    """A sequence that cannot be tokenized; the message says where and why."""


def _describe(char: str) -> str:
    if char.isspace():
        return {" ": "a space", "\t": "a tab", "\n": "a line break", "\r": "a carriage return"}.get(
            char, "whitespace")
    if char.isprintable():
        return repr(char)
    return f"the unprintable character U+{ord(char):04X}"


def normalize_sequence(sequence: str, record: str = "sequence") -> str:
    """Return the canonical upper-case sequence over ALPHABET, or raise SequenceError.

    ``record`` names the input in error messages (a FASTA id, say).
    """
    if not isinstance(sequence, str):
        raise SequenceError(f"{record}: expected a string of one-letter residue codes, "
                            f"got {type(sequence).__name__}")
    if sequence.endswith("*"):
        sequence = sequence[:-1]
    if not sequence:
        raise SequenceError(f"{record}: the sequence is empty")
    out = []
    for position, char in enumerate(sequence, start=1):
        upper = char.upper()
        if upper in ALPHABET and char.isascii():
            out.append(upper)
        elif upper in SUBSTITUTIONS and char.isascii():
            out.append(SUBSTITUTIONS[upper])
        else:
            why = _EXPLANATIONS.get(char, "not an amino-acid one-letter code")
            raise SequenceError(
                f"{record}: invalid character {_describe(char)} at position {position}: {why}")
    return "".join(out)


def tokenize(sequence: str, record: str = "sequence") -> np.ndarray:
    """Sequence -> int64 tokens [L] (validated with ``normalize_sequence``)."""
    canonical = normalize_sequence(sequence, record)
    return encode_canonical(canonical)


_LOOKUP = np.full(256, UNKNOWN_TOKEN, dtype=np.int64)
for _i, _c in enumerate(ALPHABET):
    _LOOKUP[ord(_c)] = _i


def encode_canonical(canonical: str | bytes | np.ndarray) -> np.ndarray:
    """Already-canonical upper-case residues (str, bytes or uint8 ASCII array) -> tokens [L]."""
    if isinstance(canonical, str):
        canonical = canonical.encode("ascii")
    codes = np.frombuffer(canonical, dtype=np.uint8) if isinstance(canonical, bytes) else canonical
    return _LOOKUP[codes]


def decode(tokens) -> str:
    """Tokens [L] -> sequence string (padding dropped)."""
    return "".join(ALPHABET[t] for t in np.asarray(tokens).tolist() if t != PAD_TOKEN)


def batch_tokenize(sequences: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Sequences -> (tokens [B, L_max] padded with PAD_TOKEN, mask [B, L_max] bool, True = residue)."""
    encoded = [tokenize(s, record=f"sequence {i + 1}") for i, s in enumerate(sequences)]
    max_len = max(len(e) for e in encoded)
    tokens = np.full((len(encoded), max_len), PAD_TOKEN, dtype=np.int64)
    mask = np.zeros((len(encoded), max_len), dtype=bool)
    for i, e in enumerate(encoded):
        tokens[i, : len(e)] = e
        mask[i, : len(e)] = True
    return tokens, mask

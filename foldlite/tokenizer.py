"""Amino-acid sequences -> integer tokens.

Alphabet: the 20 standard residues, X for unknown, and a padding token.
Lower case is accepted; U (selenocysteine) -> C, O (pyrrolysine) -> K,
B/Z/J (ambiguous) -> X; one trailing ``*`` (stop codon) is dropped.
Everything else is an error that names the record, the character and its
1-based position.
"""
from __future__ import annotations

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

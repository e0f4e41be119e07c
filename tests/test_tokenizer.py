import numpy as np
import pytest

from foldlite.tokenizer import (ALPHABET, PAD_TOKEN, SequenceError, UNKNOWN_TOKEN, batch_tokenize,
                                decode, encode_canonical, normalize_sequence, tokenize)


def test_standard_residues_pass_unchanged():
    assert normalize_sequence("ACDEFGHIKLMNPQRSTVWY") == "ACDEFGHIKLMNPQRSTVWY"


def test_lower_case_is_upper_cased():
    assert normalize_sequence("mktAyi") == "MKTAYI"


@pytest.mark.parametrize("given, expected", [
    ("MUK", "MCK"), ("MuK", "MCK"),  # selenocysteine -> C
    ("MOK", "MKK"), ("MoK", "MKK"),  # pyrrolysine -> K
    ("MBK", "MXK"), ("MZK", "MXK"), ("MJK", "MXK"), ("mbzj", "MXXX"),  # ambiguous -> X
    ("MXK", "MXK"),
])
def test_substitutions(given, expected):
    assert normalize_sequence(given) == expected


def test_one_trailing_stop_is_dropped():
    assert normalize_sequence("MKV*") == "MKV"


@pytest.mark.parametrize("sequence, char, position", [
    ("MK1V", "'1'", 3),
    ("M-KV", "'-'", 2),
    ("MKV:AA", "':'", 4),
    ("MKT LV", "a space", 4),
    ("MKT\tLV", "a tab", 4),
    ("MK*V", "'*'", 3),  # a stop that is not last
    ("MKV**", "'*'", 4),  # only one trailing stop is dropped
    ("M.K", "'.'", 2),
    ("MK/V", "'/'", 3),
    ("MKé", "'é'", 3),
])
def test_invalid_characters_name_char_and_position(sequence, char, position):
    with pytest.raises(SequenceError) as info:
        normalize_sequence(sequence, record="rec7")
    message = str(info.value)
    assert message.startswith("rec7:")
    assert char in message
    assert f"position {position}" in message


def test_unprintable_character_is_described_by_code_point():
    with pytest.raises(SequenceError, match=r"U\+0001 at position 2"):
        normalize_sequence("M\x01K")


@pytest.mark.parametrize("sequence", ["", "*"])
def test_empty_sequence(sequence):
    with pytest.raises(SequenceError, match="empty"):
        normalize_sequence(sequence, record="r")


def test_non_string_rejected():
    with pytest.raises(SequenceError, match="expected a string"):
        normalize_sequence(b"MKV")


def test_sequence_error_is_value_error():
    assert issubclass(SequenceError, ValueError)


def test_tokenize_and_decode_round_trip():
    tokens = tokenize("acdXu")
    assert tokens.dtype == np.int64
    assert tokens.tolist() == [ALPHABET.index(c) for c in "ACDXC"]
    assert decode(tokens) == "ACDXC"
    assert encode_canonical(b"ACX").tolist() == [0, 1, UNKNOWN_TOKEN]


def test_batch_tokenize_pads_and_names_the_bad_sequence():
    tokens, mask = batch_tokenize(["MK", "MKVL"])
    assert tokens.shape == mask.shape == (2, 4)
    assert tokens[0, 2:].tolist() == [PAD_TOKEN, PAD_TOKEN]
    assert mask.sum(axis=1).tolist() == [2, 4]
    with pytest.raises(SequenceError, match="sequence 2: invalid character '1' at position 2"):
        batch_tokenize(["MK", "M1"])

import gzip
import os
import types

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import foldlite.io.fasta as fasta_module
from foldlite.io.fasta import (FastaError, FastaRecord, check_length, parse_fasta_text, read_fasta,
                            read_fasta_all)
from foldlite.tokenizer import ALPHABET, ModifiedResidue, SequenceError

VALID = ">sp|P1|ONE first protein\nMKTAYIAKQR\nQISFVKSHFS\n>two\nmkuoBZ*\n"


def write(tmp_path, content, name="in.fasta"):
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def error_for(tmp_path, content):
    path = write(tmp_path, content)
    with pytest.raises(FastaError) as info:
        read_fasta_all(path)
    message = str(info.value)
    assert "\n" not in message  # one line
    assert str(path) in message  # names the file
    return message


# ----------------------------------------------------------------------------- good input

def test_reads_records(tmp_path):
    records = read_fasta_all(write(tmp_path, VALID))
    assert records == [
        FastaRecord("sp|P1|ONE", "sp|P1|ONE first protein", "MKTAYIAKQRQISFVKSHFS"),
        FastaRecord("two", "two", "MKCKXX", modified=(ModifiedResidue(3, "U", "C"), ModifiedResidue(4, "O", "K"),
                                                      ModifiedResidue(5, "B", "X"), ModifiedResidue(6, "Z", "X"))),
    ]


def test_crlf_and_cr_line_endings(tmp_path):
    lf = read_fasta_all(write(tmp_path, VALID, "lf.fa"))
    assert read_fasta_all(write(tmp_path, VALID.replace("\n", "\r\n"), "crlf.fa")) == lf
    assert read_fasta_all(write(tmp_path, VALID.replace("\n", "\r"), "cr.fa")) == lf


def test_blank_lines_trailing_spaces_and_bom_are_accepted(tmp_path):
    text = "\ufeff\n\n>a  \nMKT  \n\n  LV\t\n\n>b\nAAA"  # no final newline either
    records = read_fasta_all(write(tmp_path, text))
    assert [(r.id, r.sequence) for r in records] == [("a", "MKTLV"), ("b", "AAA")]


def test_parse_fasta_text_uses_the_same_rules():
    assert [r.sequence for r in parse_fasta_text(VALID)] == ["MKTAYIAKQRQISFVKSHFS", "MKCKXX"]
    with pytest.raises(FastaError, match=r"^query: record 1 'a': whitespace"):
        parse_fasta_text(">a\nMK V\n", source="query")
    with pytest.raises(FastaError, match="empty"):
        parse_fasta_text("")


def test_read_fasta_streams(tmp_path):
    path = write(tmp_path, ">a\nMKV\n>b\nMKL\n>c\nMK1\n")
    records = read_fasta(path)
    assert isinstance(records, types.GeneratorType)
    assert next(records).id == "a"
    assert next(records).id == "b"
    with pytest.raises(FastaError, match="record 3 'c'"):
        next(records)
    # read_fasta_all checks everything before returning anything
    with pytest.raises(FastaError, match="record 3 'c'"):
        read_fasta_all(path)


def test_fasta_error_is_sequence_error_and_value_error():
    assert issubclass(FastaError, SequenceError)
    assert issubclass(FastaError, ValueError)


# ----------------------------------------------------------------------------- bad input

def test_missing_file(tmp_path):
    with pytest.raises(FastaError, match="file not found"):
        read_fasta(tmp_path / "nope.fasta")  # fails at once, before iteration


def test_directory(tmp_path):
    with pytest.raises(FastaError, match="is a directory"):
        read_fasta(tmp_path)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root can read any file")
def test_unreadable_file(tmp_path):
    path = write(tmp_path, VALID)
    path.chmod(0)
    try:
        with pytest.raises(FastaError, match="permission denied"):
            read_fasta(path)
    finally:
        path.chmod(0o644)


def test_open_failure_is_reported(tmp_path, monkeypatch):
    path = write(tmp_path, VALID)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(fasta_module, "open", refuse, raising=False)
    with pytest.raises(FastaError, match="cannot open: Permission denied"):
        read_fasta_all(path)


def test_empty_file(tmp_path):
    assert "empty" in error_for(tmp_path, "")


def test_only_blank_lines(tmp_path):
    assert "no FASTA records" in error_for(tmp_path, "\n  \r\n\n")


def test_pdb_file_given_as_fasta(tmp_path):
    text = "HEADER    PROTEIN\nATOM      1  N   MET A   1      1.000   2.000   3.000\n"
    message = error_for(tmp_path, text)
    assert "no FASTA records" in message and "line 1" in message and "PDB" in message


def test_plain_text_given_as_fasta(tmp_path):
    message = error_for(tmp_path, "\nMKTAYIAKQR\n>a\nMKV\n")
    assert "no FASTA records: line 2 does not start with '>'" in message


@pytest.mark.parametrize("content", [b">a\nMK\x00V\n", b"\x00\x01\x02\x03", b">a\nMK\xff\xfeV\n",
                                     b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_binary_content(tmp_path, content):
    assert "looks binary" in error_for(tmp_path, content)


def test_gzip_file(tmp_path):
    assert "gzip" in error_for(tmp_path, gzip.compress(VALID.encode()))


def test_empty_sequence(tmp_path):
    message = error_for(tmp_path, ">a\nMKV\n>b desc\n>c\nMKV\n")
    assert "record 2 'b': the sequence is empty" in message


def test_empty_header(tmp_path):
    assert "record 1 has an empty header" in error_for(tmp_path, ">\nMKV\n")


@pytest.mark.parametrize("sequence_lines, char, position", [
    ("MKTA\nYI1K\n", "'1'", 7),
    ("MKTA-YIK\n", "'-'", 5),
    ("MKTA\nYI:K\n", "':'", 7),
    ("MK#\n", "'#'", 3),
])
def test_invalid_character_names_record_char_and_position(tmp_path, sequence_lines, char, position):
    message = error_for(tmp_path, f">first\nMKV\n>second x\n{sequence_lines}")
    assert "record 2 'second'" in message
    assert f"invalid character {char} at position {position}" in message


@pytest.mark.parametrize("line, position", [("MKT LV", 7), ("MKT\tLV", 7), ("MKT\u00a0LV", 7)])
def test_whitespace_inside_a_sequence_line(tmp_path, line, position):
    # Bio.SeqIO would silently drop the space; we must not.
    message = error_for(tmp_path, f">a\nMKV\n{line}\n")
    assert f"whitespace inside the sequence at position {position} (line 3)" in message


def test_duplicate_ids_name_both_records(tmp_path):
    message = error_for(tmp_path, ">a\nMKV\n>b\nMKV\n>a other\nMKV\n")
    assert "duplicate record id 'a' (records 1 and 3)" in message


def test_long_ids_are_shortened_in_messages(tmp_path):
    message = error_for(tmp_path, f">{'x' * 500}\nMK1\n")
    assert len(message) < 300


# ----------------------------------------------------------------------------- check_length

def test_check_length():
    check_length("a", "M" * 20, 20, 100)
    check_length("a", "M" * 5000, 20, None)
    with pytest.raises(FastaError, match=r"'a': length 5 is outside the supported range 20-100"):
        check_length("a", "M" * 5, 20, 100)
    with pytest.raises(FastaError, match="length 101"):
        check_length("a", "M" * 101, 20, 100)


# ----------------------------------------------------------------------------- fuzzing

_VALID_BYTES = VALID.encode()
_INTERESTING = [b">", b"\n", b"\r", b"\r\n", b" ", b"\t", b"\x00", b"\xff", b"\xc3", b"*", b"-",
                b"\xef\xbb\xbf", b">a\n", b"\xe2\x80\xa8", b"\x0b", b"\x85"]
_edits = st.lists(st.tuples(st.sampled_from(["insert", "delete", "replace"]),
                            st.integers(0, len(_VALID_BYTES)),
                            st.one_of(st.binary(min_size=1, max_size=3),
                                      st.sampled_from(_INTERESTING))),
                  max_size=6)


def _mutate(data: bytes, edits) -> bytes:
    for op, position, chunk in edits:
        position = min(position, len(data))
        if op == "insert":
            data = data[:position] + chunk + data[position:]
        elif op == "delete":
            data = data[:position] + data[position + len(chunk):]
        else:
            data = data[:position] + chunk + data[position + len(chunk):]
    return data


def _only_fasta_errors(path, data):
    path.write_bytes(data)
    try:
        records = read_fasta_all(path)
    except FastaError as exc:
        assert "\n" not in str(exc)
        return
    for record in records:  # anything accepted must be canonical
        assert record.id and record.sequence
        assert set(record.sequence) <= set(ALPHABET)


_fuzz_settings = settings(max_examples=150, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])


@_fuzz_settings
@given(data=st.binary(max_size=200))
def test_fuzz_random_bytes(tmp_path, data):
    _only_fasta_errors(tmp_path / "fuzz.fasta", data)


@_fuzz_settings
@given(edits=_edits)
def test_fuzz_mutated_valid_fasta(tmp_path, edits):
    _only_fasta_errors(tmp_path / "fuzz.fasta", _mutate(_VALID_BYTES, edits))

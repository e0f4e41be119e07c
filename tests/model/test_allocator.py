"""foldlite.model.allocator: glibc malloc tuning is applied once, can be turned off, never fails; oneDNN's
primitive cache is off unless the user set its size."""
from __future__ import annotations

import os
import sys

import pytest

from foldlite.model.allocator import ONEDNN_CACHE_VARIABLE, tune_allocator


@pytest.fixture(autouse=True)
def fresh_cache():
    tune_allocator.cache_clear()
    yield
    tune_allocator.cache_clear()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_applies_on_glibc_linux():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert tune_allocator() is True


def test_environment_variable_turns_it_off(monkeypatch):
    monkeypatch.setenv("FOLDLITE_NO_MALLOC_TUNING", "1")
    assert tune_allocator() is False


def test_onednn_primitive_cache_is_turned_off_unless_the_user_sized_it(monkeypatch):
    monkeypatch.delenv(ONEDNN_CACHE_VARIABLE, raising=False)
    tune_allocator()
    assert os.environ[ONEDNN_CACHE_VARIABLE] == "0"
    tune_allocator.cache_clear()
    monkeypatch.setenv(ONEDNN_CACHE_VARIABLE, "64")
    tune_allocator()
    assert os.environ[ONEDNN_CACHE_VARIABLE] == "64"


def test_load_model_sets_it_before_the_first_forward_pass(tiny_weights):
    import subprocess

    code = ("import os, foldlite; os.environ.pop('%s', None); m = foldlite.load_model(%r, runtime='torch'); "
            "print(os.environ.get('%s'))" % (ONEDNN_CACHE_VARIABLE, tiny_weights, ONEDNN_CACHE_VARIABLE))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"

"""foldlite.model.allocator: glibc malloc tuning is applied once, can be turned off, never fails."""
from __future__ import annotations

import sys

import pytest

from foldlite.model.allocator import tune_allocator


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

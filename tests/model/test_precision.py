"""The bf16-or-fp32 decision: where the CPU cannot run bf16 natively it is decided without timing
(the timing cost 0.5-0.8 s of every process's start on an AVX2-only CPU), elsewhere by timing."""
import pytest
import torch

from foldlite.model import precision


@pytest.fixture
def fresh_decision(monkeypatch):
    monkeypatch.delenv(precision.BF16_ENV, raising=False)
    monkeypatch.setattr(precision, "_FIXED", {})
    precision.cpu_bf16_is_fast.cache_clear()
    yield
    precision.cpu_bf16_is_fast.cache_clear()


def _count_timings(monkeypatch) -> list:
    """Replaces torch.randn in precision with a counting version; the list grows per timing."""
    calls = []
    real_randn = torch.randn

    def counting_randn(*shape):
        calls.append(shape)
        return real_randn(*shape)

    monkeypatch.setattr(precision.torch, "randn", counting_randn)
    return calls


def test_x86_without_bf16_instructions_says_fp32_without_timing(monkeypatch, fresh_decision):
    monkeypatch.setattr(precision.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    calls = _count_timings(monkeypatch)
    assert precision.cpu_bf16_is_fast(size=32, warmup=1, repeats=1) is False
    assert calls == []


@pytest.mark.parametrize("machine, avx512_bf16, amx", [("x86_64", True, False), ("x86_64", False, True),
                                                       ("aarch64", False, False)])
def test_cpus_that_may_run_bf16_natively_are_timed(monkeypatch, fresh_decision, machine, avx512_bf16, amx):
    monkeypatch.setattr(precision.platform, "machine", lambda: machine)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    calls = _count_timings(monkeypatch)
    assert precision.cpu_bf16_is_fast(size=32, warmup=1, repeats=1) in (True, False)
    assert calls == [(32, 32)]


def test_a_torch_without_the_queries_is_timed(monkeypatch, fresh_decision):
    monkeypatch.setattr(precision.platform, "machine", lambda: "x86_64")
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    calls = _count_timings(monkeypatch)
    precision.cpu_bf16_is_fast(size=32, warmup=1, repeats=1)
    assert calls == [(32, 32)]


@pytest.mark.parametrize("setting, expected", [("1", True), ("0", False)])
def test_the_environment_decides_before_anything_else(monkeypatch, fresh_decision, setting, expected):
    monkeypatch.setenv(precision.BF16_ENV, setting)
    monkeypatch.setattr(precision.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    calls = _count_timings(monkeypatch)
    assert precision.cpu_bf16_is_fast() is expected
    assert calls == []

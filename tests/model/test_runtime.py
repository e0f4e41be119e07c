"""Which engine runs the network (foldlite.model.runtime) and the ONNX export kept in the cache
(foldlite.model.onnx_cache): made once per weights file, reused, made again when damaged; the same
outputs as torch; a fold process that never imports torch; clear errors where ONNX cannot run."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import foldlite
from foldlite.model import onnx_cache
from foldlite.model.loaded import run_network, settle_runtime
from foldlite.model.runtime import RuntimeChoiceError, cpu_has_native_bf16, use_onnx
from foldlite.model.weights_file import WeightsError, sha256_of

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEV"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder of this test's own, on a CPU that counts as having no native bf16."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("FOLDLITE_CACHE_DIR", str(folder))
    monkeypatch.setenv("FOLDLITE_BF16", "0")
    return folder


def test_auto_exports_once_then_reuses_the_export_with_the_weights_facts(cache, tiny_weights):
    torch_model = foldlite.load_model(tiny_weights, runtime="torch")
    first = foldlite.load_model(tiny_weights)
    assert (first.runtime, torch_model.runtime) == ("onnx", "torch")
    entry = onnx_cache.entry_path(sha256_of(tiny_weights))
    assert entry.is_file() and entry.parent == cache / "networks"
    written = entry.stat().st_mtime_ns
    again = foldlite.load_model(tiny_weights)
    assert again.runtime == "onnx" and entry.stat().st_mtime_ns == written  # opened, not made again
    assert again.calibration.to_dict() == torch_model.calibration.to_dict()
    assert again.provenance == torch_model.provenance and again.sha256 == torch_model.sha256
    assert again.network.config == torch_model.network.config
    assert again.version == torch_model.version


def test_onnx_and_torch_give_the_same_network_outputs_and_structure(cache, tiny_weights):
    on_torch = foldlite.load_model(tiny_weights, runtime="torch")
    on_onnx = foldlite.load_model(tiny_weights, runtime="onnx")
    a, b = run_network(on_torch, SEQUENCE), run_network(on_onnx, SEQUENCE)
    for name in ("distogram", "ss3", "ca_torsion"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-5)
    np.testing.assert_allclose(a.attention.astype(np.float32), b.attention.astype(np.float32), atol=2e-3)
    folded = [foldlite.fold(SEQUENCE, model=model, templates=None) for model in (on_torch, on_onnx)]
    ca = [p.structure.coords[:, 1] for p in folded]
    assert np.sqrt(((ca[0] - ca[1]) ** 2).sum(-1).mean()) < 0.05  # Å: the same structure
    np.testing.assert_allclose(folded[0].plddt, folded[1].plddt, atol=0.1)


NO_TORCH = """
import sys, tempfile
import foldlite
model = foldlite.load_model(sys.argv[1])
prediction = foldlite.fold("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEV", model=model, templates=None)
prediction.save(tempfile.mkdtemp())
print(model.runtime, "torch" in sys.modules)
"""


def test_a_fold_with_the_export_in_the_cache_never_imports_torch(cache, tiny_weights):
    foldlite.load_model(tiny_weights)  # makes the export (this process has torch)
    result = subprocess.run([sys.executable, "-c", NO_TORCH, tiny_weights], capture_output=True, text=True,
                            timeout=300, env={**os.environ})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["onnx", "False"]


def test_a_damaged_or_foreign_entry_is_made_again(cache, tiny_weights):
    foldlite.load_model(tiny_weights)
    entry = onnx_cache.entry_path(sha256_of(tiny_weights))
    entry.write_bytes(b"not an onnx file")
    assert onnx_cache.open_entry(sha256_of(tiny_weights)) is None
    assert foldlite.load_model(tiny_weights).runtime == "onnx"
    assert onnx_cache.open_entry(sha256_of(tiny_weights)) is not None
    # an entry made from other weights, under these weights' name, is not used
    other = onnx_cache.entry_path("0" * 64)
    other.write_bytes(entry.read_bytes())
    assert onnx_cache.open_entry("0" * 64) is None


def test_without_a_cache_auto_runs_on_torch_and_onnx_says_why_not(monkeypatch, tiny_weights):
    monkeypatch.setenv("FOLDLITE_CACHE_DIR", "off")
    monkeypatch.setenv("FOLDLITE_BF16", "0")
    assert foldlite.load_model(tiny_weights).runtime == "torch"
    with pytest.raises(WeightsError, match="cache folder"):
        foldlite.load_model(tiny_weights, runtime="onnx")
    with pytest.raises(WeightsError, match="cache folder"):
        settle_runtime(tiny_weights, "cpu", "onnx")
    assert settle_runtime(tiny_weights, "cpu", "auto") == "torch"


def test_runtime_choice_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLDLITE_BF16", "0")
    assert use_onnx("auto", "cpu") and use_onnx("onnx", "cpu")
    assert not use_onnx("torch", "cpu") and not use_onnx("auto", "cuda")
    with pytest.raises(RuntimeChoiceError, match="CPU only"):
        use_onnx("onnx", "cuda")
    with pytest.raises(RuntimeChoiceError, match="unknown runtime"):
        use_onnx("tensorrt", "cpu")
    monkeypatch.setenv("FOLDLITE_BF16", "1")  # bf16 asked for: torch's autocast
    assert not use_onnx("auto", "cpu")
    monkeypatch.delenv("FOLDLITE_BF16")
    amx, avx2 = tmp_path / "amx", tmp_path / "avx2"
    amx.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n")
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n")
    if os.uname().machine in ("x86_64", "AMD64"):
        assert cpu_has_native_bf16(str(amx)) and not cpu_has_native_bf16(str(avx2))
    assert not cpu_has_native_bf16(str(tmp_path / "missing"))


def test_the_cli_runtime_option(cache, tiny_weights, tmp_path, capsys):
    from foldlite.cli import main

    common = ["--sequence", SEQUENCE, "--weights", tiny_weights, "--templates", "none", "--quiet", "--no-plots"]
    assert main(["fold", *common, "-o", str(tmp_path / "torch"), "--runtime", "torch"]) == 0
    assert main(["fold", *common, "-o", str(tmp_path / "onnx"), "--runtime", "onnx"]) == 0
    assert (tmp_path / "onnx" / "query.pdb").is_file() and (tmp_path / "torch" / "query.pdb").is_file()
    assert main(["fold", *common, "-o", str(tmp_path / "gpu"), "--runtime", "onnx", "--device", "cuda"]) == 2
    assert "CPU only" in capsys.readouterr().err
    assert not (tmp_path / "gpu").exists() or not any((tmp_path / "gpu").iterdir())


def test_an_export_that_fails_leaves_the_fold_on_torch_and_says_why(cache, tiny_weights, monkeypatch):
    from foldlite.model import onnx_export

    def broken(*args, **kwargs):
        raise RuntimeError("planted exporter failure")

    monkeypatch.setattr(onnx_export, "export_checked", broken)
    with pytest.warns(RuntimeWarning, match="planted exporter failure"):
        model = foldlite.load_model(tiny_weights)
    assert model.runtime == "torch" and not any((cache / "networks").glob("*.onnx"))

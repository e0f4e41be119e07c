"""The network exported to ONNX (foldlite/model/onnx_export.py) and run by ONNX Runtime
(onnx_network.py) gives the torch model's outputs at lengths and template counts other than the traced
ones; whole-map computation equals the row-chunked one; bad files are refused; no torch at run time."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import foldlite.model.network as network_module
from foldlite.config import ModelConfig, PairConfig, TrunkConfig
from foldlite.model.network import FoldliteModel

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from foldlite.model.onnx_export import TRACE_LENGTH, export_onnx  # noqa: E402
from foldlite.model.onnx_network import OnnxNetwork, OnnxNetworkError  # noqa: E402

# tiny, with an axial layer, and every weight random (template and block outputs start at zero)
CONFIG = ModelConfig(
    trunk=TrunkConfig(d_model=32, num_layers=2, num_heads=4, ffn_multiplier=2, max_relative_position=8, dropout=0.0),
    pair=PairConfig(channels=16, bottleneck=8, num_blocks=2, dilations=(1, 2), max_relative_position=8,
                    outer_rank=4, axial_layers=1, axial_heads=1))


@pytest.fixture(scope="module")
def network() -> FoldliteModel:
    torch.manual_seed(0)
    model = FoldliteModel(CONFIG).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.3)
    return model


def _small_row_chunks(patch: pytest.MonkeyPatch) -> None:
    """Row slabs much shorter than the test chains, so that every row-slab path runs (and an export
    that traced one would hold only for the traced length)."""
    patch.setattr(network_module, "PAIR_ROW_CHUNK", 7)
    patch.setattr(network_module, "BLOCK_ROW_CHUNK", 6)
    patch.setattr("foldlite.model.axial.AXIAL_ROW_CHUNK", 5)


@pytest.fixture(scope="module")
def exported(network, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "network.onnx"
    with pytest.MonkeyPatch.context() as patch:
        _small_row_chunks(patch)
        export_onnx(network, path, weights_sha256="abc123")
    return OnnxNetwork(path, threads=1)


def _templates(count: int, length: int, seed: int):
    """count templates [T, L, L] Å / [T, L, 3]: some pairs NaN, some residues unaligned (feature 0 = 0)."""
    rng = np.random.default_rng(seed)
    distance = (rng.random((count, length, length)) * 26).astype(np.float32)
    distance[:, : length // 4] = np.nan
    residue = rng.random((count, length, 3)).astype(np.float32) + 0.1
    residue[:, ::5, 0] = 0.0
    return distance, residue


def _torch_outputs(network, tokens, templates):
    inputs = None if templates is None else tuple(torch.from_numpy(a)[None] for a in templates)
    with torch.no_grad():
        return network(torch.from_numpy(tokens)[None], templates=inputs)


@pytest.mark.parametrize("length, count", [(1, 0), (TRACE_LENGTH + 13, 0), (9, 1), (50, 3)])
def test_onnx_runtime_gives_the_torch_outputs_at_other_lengths_and_template_counts(
        network, exported, monkeypatch, length, count):
    _small_row_chunks(monkeypatch)  # the torch side runs its row-slab paths, the export has none
    tokens = np.random.default_rng(length).integers(0, 20, length)
    templates = _templates(count, length, seed=count) if count else None
    expected = _torch_outputs(network, tokens, templates)
    got = exported.run(tokens, templates)
    for name in ("distogram", "ss3", "ca_torsion", "attention"):
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name)[0].numpy(), atol=2e-4, rtol=1e-4,
                                   err_msg=name)
    assert got.distogram.shape == (length, length, expected.distogram.shape[-1])


def test_templates_change_the_outputs(network, exported):
    """The template inputs are live in the export (not traced away as constants)."""
    tokens = np.random.default_rng(1).integers(0, 20, 30)
    plain, with_templates = exported.run(tokens), exported.run(tokens, _templates(2, 30, seed=2))
    assert np.abs(plain.distogram - with_templates.distogram).max() > 1e-2


def test_whole_maps_equal_the_row_chunked_computation(network, monkeypatch):
    _small_row_chunks(monkeypatch)
    tokens = np.random.default_rng(3).integers(0, 20, 33)
    templates = _templates(2, 33, seed=4)
    chunked = _torch_outputs(network, tokens, templates)
    try:
        whole = _torch_outputs(network.use_whole_maps(), tokens, templates)
    finally:
        network.use_whole_maps(False)
    torch.testing.assert_close(whole.distogram, chunked.distogram, atol=1e-5, rtol=1e-5)


def test_export_records_its_format_and_weights(exported):
    assert exported.weights_sha256 == "abc123"


def test_foreign_and_damaged_files_are_refused(tmp_path):
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(b"not an onnx model")
    with pytest.raises(OnnxNetworkError, match="not a readable ONNX model"):
        OnnxNetwork(damaged)
    foreign = tmp_path / "foreign.onnx"
    torch.onnx.export(torch.nn.Linear(3, 2), (torch.zeros(1, 3),), str(foreign), dynamo=False)
    with pytest.raises(OnnxNetworkError, match="not a foldlite network export"):
        OnnxNetwork(foreign)


def test_export_refuses_a_network_without_a_template_pathway(tmp_path):
    config = ModelConfig(trunk=CONFIG.trunk, pair=PairConfig(channels=16, bottleneck=8, num_blocks=1,
                                                             templates=False))
    with pytest.raises(ValueError, match="template pathway"):
        export_onnx(FoldliteModel(config), tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())


def test_running_an_export_does_not_import_torch(exported):
    code = ("import sys, numpy as np; from foldlite.model.onnx_network import OnnxNetwork; "
            f"OnnxNetwork({str(exported.path)!r}, threads=1).run(np.arange(12) % 20); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_export_tool_writes_a_checked_file_and_keeps_an_existing_one(tiny_weights, tmp_path):
    from pathlib import Path

    tool = Path(__file__).resolve().parents[2] / "tools" / "export_onnx.py"
    output = tmp_path / "out" / "tiny.onnx"
    run = subprocess.run([sys.executable, str(tool), "-o", str(output), "--weights", tiny_weights],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "largest difference to torch" in run.stdout
    assert OnnxNetwork(output).run(np.arange(30) % 20).distogram.shape[:2] == (30, 30)
    before = output.read_bytes()
    again = subprocess.run([sys.executable, str(tool), "-o", str(output), "--weights", tiny_weights],
                           capture_output=True, text=True)
    assert again.returncode == 2 and "--force" in again.stderr and output.read_bytes() == before
    assert sorted(p.name for p in output.parent.iterdir()) == ["tiny.onnx"]  # no scratch left behind


@pytest.mark.parametrize("threads", [2, 3])
def test_threaded_softmax_gives_the_same_numbers(threads):
    """softmax_in_place splits the rows among threads: each row is computed whole by one thread, so
    the result equals the one-thread result bit for bit (an odd row count, so the parts differ)."""
    from foldlite.model.onnx_network import softmax_in_place

    logits = np.random.default_rng(0).normal(scale=5.0, size=(31, 31, 65)).astype(np.float32)
    expected = softmax_in_place(logits.copy())
    got = softmax_in_place(logits.copy(), threads=threads)
    assert np.array_equal(got, expected)
    np.testing.assert_allclose(got.sum(-1), 1.0, rtol=1e-5)

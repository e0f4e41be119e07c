"""Axial attention in the pair stack: padding-blind, the same in row slabs and with autograd, and grown
into trained weights as the identity."""
from dataclasses import replace

import pytest
import torch

import foldlite.model.axial as axial_module
from foldlite.model.network import FoldliteModel
from foldlite.tokenizer import batch_tokenize
from foldlite.training.grow import add_axial_layers

from conftest import TINY_CONFIG

SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK", "GSHMLEDPVDAFQ"]


def _with_axial(layers: int = 1) -> FoldliteModel:
    """A tiny model with axial layers whose outputs are not zero (as after training)."""
    torch.manual_seed(5)
    model = FoldliteModel(replace(TINY_CONFIG, pair=replace(TINY_CONFIG.pair, axial_layers=layers, axial_heads=2)))
    for layer in model.pair_stack.axial:
        for projection in (layer.row.out, layer.column.out):
            torch.nn.init.normal_(projection.weight, std=0.2)
    return model.eval()


def _tokens(sequences):
    return torch.from_numpy(batch_tokenize(sequences)[0])  # [B, L], PAD_TOKEN-padded: the mask follows


def test_axial_layers_change_the_output_and_ignore_padding():
    model = _with_axial()
    plain = FoldliteModel(TINY_CONFIG).eval()
    plain.load_state_dict(model.state_dict(), strict=False)
    with torch.no_grad():
        batched = model(_tokens(SEQUENCES))
        assert (batched.distogram[0] - plain(_tokens(SEQUENCES[:1])).distogram[0]).abs().max() > 1e-3
        for b, sequence in enumerate(SEQUENCES):
            alone = model(_tokens([sequence]))
            n = len(sequence)
            torch.testing.assert_close(batched.distogram[b, :n, :n], alone.distogram[0], atol=1e-4, rtol=1e-4)


def test_row_slabs_and_the_autograd_path_give_the_same_numbers(monkeypatch):
    model = _with_axial(2)
    tokens = _tokens(SEQUENCES[:1])
    with torch.no_grad():
        whole = model(tokens).distogram
        monkeypatch.setattr(axial_module, "AXIAL_ROW_CHUNK", 7)  # L = 53: 8 slabs of rows, then of columns
        slabs = model(tokens).distogram
    with_grad = model(tokens).distogram.detach()
    assert model.pair_stack.axial_placement() == [0, 0]  # 2 layers, 2 blocks: both after the first
    torch.testing.assert_close(slabs, whole, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(with_grad, whole, atol=1e-5, rtol=1e-5)


def test_grown_axial_layers_start_as_the_identity_and_learn():
    torch.manual_seed(3)
    old = FoldliteModel(TINY_CONFIG).eval()
    for block in old.pair_stack.blocks:
        torch.nn.init.normal_(block.up.weight, std=0.1)
    new = add_axial_layers(old, 1).eval()
    assert new.config.pair.axial_layers == 1 and new.pair_stack.axial_placement() == [0]
    tokens = _tokens(SEQUENCES[:1])
    with torch.no_grad():
        torch.testing.assert_close(new(tokens).distogram, old(tokens).distogram)
    new.train()
    new(tokens).distogram.sum().backward()
    assert new.pair_stack.axial[0].row.out.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="already has 1 axial"):
        add_axial_layers(new, 2)

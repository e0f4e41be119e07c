"""Growing trained weights: the grown network starts out computing exactly what the loaded one did."""
from dataclasses import replace

import pytest
import torch

from foldlite.model.network import FoldliteModel
from foldlite.tokenizer import encode_canonical
from foldlite.training.grow import add_pair_blocks

from conftest import TINY_CONFIG


def _trained_like(num_blocks: int) -> FoldliteModel:
    """A tiny model whose blocks are not the identity (as after training): random output projections."""
    torch.manual_seed(3)
    model = FoldliteModel(replace(TINY_CONFIG, pair=replace(TINY_CONFIG.pair, num_blocks=num_blocks)))
    for block in model.pair_stack.blocks:
        torch.nn.init.normal_(block.up.weight, std=0.1)
    return model.eval()


def test_added_pair_blocks_keep_the_outputs_and_continue_the_dilation_cycle():
    old = _trained_like(2)
    new = add_pair_blocks(old, 5).eval()
    assert len(new.pair_stack.blocks) == 5 and new.config.pair.num_blocks == 5
    dilations = TINY_CONFIG.pair.dilations
    assert [b.spatial.dilation[0] for b in new.pair_stack.blocks] == [dilations[i % len(dilations)] for i in range(5)]
    tokens = torch.from_numpy(encode_canonical("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"))[None]
    with torch.no_grad():
        before, after = old(tokens), new(tokens)
    torch.testing.assert_close(after.distogram, before.distogram)
    torch.testing.assert_close(after.ss3, before.ss3)
    # the new blocks are trainable: a gradient reaches their output projections
    new.train()
    new(tokens).distogram.sum().backward()
    assert new.pair_stack.blocks[4].up.weight.grad.abs().sum() > 0


def test_pair_stack_cannot_shrink():
    with pytest.raises(ValueError, match="cannot shrink"):
        add_pair_blocks(_trained_like(3), 2)

"""The network: shapes, masks and padding, determinism, symmetry, and the training step."""
from __future__ import annotations

import copy

import pytest
import torch

from foldlite.config import ModelConfig
from foldlite.constants import NUM_DISTOGRAM_CLASSES, TORSION_BINS
from foldlite.tokenizer import PAD_TOKEN, batch_tokenize, encode_canonical, tokenize

SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "GSHMLEDPV", "ACDEFGHIKLMNPQRSTVWYXACDEFGHIKLMNPQ"]


def _run(model, sequences):
    tokens, mask = batch_tokenize(sequences)
    with torch.no_grad():
        return model(torch.from_numpy(tokens), torch.from_numpy(mask))


@pytest.mark.parametrize("length", [1, 2, 7, 33])
def test_output_shapes_for_odd_lengths(tiny_model, length):
    out = _run(tiny_model, ["A" * length])
    cfg = tiny_model.config.trunk
    assert out.distogram.shape == (1, length, length, NUM_DISTOGRAM_CLASSES)
    assert out.ss3.shape == (1, length, 3)
    for head in (out.phi, out.psi, out.ca_torsion):
        assert head.shape == (1, length, TORSION_BINS)
    assert out.attention.shape == (1, cfg.num_layers * cfg.num_heads, length, length)
    assert torch.isfinite(out.distogram).all()


def test_padded_batch_equals_single_sequences(tiny_model):
    batched = _run(tiny_model, SEQUENCES)
    for b, sequence in enumerate(SEQUENCES):
        single = _run(tiny_model, [sequence])
        n = len(sequence)
        torch.testing.assert_close(batched.distogram[b, :n, :n], single.distogram[0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(batched.ss3[b, :n], single.ss3[0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(batched.ca_torsion[b, :n], single.ca_torsion[0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(batched.attention[b, :, :n, :n], single.attention[0], atol=1e-5, rtol=1e-4)


def test_attention_ignores_padding(tiny_model):
    out = _run(tiny_model, SEQUENCES)
    n = len(SEQUENCES[1])
    # rows of real residues put no weight on padded keys, and sum to one over real keys
    assert torch.all(out.attention[1, :, :n, n:] == 0)
    torch.testing.assert_close(out.attention[1, :, :n, :n].sum(-1), torch.ones(out.attention.shape[1], n))


def test_eval_mode_is_deterministic_and_distogram_symmetric(tiny_model):
    a = _run(tiny_model, [SEQUENCES[0]])
    b = _run(tiny_model, [SEQUENCES[0]])
    assert torch.equal(a.distogram, b.distogram)
    torch.testing.assert_close(a.distogram, a.distogram.transpose(1, 2))


def test_default_config_builds_and_mask_defaults_from_padding():
    from foldlite.model.checkpoint import default_weights_path, read_checkpoint
    from foldlite.model.network import FoldliteModel, count_parameters

    model = FoldliteModel(ModelConfig()).eval()
    # the model card's 5.10 M parameters (20.4 MB in fp32), the same count as the shipped weights
    assert count_parameters(model) == 5_096_512
    shipped = read_checkpoint(default_weights_path())['state_dict']
    assert sum(v.numel() for v in shipped.values()) == count_parameters(model)
    tokens = torch.from_numpy(tokenize("MKTAYIAK"))[None]
    padded = torch.cat([tokens, torch.full((1, 3), PAD_TOKEN)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(padded).distogram[0, :8, :8], model(tokens).distogram[0],
                                   atol=1e-4, rtol=1e-4)


def test_config_round_trips_through_dict():
    config = ModelConfig()
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({"trunk": {"d_modl": 3}})


def test_one_training_step_reduces_loss_on_a_repeated_batch(tiny_model):
    """The losses are wired to the heads: a few steps on one batch must lower it."""
    import copy

    from foldlite.data.chains import ChainSet, sample_chainset_path, make_example
    from foldlite.config import TrainConfig
    from foldlite.model.batch import collate
    from foldlite.training.losses import compute_losses

    model = copy.deepcopy(tiny_model).train()
    chains = ChainSet(sample_chainset_path())
    batch = collate([make_example(chains.chain(i, 0, 40)) for i in range(4)])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = compute_losses(model(batch["tokens"], batch["mask"]), batch, TrainConfig())["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.3


def test_row_chunked_inference_equals_the_full_pair_stack(tiny_model, monkeypatch):
    """Long chains run the dilated blocks in row slabs with halos (no autograd); same numbers."""
    import foldlite.model.network as model_module

    tokens = torch.from_numpy(encode_canonical("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK"))[None]
    with torch.no_grad():
        full = tiny_model(tokens)
        monkeypatch.setattr(model_module, "BLOCK_ROW_CHUNK", 5)  # L = 53: 11 slabs, dilations up to 2
        chunked = tiny_model(tokens)
    torch.testing.assert_close(chunked.distogram, full.distogram, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(chunked.ss3, full.ss3, atol=1e-5, rtol=1e-5)


def test_pair_outer_product_term_equals_its_definition(tiny_model):
    """outer_proj(left_i ⊗ right_j) per pair, computed as the model does it (two matmuls, no
    [L, L, R²] map), equals projecting the flattened outer product written out."""
    stack = copy.deepcopy(tiny_model.pair_stack)  # the session's model stays as it is
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in (stack.outer_proj.weight, stack.outer_proj.bias):  # the tiny model's are not zero
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
        rank = stack.outer_left.out_features
        left, right = torch.randn(2, 9, rank, generator=generator), torch.randn(2, 9, rank, generator=generator)
        outer = torch.einsum("bia,bjc->bijac", left, right).reshape(2, 9, 9, rank * rank)  # index a R + c
        expected = stack.outer_proj(outer)  # [B, L, L, C_z]
        partners = stack._outer_partners(right)  # [B, R, L * C_z]
        factored = (left @ partners).view(2, 9, 9, -1) + stack.outer_proj.bias
    torch.testing.assert_close(factored, expected, atol=1e-4, rtol=1e-5)

"""Attention(Q, K, V) = softmax(QKᵀ/√d_k + relative-position bias)·V, computed by hand (numpy) from
a model's own weights, equals what the trunk computes, to 1e-5 (the notebook
examples/attention_to_fold.ipynb does the same for the shipped model)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from foldlite.model.network import relative_position_buckets
from foldlite.tokenizer import encode_canonical

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


def layer_norm(x, norm):
    w, b = norm.weight.detach().numpy(), norm.bias.detach().numpy()
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + norm.eps) * w + b


def attention_by_hand(layer, x, max_offset):
    """x [L, C_s] (the layer's input) -> (attention weights [H, L, L], the attention block's update [L, C_s])."""
    attention = layer.attention
    heads, d_k = attention.num_heads, attention.head_dim
    length = len(x)
    h = layer_norm(x, layer.attention_norm)  # pre-norm
    qkv = h @ attention.qkv.weight.detach().numpy().T + attention.qkv.bias.detach().numpy()  # [L, 3·C_s]
    q, k, v = qkv.reshape(length, 3, heads, d_k).transpose(1, 2, 0, 3)  # 3 x [H, L, D]
    offsets = np.clip(np.arange(length)[None, :] - np.arange(length)[:, None], -max_offset, max_offset)
    bias = attention.position_bias.weight.detach().numpy()[offsets + max_offset].transpose(2, 0, 1)  # [H, L, L]
    logits = q @ k.transpose(0, 2, 1) / np.sqrt(d_k) + bias  # [H, L, L]
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)  # softmax over keys j
    context = (weights @ v).transpose(1, 0, 2).reshape(length, heads * d_k)  # [L, C_s]
    update = context @ attention.out.weight.detach().numpy().T + attention.out.bias.detach().numpy()
    return weights, update


def check_every_layer(network):
    trunk = network.trunk
    tokens = torch.from_numpy(encode_canonical(SEQUENCE))[None]  # [1, L]
    seen = {}
    hooks = [layer.register_forward_hook(lambda module, inputs, output, n=n: seen.__setitem__(n, (inputs[0], output)))
             for n, layer in enumerate(trunk.layers)]
    updates = {}
    hooks += [layer.attention.register_forward_hook(
        lambda module, inputs, output, n=n: updates.__setitem__(n, output[0])) for n, layer in enumerate(trunk.layers)]
    with torch.no_grad():
        out = network(tokens)  # float32: no autocast
    for hook in hooks:
        hook.remove()
    heads = trunk.config.num_heads
    for n, layer in enumerate(trunk.layers):
        x = seen[n][0][0].double().numpy()  # [L, C_s] the layer's input
        weights, update = attention_by_hand(layer, x, trunk.config.max_relative_position)
        np.testing.assert_allclose(weights, out.attention[0, n * heads:(n + 1) * heads].numpy(), atol=1e-5)
        np.testing.assert_allclose(update, updates[n][0].numpy(), atol=1e-5)
    # the offsets clipped by hand are the model's own buckets
    length, max_offset = len(SEQUENCE), trunk.config.max_relative_position
    offsets = np.clip(np.arange(length)[None, :] - np.arange(length)[:, None], -max_offset, max_offset)
    np.testing.assert_array_equal(offsets + max_offset, relative_position_buckets(length, max_offset).numpy())


def test_hand_computed_attention_equals_the_tiny_models(tiny_model):
    check_every_layer(tiny_model)


@pytest.mark.slow
def test_hand_computed_attention_equals_the_shipped_models():
    import foldlite

    check_every_layer(foldlite.load_model(runtime="torch").network)

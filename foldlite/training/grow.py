"""Growing trained weights into a larger network whose outputs start out unchanged.

Every surgery adds only zero-initialised parts: a template embedding (every projection zero),
dilated blocks or axial attention layers (each one's output projection is zero: the identity). The grown
model computes exactly what the loaded one did until training moves the new weights.
"""
from __future__ import annotations

from dataclasses import replace

from ..config import ModelConfig
from ..model.network import FoldliteModel


def _grown(model: FoldliteModel, config: ModelConfig, new_prefixes: tuple[str, ...], what: str) -> FoldliteModel:
    """A model of `config` holding all of `model`'s weights; only keys under new_prefixes may be new."""
    grown = FoldliteModel(config)
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not key.startswith(new_prefixes) for key in missing):
        raise RuntimeError(f"cannot add {what}: missing {missing}, unexpected {unexpected}")
    return grown


def add_template_features(model: FoldliteModel) -> FoldliteModel:
    """A model without template features -> the same weights plus a zero-initialised template
    embedding (outputs unchanged until training teaches it to use templates)."""
    if model.config.pair.templates:
        return model
    config = replace(model.config, pair=replace(model.config.pair, templates=True))
    return _grown(model, config, ("pair_stack.template.",), "template features")


def add_pair_blocks(model: FoldliteModel, num_blocks: int) -> FoldliteModel:
    """Append identity-initialised dilated blocks to the pair stack until it has num_blocks.

    The new blocks continue the dilation cycle (block i has dilations[i % len(dilations)]) and sit
    after the trained ones, just before the pair stack's final norm.
    """
    have = model.config.pair.num_blocks
    if num_blocks < have:
        raise ValueError(f"the pair stack already has {have} blocks; it cannot shrink to {num_blocks}")
    if num_blocks == have:
        return model
    config = replace(model.config, pair=replace(model.config.pair, num_blocks=num_blocks))
    new = tuple(f"pair_stack.blocks.{i}." for i in range(have, num_blocks))
    return _grown(model, config, new, f"{num_blocks - have} pair blocks")


def add_axial_layers(model: FoldliteModel, num_layers: int) -> FoldliteModel:
    """Give a pair stack without axial attention num_layers identity-initialised axial layers
    (placed evenly between its dilated blocks, see PairStack.axial_placement)."""
    have = model.config.pair.axial_layers
    if have and have != num_layers:
        raise ValueError(f"the pair stack already has {have} axial layers; only a stack without any can gain them")
    if num_layers == have:
        return model
    config = replace(model.config, pair=replace(model.config.pair, axial_layers=num_layers))
    return _grown(model, config, ("pair_stack.axial.",), f"{num_layers} axial attention layers")

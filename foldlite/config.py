"""Frozen configuration dataclasses. The model config is saved inside every checkpoint."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class TrunkConfig:
    """Self-attention trunk over residues (pre-norm transformer, relative-position bias)."""

    d_model: int = 256
    num_layers: int = 6
    num_heads: int = 8
    ffn_multiplier: int = 4
    max_relative_position: int = 32  # offsets beyond ±32 share one bias bucket per side
    dropout: float = 0.1


@dataclass(frozen=True)
class PairConfig:
    """Pair stack: outer features + relative positions + attention maps -> dilated 2D residual blocks."""

    channels: int = 64
    bottleneck: int = 32
    num_blocks: int = 12
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    max_relative_position: int = 32
    templates: bool = True  # template features enter the pair map (foldlite.templates.features)
    # rank of the low-rank outer product of residue features: 16 x 16 = 256 products per pair is
    # already 4x the pair channels; weights from before this field existed used 16
    outer_rank: int = 16
    # axial (row + column) attention layers spread evenly between the dilated blocks (0: none; the
    # weights shipped up to step 3,200 have none)
    axial_layers: int = 0
    axial_heads: int = 2  # of foldlite.model.axial.HEAD_DIM channels each


@dataclass(frozen=True)
class ModelConfig:
    trunk: TrunkConfig = field(default_factory=TrunkConfig)
    pair: PairConfig = field(default_factory=PairConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        pair = dict(data.get("pair", {}))
        pair.setdefault("templates", False)  # checkpoints written before template features existed
        if "dilations" in pair:
            pair["dilations"] = tuple(pair["dilations"])
        return cls(trunk=_build(TrunkConfig, data.get("trunk", {})), pair=_build(PairConfig, pair))


# Network sizes of the scaling study (issue 11; results/scaling.csv). "base" is the network shipped
# up to step 2,000 (5.1 M parameters); the others move capacity between the trunk and the pair stack,
# where contacts are predicted.
MODEL_RECIPES = {
    "base": ModelConfig(),
    "small": ModelConfig(trunk=TrunkConfig(d_model=192, num_layers=4, num_heads=8),
                         pair=PairConfig(channels=48, bottleneck=24, num_blocks=8)),
    "deep-pair": ModelConfig(trunk=TrunkConfig(d_model=128, num_layers=3, num_heads=8),
                             pair=PairConfig(channels=64, bottleneck=32, num_blocks=24)),
}


def _build(kind, data: dict):
    known = {f.name for f in fields(kind)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown {kind.__name__} keys: {sorted(unknown)}")
    return kind(**data)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; saved in the checkpoint beside the model config."""

    batch_size: int = 8
    crop_start: int = 64  # crop length at step 0 ...
    crop_end: int = 128  # ... growing linearly to this by crop_growth_steps
    crop_growth_steps: int = 4000
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-4
    warmup_steps: int = 200
    total_steps: int = 20000  # the schedule's horizon: the learning rate reaches min_learning_rate here
    decay_steps: int = 0  # 0: cosine decay from warm-up to total_steps; > 0: hold the peak, then decay over these last steps
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ss_loss_weight: float = 0.5
    torsion_loss_weight: float = 0.25
    ema_decay: float = 0.0  # > 0: also keep an exponential moving average of the weights, validated and shipped
    template_drop: float = 0.2  # chance a crop that has training templates is shown none of them
    train_templates: int = 2  # at most this many templates per training crop
    seed: int = 0
    eval_every: int = 250
    eval_chains: int = 100
    eval_max_length: int = 300
    checkpoint_every: int = 100

    def to_dict(self) -> dict:
        return asdict(self)

"""The foldlite network: tokens -> attention trunk -> pair stack -> distogram, SS and torsion heads.

Letters in shape comments: B batch, L residues, H heads, N trunk layers, C_s residue channels,
C_z pair channels, K distogram classes. Masks: True marks a real residue.

Padding never leaks into real positions: attention masks padded keys, and every 2D convolution sees
zeros at padded rows/columns, which is exactly what it sees beyond the border of an unpadded input.
So a padded batch gives the same outputs as each sequence alone (tests/model/test_network.py checks it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig, PairConfig, TrunkConfig
from ..constants import DISTOGRAM_BINS, DISTOGRAM_MAX, DISTOGRAM_MIN, NUM_DISTOGRAM_CLASSES, TORSION_BINS
from ..templates.features import NUM_RESIDUE_FEATURES
from ..tokenizer import PAD_TOKEN, VOCAB_SIZE
from .axial import AxialAttention
from .masking import apply_pair_mask

NUM_SS3 = 3
PAIR_ROW_CHUNK = 128  # rows of the pair map whose input features are built at once (bounds peak memory)
BLOCK_ROW_CHUNK = 256  # rows per slab of a dilated block at inference (only for longer chains)


def relative_position_buckets(length: int, max_offset: int, device=None) -> torch.Tensor:
    """[L, L] int bucket of j - i clipped to [-max_offset, max_offset], shifted to [0, 2*max_offset]."""
    positions = torch.arange(length, device=device)
    offsets = positions[None, :] - positions[:, None]  # [L, L]
    return offsets.clamp(-max_offset, max_offset) + max_offset


class SelfAttention(nn.Module):
    """Multi-head self-attention with a learned relative-position bias; returns its logits too."""

    def __init__(self, config: TrunkConfig):
        super().__init__()
        self.num_heads = config.num_heads
        self.head_dim = config.d_model // config.num_heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.out = nn.Linear(config.d_model, config.d_model)
        self.position_bias = nn.Embedding(2 * config.max_relative_position + 1, config.num_heads)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x, mask, buckets):
        batch, length, _ = x.shape
        # [B, L, 3, H, D] -> 3 x [B, H, L, D]
        q, k, v = self.qkv(x).view(batch, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        # [B, H, L, L] scaled dot products plus per-head relative-position bias
        logits = torch.einsum("bhid,bhjd->bhij", q, k) * self.head_dim ** -0.5
        logits = logits + self.position_bias(buckets).permute(2, 0, 1).unsqueeze(0)
        logits = logits.float().masked_fill(~mask[:, None, None, :], float("-inf"))
        weights = self.dropout(torch.softmax(logits, dim=-1))
        # [B, H, L, D] -> [B, L, H*D]
        context = torch.einsum("bhij,bhjd->bhid", weights.to(v.dtype), v)
        context = context.transpose(1, 2).reshape(batch, length, -1)
        return self.out(context), weights


class TransformerLayer(nn.Module):
    def __init__(self, config: TrunkConfig):
        super().__init__()
        self.attention_norm = nn.LayerNorm(config.d_model)
        self.attention = SelfAttention(config)
        self.ffn_norm = nn.LayerNorm(config.d_model)
        hidden = config.ffn_multiplier * config.d_model
        self.ffn = nn.Sequential(nn.Linear(config.d_model, hidden), nn.GELU(),
                                 nn.Linear(hidden, config.d_model))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x, mask, buckets):
        update, weights = self.attention(self.attention_norm(x), mask, buckets)
        x = x + self.dropout(update)
        x = x + self.dropout(self.ffn(self.ffn_norm(x)))
        return x, weights


class Trunk(nn.Module):
    """Token embedding + pre-norm transformer. Returns residue features and all attention maps."""

    def __init__(self, config: TrunkConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(VOCAB_SIZE, config.d_model, padding_idx=PAD_TOKEN)
        self.layers = nn.ModuleList(TransformerLayer(config) for _ in range(config.num_layers))
        self.final_norm = nn.LayerNorm(config.d_model)

    def forward(self, tokens, mask):
        buckets = relative_position_buckets(tokens.shape[1], self.config.max_relative_position, tokens.device)
        x = self.embed(tokens)  # [B, L, C_s]
        maps = []
        for layer in self.layers:
            x, weights = layer(x, mask, buckets)
            maps.append(weights)
        # [B, N*H, L, L] attention probabilities (rows sum to 1 over real keys)
        attention = torch.cat(maps, dim=1)
        return self.final_norm(x), attention


def linear_on_rows(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """layer(x) for x [..., C_in], computed on the 2-D matrix of its rows [N, C_in] -> [..., C_out].

    The same numbers as layer(x). Why: in an ONNX export this is one Gemm with the bias inside, while
    ONNX Runtime fuses a MatMul and its bias Add only for 2-D inputs; on [1, L, L, C] pair maps each
    bias add was a pass over the map of its own (~3 ms at 301 residues)."""
    return layer(x.reshape(-1, x.shape[-1])).view(*x.shape[:-1], layer.out_features)


class DilatedBlock(nn.Module):
    """Bottleneck residual block on a channels-last pair map: norm -> down -> 3x3 dilated conv -> up.

    The 1x1 projections are Linear layers on [B, L, L, C] (plain matmuls, the fastest path on CPU);
    the dilated 3x3 convolution sees the same memory as a channels-last [B, C, L, L] view. Padded
    positions are zeroed before the convolution, so they look exactly like the zero border of an
    unpadded input.
    """

    def __init__(self, channels: int, bottleneck: int, dilation: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.down = nn.Linear(channels, bottleneck)
        self.spatial = nn.Conv2d(bottleneck, bottleneck, 3, padding=dilation, dilation=dilation)
        self.mid_norm = nn.LayerNorm(bottleneck)
        self.up = nn.Linear(bottleneck, channels)
        nn.init.zeros_(self.up.weight)  # each block starts as the identity
        nn.init.zeros_(self.up.bias)
        self.whole_maps = False  # True: never row slabs (an export traced for any length; see onnx_export)

    def forward(self, z, pair_mask):
        """z [B, L, L, C_z], pair_mask [B, L, L, 1] or None (no padding) -> [B, L, L, C_z].

        Without autograd and for L > BLOCK_ROW_CHUNK, z is updated in place, one slab of rows at a
        time (see _forward_in_row_chunks): same result, without the ~10 full-size temporaries.
        """
        if not self.whole_maps and not torch.is_grad_enabled() and z.shape[1] > BLOCK_ROW_CHUNK:
            return self._forward_in_row_chunks(z, pair_mask)
        return z + self._update(z, pair_mask)

    def _update(self, z, pair_mask):
        # down on the 4-D map: there ONNX Runtime fuses its bias into the GELU (BiasGelu), cheaper than a Gemm's
        h = apply_pair_mask(F.gelu(self.down(self.norm(z))), pair_mask)  # [B, L, L, C_b]
        # [B, C_b, L, L] view of the channels-last data: no copy. The oneDNN convolution takes and
        # returns it in channels-last memory, ~4x faster on CPU than a .contiguous() NCHW copy.
        h = self.spatial(h.permute(0, 3, 1, 2))
        h = F.gelu(self.mid_norm(h.permute(0, 2, 3, 1)))  # [B, L, L, C_b], contiguous again
        return apply_pair_mask(linear_on_rows(self.up, h), pair_mask)

    def _forward_in_row_chunks(self, z, pair_mask):
        """Inference at large L: rows [a, b) of the update depend only on rows [a - d, b + d) of z
        (d = dilation, the 3x3 kernel's reach), so each slab is computed from a halo-extended slab.
        A slab's update is added once the next slab has been computed (that slab's halo must still
        see the old rows), so two slabs are held at a time. The convolution's zero padding at a
        slab edge only touches halo rows, which are dropped; at the map's own edges the slab edge is
        the map edge, as in the unchunked computation."""
        length, reach = z.shape[1], self.spatial.dilation[0]
        assert BLOCK_ROW_CHUNK >= reach, "a halo must not reach past the previous slab"
        pending = None  # (start row, update) of the previous slab, not yet added
        for start in range(0, length, BLOCK_ROW_CHUNK):
            stop = min(start + BLOCK_ROW_CHUNK, length)
            lo, hi = max(0, start - reach), min(length, stop + reach)
            slab_mask = None if pair_mask is None else pair_mask[:, lo:hi]
            update = self._update(z[:, lo:hi], slab_mask)[:, start - lo:stop - lo]  # [B, rows, L, C_z]
            if pending is not None:
                z[:, pending[0]:pending[0] + pending[1].shape[1]] += pending[1]
            pending = (start, update)
        z[:, pending[0]:pending[0] + pending[1].shape[1]] += pending[1]
        return z


class PairStack(nn.Module):
    """Pair features from residue features, relative positions and attention maps -> dilated blocks."""

    def __init__(self, config: PairConfig, d_model: int, attention_channels: int):
        super().__init__()
        self.config = config
        c = config.channels
        self.left = nn.Linear(d_model, c)
        self.right = nn.Linear(d_model, c)
        rank = config.outer_rank
        self.outer_left = nn.Linear(d_model, rank)
        self.outer_right = nn.Linear(d_model, rank)
        self.outer_proj = nn.Linear(rank * rank, c)
        self.relative_position = nn.Embedding(2 * config.max_relative_position + 1, c)
        self.attention_proj = nn.Linear(attention_channels, c)
        self.template = TemplateEmbedding(c) if config.templates else None
        self.blocks = nn.ModuleList(
            DilatedBlock(c, config.bottleneck, config.dilations[i % len(config.dilations)])
            for i in range(config.num_blocks))
        self.axial = nn.ModuleList(AxialAttention(c, config.axial_heads) for _ in range(config.axial_layers))
        self.final_norm = nn.LayerNorm(c)
        self.whole_maps = False  # True: input features for all rows at once (see onnx_export)

    def _outer_partners(self, right: torch.Tensor) -> torch.Tensor:
        """right [B, L, R] -> P [B, R, L * C_z] with P[b, a, (j, k)] = Σ_c right[b, j, c] W[k, a R + c]
        (W: outer_proj's weight [C_z, R²]), so that outer_proj(left_i ⊗ right_j) = left_i @ P[:, :, j] + bias.

        The same numbers as projecting the [B, L, L, R²] outer product, in two matmuls and without it:
        ~R (16) times fewer multiplications, and no [r, L, R²] temporary (0.5 GB per 128 rows at L = 1000).
        """
        batch, length, rank = right.shape
        channels = self.outer_proj.out_features
        weight = self.outer_proj.weight.view(channels, rank, rank).permute(2, 1, 0).reshape(rank, rank * channels)
        partners = (right @ weight).view(batch, length, rank, channels)  # [B, L(j), R(a), C_z]
        return partners.permute(0, 2, 1, 3).reshape(batch, rank, length * channels)

    def axial_placement(self) -> list[int]:
        """Per axial layer, the index of the dilated block it follows: spread evenly (1 layer in 12
        blocks: after block 5, the middle, so the later blocks refine what it gathered)."""
        count, blocks = self.config.axial_layers, self.config.num_blocks
        return [max(0, (blocks * (k + 1)) // (count + 1) - 1) for k in range(count)]

    def forward(self, s, attention, mask, templates=None):
        """s [B, L, C_s], attention [B, N*H, L, L], mask [B, L] -> z [B, L, L, C_z].

        templates: None or (distance [B, T, L, L] Å with NaN where unaligned, residue [B, T, L, 3]).
        """
        batch, length, _ = s.shape
        # outer sum: [B, L, 1, C_z] + [B, 1, L, C_z], the one full-size map; every other feature is
        # computed for PAIR_ROW_CHUNK rows at a time and added into it (at L = 2000 a [B, L, L, C_z]
        # map is 1 GB; each feature's full-size temporaries would add as much again)
        z = self.left(s)[:, :, None, :] + self.right(s)[:, None, :, :]
        left, right = self.outer_left(s), self.outer_right(s)  # [B, L, R] (R = outer_rank)
        partners = self._outer_partners(right)  # [B, R, L * C_z]
        buckets = relative_position_buckets(length, self.config.max_relative_position, s.device)  # [L, L]
        use_templates = templates is not None and self.template is not None
        # slice(None), not slice(0, L): a trace for export must not record the traced length
        row_slices = [slice(None)] if self.whole_maps else [
            slice(start, start + PAIR_ROW_CHUNK) for start in range(0, length, PAIR_ROW_CHUNK)]
        for rows in row_slices:
            # outer_proj of the low-rank outer product left_i ⊗ right_j: [B, r, L, C_z] (r rows of this chunk)
            features = (left[:, rows] @ partners).view(batch, -1, length, self.config.channels) + self.outer_proj.bias
            features = features + self.relative_position(buckets[rows])[None]
            # attention maps symmetrised, as pair features: [B, N*H, r, L] -> [B, r, L, N*H]
            symmetric = attention[:, :, rows] + attention[:, :, :, rows].transpose(-1, -2)
            features = features + self.attention_proj(symmetric.permute(0, 2, 3, 1).to(z.dtype))
            if use_templates:
                features = features + self.template(*templates, rows=rows).to(z.dtype)
            if self.whole_maps:
                z = z + features
            else:
                z[:, rows] += features
        pair_mask = None  # no padding: every mask below would multiply by ones
        if not bool(mask.all()):
            pair_mask = (mask[:, :, None] & mask[:, None, :]).unsqueeze(-1).to(z.dtype)  # [B, L, L, 1]
            z = z * pair_mask
        placement = self.axial_placement()
        for index, block in enumerate(self.blocks):
            z = block(z, pair_mask)
            for layer, after in zip(self.axial, placement):
                if after == index:
                    z = layer(z, mask, pair_mask)
        z = self.final_norm(z)
        # in place: layer-norm backward needs only its input
        return z if pair_mask is None else z.mul_(pair_mask)


class TemplateEmbedding(nn.Module):
    """Aligned templates -> a pair-map update: mean over the templates that cover each pair of
    embed(distance bin of the template's Cβ pair) + left(residue i features) + right(residue j).

    Pairs no template covers get exactly zero, so a query without templates sees the plain model.
    All projections start at zero: adding this module to trained weights leaves their outputs unchanged.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.distance = nn.Embedding(NUM_DISTOGRAM_CLASSES, channels)
        self.left = nn.Linear(NUM_RESIDUE_FEATURES, channels)
        self.right = nn.Linear(NUM_RESIDUE_FEATURES, channels)
        for weight in (self.distance.weight, self.left.weight, self.left.bias, self.right.weight, self.right.bias):
            nn.init.zeros_(weight)
        # upper bin edges, Å: bucketize gives the class of foldlite.constants.distance_to_class
        # (below 2 Å -> 0, 22 Å and beyond -> the overflow class 64)
        edges = torch.linspace(DISTOGRAM_MIN, DISTOGRAM_MAX, DISTOGRAM_BINS + 1)[1:]
        self.register_buffer("edges", edges, persistent=False)
        self.whole_maps = False  # True: operations an ONNX export runs fast (see _embedded_bins_for_export)

    def forward(self, distance, residue, rows: slice = slice(None)):
        """distance [B, T, L, L] Å (NaN: unaligned), residue [B, T, L, 3] -> [B, r, L, C_z] for the
        query rows `rows` (default all: r = L).

        The mean over templates is computed without a [B, T, r, L, C_z] temporary: the embedded bins'
        weighted sum is one embedding_bag, and since left and right are affine, the weighted sum of
        left(residue i) + right(residue j) is one small Linear of the weighted sums of the residue
        features and of the weights themselves (at L = 300 with 4 templates: ~8 passes over an
        [L, L, C_z] map instead of ~30)."""
        aligned = residue[..., 0] > 0  # [B, T, L]
        d = distance[:, :, rows]  # [B, T, r, L]
        covered = aligned[:, :, rows, None] & aligned[:, :, None, :] & ~torch.isnan(d)  # [B, T, r, L]
        weight = covered.to(residue.dtype)  # [B, T, r, L]
        batch, count, r, length = weight.shape
        per_pair = (0, 2, 3, 1)  # [B, T, r, L] -> [B, r, L, T]: a pair's templates side by side
        if self.whole_maps:
            embedded = self._embedded_bins_for_export(torch.nan_to_num(d, nan=0.0), weight.permute(per_pair))
        else:
            bins = torch.bucketize(torch.nan_to_num(d, nan=0.0), self.edges, right=True)  # [B, T, r, L]
            embedded = F.embedding_bag(bins.permute(per_pair).reshape(-1, count), self.distance.weight,
                                       per_sample_weights=weight.permute(per_pair).reshape(-1, count),
                                       mode="sum").view(batch, r, length, -1)  # Σ_t w E[bin]
        # Σ_t w_tij (W_l x_ti + b_l + W_r x_tj + b_r) = [Σ w x_i, Σ w x_j, Σ w] @ [W_l, W_r, b_l + b_r]ᵀ
        sums = torch.cat([torch.einsum("btij,btif->bijf", weight, residue[:, :, rows]),
                          torch.einsum("btij,btjf->bijf", weight, residue),
                          weight.sum(1)[..., None]], dim=-1)  # [B, r, L, 2 F + 1]
        affine = torch.cat([self.left.weight, self.right.weight, (self.left.bias + self.right.bias)[:, None]], 1)
        total = embedded + sums @ affine.t()  # [B, r, L, C_z]
        return total / sums[..., -1:].clamp(min=1.0)

    def _embedded_bins_for_export(self, distance: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Σ_t w E[bin(d_t)] as a weighted histogram of the bins times E: distance [B, T, r, L] Å (no
        NaN), weight [B, r, L, T] -> [B, r, L, C_z]. The same numbers as the embedding_bag path: the
        bin edges are 2 + 0.3125 k Å, exact in binary, so floor((d - 2) / 0.3125) is bucketize's class.
        ONNX exporters turn bucketize and embedding_bag into slow loops (one per pair), hence this."""
        width = (DISTOGRAM_MAX - DISTOGRAM_MIN) / DISTOGRAM_BINS
        bins = ((distance - DISTOGRAM_MIN) / width).floor().clamp(0, DISTOGRAM_BINS).long()  # [B, T, r, L]
        histogram = weight.new_zeros(*weight.shape[:3], NUM_DISTOGRAM_CLASSES)  # [B, r, L, K]
        histogram = histogram.scatter_add(-1, bins.permute(0, 2, 3, 1), weight)
        return histogram @ self.distance.weight


def softmax_in_place(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis, reusing the logits' memory (1 GB at L = 2000 for the distogram)."""
    logits.sub_(logits.amax(-1, keepdim=True)).exp_()
    return logits.div_(logits.sum(-1, keepdim=True))


@dataclass
class ModelOutput:
    """Logits of every head (float32) and the trunk's attention maps.

    distogram [B, L, L, K] (symmetric), ss3 [B, L, 3], phi/psi/ca_torsion [B, L, 36],
    attention [B, N*H, L, L].
    """

    distogram: torch.Tensor
    ss3: torch.Tensor
    phi: torch.Tensor
    psi: torch.Tensor
    ca_torsion: torch.Tensor
    attention: torch.Tensor


class FoldliteModel(nn.Module):
    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        trunk, pair = self.config.trunk, self.config.pair
        self.trunk = Trunk(trunk)
        self.pair_stack = PairStack(pair, trunk.d_model, trunk.num_layers * trunk.num_heads)
        self.distogram_head = nn.Linear(pair.channels, NUM_DISTOGRAM_CLASSES)
        # per-residue heads see the trunk features and the row-mean of the pair representation
        residue_in = trunk.d_model + pair.channels
        self.residue_head = nn.Sequential(
            nn.Linear(residue_in, trunk.d_model), nn.GELU(), nn.LayerNorm(trunk.d_model))
        self.ss3_head = nn.Linear(trunk.d_model, NUM_SS3)
        self.torsion_head = nn.Linear(trunk.d_model, 3 * TORSION_BINS)

    def use_whole_maps(self, enabled: bool = True) -> FoldliteModel:
        """Compute every pair map in one piece, with no loop over rows and only export-friendly
        operations, so that a trace holds for any length (foldlite.model.onnx_export); same outputs,
        more memory at large L. Returns the model."""
        for module in self.modules():
            if hasattr(module, "whole_maps"):
                module.whole_maps = enabled
        return self

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None,
                templates: tuple[torch.Tensor, torch.Tensor] | None = None) -> ModelOutput:
        """tokens [B, L] int64 (PAD_TOKEN at padding); mask [B, L] bool (default: tokens != PAD);
        templates: None or (distance [B, T, L, L] float Å, NaN where unaligned; residue [B, T, L, 3]),
        see foldlite.templates.features. Ignored by models built without template features."""
        if mask is None:
            mask = tokens != PAD_TOKEN
        s, attention = self.trunk(tokens, mask)  # [B, L, C_s], [B, N*H, L, L]
        z = self.pair_stack(s, attention, mask, templates)  # [B, L, L, C_z]
        logits = linear_on_rows(self.distogram_head, z).float()  # [B, L, L, K]
        distogram = (logits + logits.transpose(1, 2)).mul_(0.5)  # symmetric in i, j
        # masked mean of the pair representation over partners j: [B, L, C_z]
        weights = mask.to(z.dtype)
        # a batched product [B, L, 1, L] @ [B, L, L, C_z] (ONNX Runtime ran the einsum "bijc,bj->bic"
        # ~10x slower: 40 ms of the network's ~600 at 301 residues)
        pooled = (weights[:, None, None, :] @ z).squeeze(2) / weights.sum(-1).clamp(min=1)[:, None, None]
        residue = self.residue_head(torch.cat([s, pooled.to(s.dtype)], dim=-1))
        torsions = self.torsion_head(residue).float().view(*residue.shape[:2], 3, TORSION_BINS)
        return ModelOutput(
            distogram=distogram,
            ss3=self.ss3_head(residue).float(),
            phi=torsions[:, :, 0],
            psi=torsions[:, :, 1],
            ca_torsion=torsions[:, :, 2],
            attention=attention,
        )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

"""Axial (row, then column) self-attention over the pair map.

The dilated convolutions of the pair stack see pairs within ±45 residues of (i, j) in both directions
(12 blocks, dilations 1-8); a contact between two far segments must be inferred from the trunk's
attention maps alone. Row attention lets pair (i, j) read every pair (i, k) of its row and column
attention every pair (k, j) of its column, so a layer mixes evidence across the whole map (the
idea of axial attention in RoseTTAFold's and trRosetta2's pair tracks; not triangle attention, which
adds a bias from the third edge).

Shapes: B batch, L residues, C pair channels, H heads, d = HEAD_DIM channels per head. The attention is PyTorch's
scaled_dot_product_attention with each row (or column) as one sequence, so its memory on CPU is
linear in L per row; at inference without autograd the map is updated one slab of rows at a time.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .masking import apply_pair_mask

AXIAL_ROW_CHUNK = 64  # rows (or columns) attended at once at inference: bounds the [r, L, 3Hd] projections
HEAD_DIM = 16  # channels per head; with 2 heads the attention runs on 32 of the 64 pair channels: a
# layer's forward + backward costs ~4 dilated blocks, ~7 with 4 heads (128-residue crops, 1 thread)


class AxisAttention(nn.Module):
    """Pre-norm multi-head attention along the last residue axis of z [B, L, L, C], for each row
    independently; returns the update (the caller adds it). The output projection starts at zero,
    so a new layer leaves a trained network's outputs unchanged."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * heads * HEAD_DIM, bias=False)
        self.out = nn.Linear(heads * HEAD_DIM, channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """z [B, r, L, C] (r rows), mask [B, L] bool (real residues) -> update [B, r, L, C].

        Padded keys are masked; padded query rows get finite values that the caller's pair mask zeroes."""
        batch, rows, length, _ = z.shape
        q, k, v = (self.qkv(self.norm(z))  # [B, r, L, 3*H*d] -> 3 x [B*r, H, L, d]
                   .view(batch * rows, length, 3, self.heads, HEAD_DIM)
                   .permute(2, 0, 3, 1, 4))
        keys = mask[:, None, None, None, :].expand(batch, rows, 1, 1, length).reshape(batch * rows, 1, 1, length)
        # float32 even under bf16 autocast: PyTorch 2.13's CPU attention is 5-8x slower in bf16 than in
        # float32 (forward + backward, [512, 4, 128, 16] heads, measured on AMX hardware)
        with torch.autocast(z.device.type, enabled=False):
            attended = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=keys)  # [B*r, H, L, d]
        attended = attended.transpose(1, 2).reshape(batch, rows, length, self.heads * HEAD_DIM).to(q.dtype)
        return self.out(attended)


class AxialAttention(nn.Module):
    """Row attention then column attention, each residual: z [B, L, L, C] -> z [B, L, L, C]."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.row = AxisAttention(channels, heads)
        self.column = AxisAttention(channels, heads)
        self.whole_maps = False  # True: never row slabs (an export traced for any length)

    def forward(self, z: torch.Tensor, mask: torch.Tensor, pair_mask: torch.Tensor) -> torch.Tensor:
        """z [B, L, L, C], mask [B, L] bool, pair_mask [B, L, L, 1] or None (no padding) -> [B, L, L, C]."""
        z = self._along_rows(self.row, z, mask, pair_mask)
        # columns of z are the rows of its transpose (a view: the in-place path writes into z)
        columns_mask = None if pair_mask is None else pair_mask.transpose(1, 2)
        return self._along_rows(self.column, z.transpose(1, 2), mask, columns_mask).transpose(1, 2)

    def _along_rows(self, attention: AxisAttention, z, mask, pair_mask):
        if self.whole_maps or torch.is_grad_enabled():
            return z + apply_pair_mask(attention(z, mask), pair_mask)
        # inference: row i's update depends on row i alone, so slabs of rows are updated in place
        for start in range(0, z.shape[1], AXIAL_ROW_CHUNK):
            rows = slice(start, start + AXIAL_ROW_CHUNK)
            rows_mask = None if pair_mask is None else pair_mask[:, rows]
            z[:, rows] += apply_pair_mask(attention(z[:, rows], mask), rows_mask)
        return z

"""The figure of `foldlite attention`: every head's symmetrised, APC-corrected attention map in a
layers x heads grid, and below it the pair stack's contact map, the attention probe's and the true
contacts. Drawn on a plain matplotlib Figure (no pyplot: the user's backend is left alone)."""
from __future__ import annotations

import numpy as np

LONG_RANGE = 24  # |i - j| >= this: the pairs a head's precision is scored on


def top_long_range_pairs(probs: np.ndarray, count: int, min_sep: int = LONG_RANGE) -> tuple[np.ndarray, np.ndarray]:
    """The `count` highest-scoring pairs i < j with j - i >= min_sep of a [L, L] map -> (i [k], j [k])."""
    i, j = np.triu_indices(len(probs), k=max(1, min_sep))
    top = np.argsort(-probs[i, j], kind="stable")[:count]
    return i[top], j[top]


def _map_panel(ax, values: np.ndarray, title: str, cmap: str = "Greys", vmax: float | None = None,
               true_contacts: np.ndarray | None = None, fontsize: float = 7) -> None:
    """One [L, L] map; with true contacts, its top-L/5 long-range pairs are marked in the lower
    triangle, green where the reference has a contact and red where it has none."""
    length = len(values)
    if vmax is None:  # the strongest 1 % of off-diagonal values saturate: the structure stays visible
        off = values[~np.eye(length, dtype=bool)]
        vmax = float(np.percentile(off, 99)) if off.size else 1.0
    ax.imshow(values, cmap=cmap, vmin=0.0, vmax=max(vmax, 1e-6), interpolation="nearest")
    if true_contacts is not None:
        i, j = top_long_range_pairs(values, max(1, length // 5))
        hit = true_contacts[i, j]
        ax.scatter(i[hit], j[hit], s=4, c="#1a9850", marker="s", linewidths=0)
        ax.scatter(i[~hit], j[~hit], s=4, c="#d73027", marker="s", linewidths=0)
        ax.set_xlim(-0.5, length - 0.5)
        ax.set_ylim(length - 0.5, -0.5)
    ax.set_title(title, fontsize=fontsize)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_attention(features: np.ndarray, num_heads: int, contacts: np.ndarray,
                   probe_contacts: np.ndarray | None = None, true_contacts: np.ndarray | None = None,
                   precisions: list[float] | None = None, summary: dict | None = None, title: str = ""):
    """features [N*H, L, L] APC maps; contacts / probe_contacts [L, L] P(contact); true_contacts
    [L, L] bool or None; precisions: one per head (NaN without a reference); summary: {"pair stack":
    precision, "attention probe": precision} for the lower panels' titles. Returns a Figure."""
    from matplotlib.figure import Figure

    layers = features.shape[0] // num_heads
    columns = max(num_heads, 3)  # room for the three lower panels
    fig = Figure(figsize=(1.55 * columns, 1.6 * layers + 4.3), layout="constrained")
    fig.suptitle(title, fontsize=10)
    grid = fig.add_gridspec(layers + 1, columns, height_ratios=[1] * layers + [2.6])
    for c, feature in enumerate(features):
        layer, head = divmod(c, num_heads)
        label = f"L{layer + 1}H{head + 1}"
        if precisions is not None and np.isfinite(precisions[c]):
            label += f"  {precisions[c]:.2f}"
        # negative APC values are below the background: shown as 0
        _map_panel(fig.add_subplot(grid[layer, head]), np.clip(feature, 0.0, None), label,
                   true_contacts=true_contacts)
    summary = summary or {}

    def named(name: str) -> str:
        value = summary.get(name)
        return name + (f"  LR top-L/5 {value:.2f}" if value is not None and np.isfinite(value) else "")

    bottom = [(contacts, named("pair stack") + "\nP(Cβ < 8 Å)", "viridis")]
    if probe_contacts is not None:
        bottom.append((probe_contacts, named("attention probe") + "\nP(Cβ < 8 Å)", "viridis"))
    if true_contacts is not None:
        bottom.append((true_contacts.astype(float), "reference\nCβ < 8 Å", "Greys"))
    span = columns // 3
    for k, (values, label, cmap) in enumerate(bottom):
        ax = fig.add_subplot(grid[layers, k * span:(k + 1) * span])
        _map_panel(ax, values, label, cmap=cmap, vmax=1.0,
                   true_contacts=true_contacts if cmap != "Greys" else None, fontsize=9)
    if true_contacts is not None:
        fig.text(0.99, 0.005, "squares: each map's top-L/5 long-range pairs (|i-j| >= 24), green = contact "
                 "in the reference, red = none; numbers: their precision", ha="right", fontsize=7)
    return fig


def figure_png(figure, dpi: int = 90) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()

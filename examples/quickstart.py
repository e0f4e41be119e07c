# %% [markdown]
# # foldlite quickstart
# Fold a protein on the CPU, look at its confidence, distance map, attention maps and 3D structure.
# This script and `quickstart.ipynb` hold the same cells (`python examples/make_notebook.py` rebuilds
# the notebook from this file).

# %%
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files, not windows; in a notebook the figures show inline anyway
import matplotlib.pyplot as plt
import numpy as np

import foldlite

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else Path("quickstart_out")
WEIGHTS = None  # None: the shipped weights

# %% Fold ubiquitin
ubiquitin = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
model = foldlite.load_model(WEIGHTS)
pred = foldlite.fold(ubiquitin, model=model, record_id="ubiquitin")
print(f"{len(pred.sequence)} residues, mean pLDDT {pred.mean_plddt:.1f}, {pred.timings['total']:.2f} s")
print("predicted SS:", pred.secondary_structure)

# %% Distogram, contacts and pLDDT in one figure
figure = pred.plot()
OUT.mkdir(parents=True, exist_ok=True)
figure.savefig(OUT / "ubiquitin_overview.png", dpi=90)

# %% Attention maps: the trunk's heads, symmetrised and averaged per layer, next to the contact map
attention = pred.attention.astype(np.float32)  # [layers * heads, L, L]
heads = model.network.config.trunk.num_heads
per_layer = attention.reshape(-1, heads, *attention.shape[1:]).mean(1)  # [layers, L, L]
per_layer = per_layer + per_layer.transpose(0, 2, 1)
fig, axes = plt.subplots(1, len(per_layer) + 1, figsize=(2.2 * (len(per_layer) + 1), 2.4))
for layer, axis in enumerate(axes[:-1]):
    axis.imshow(per_layer[layer], cmap="magma")
    axis.set_title(f"layer {layer + 1}", fontsize=8)
    axis.axis("off")
axes[-1].imshow(pred.contacts, cmap="Greys", vmin=0, vmax=1)
axes[-1].set_title("P(contact)", fontsize=8)
axes[-1].axis("off")
fig.savefig(OUT / "ubiquitin_attention.png", dpi=90)

# %% Save PDB, JSON, distogram, figure and the HTML report; view in 3D
paths = pred.save(OUT, overwrite=True, html=True)  # ubiquitin.html: a report that opens offline
print({kind: str(path) for kind, path in paths.items()})
view = pred.view()  # py3Dmol with 3Dmol.js inline (no internet); color="rainbow" or "ss" also work
view  # in a notebook, the last expression displays the structure coloured by pLDDT

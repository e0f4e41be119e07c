# %% [markdown]
# # foldlite quickstart
# Fold a protein on the CPU, look at its confidence, distance map, attention maps and 3D structure.
# This script and `quickstart.ipynb` hold the same cells (`python examples/make_notebook.py` rebuilds
# the notebook from this file).

# %%
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt  # foldlite leaves the backend alone: inline in notebooks, files in scripts
import numpy as np

import foldlite

# output folder: the first argument, else a new temporary folder (nothing is written beside this file)
if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):  # a notebook kernel's argv starts with "-f"
    OUT = Path(sys.argv[1])
else:
    OUT = Path(tempfile.mkdtemp(prefix="foldlite_quickstart_"))
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
# The last expression of a notebook cell is displayed: the structure, coloured by pLDDT, drawn with
# the 3Dmol.js that foldlite ships (no internet needed); color="rainbow" or "ss" also work.
pred.view()

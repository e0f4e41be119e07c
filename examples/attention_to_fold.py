# %% [markdown]
# # From attention to a fold
# One real protein, every stage of foldlite with the shipped model: tokens → one attention layer
# computed by hand from the model's own weights → the attention maps of all heads → the pair stack →
# the distogram → distances → 3D (MDS, then refinement, then the hand) → the PDB, with a picture at
# each step and the TM-score to the real structure.
#
# The protein is 1AHO_A (64 residues, a scorpion toxin), a chain of the **test** split: the model
# never trained on it or on anything within 30 % sequence identity of it. Its experimental structure
# ships in `tests/fixtures/`. Everything runs offline on the CPU in well under two minutes. This
# script and `attention_to_fold.ipynb` hold the same cells (`python examples/make_notebook.py`
# rebuilds the notebook from this file).

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt  # foldlite leaves the backend alone: inline in notebooks, files in scripts
import numpy as np
import torch

import foldlite
from foldlite.io.pdb import read_structure

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()  # a notebook runs in examples/
native = read_structure(HERE.parent / "tests" / "fixtures" / "1AHO_A.pdb")  # the real structure
sequence = native.sequence
model = foldlite.load_model(runtime="torch")  # the shipped weights, on torch: the cells below look inside its modules
network = model.network.float().eval()
print(f"{native.name}: {len(sequence)} residues\n{sequence}")
print(model.version, "|", network.config.trunk)

# %% [markdown]
# ## 1. Tokens
# Each residue becomes an integer (20 amino acids + X), and each integer a learned vector of
# d_model numbers: the embedding, the only thing the trunk knows about a residue to begin with.

# %%
from foldlite.tokenizer import ALPHABET, encode_canonical

tokens = encode_canonical(sequence)  # [L] int64
embedding = network.trunk.embed.weight.detach().numpy()[tokens]  # [L, C_s]
print("tokens:", tokens[:12], "...  alphabet:", ALPHABET)
fig, axes = plt.subplots(1, 2, figsize=(11, 2.6), gridspec_kw={"width_ratios": [1, 2.2]})
axes[0].imshow(tokens[None], aspect="auto", cmap="tab20")
axes[0].set_title("tokens along the sequence")
axes[0].set_yticks([])
axes[1].imshow(embedding.T, aspect="auto", cmap="RdBu_r", vmin=-2, vmax=2)
axes[1].set_title("token embeddings [C_s x L] (layer 1's input)")
axes[1].set_xlabel("residue")
plt.show()

# %% [markdown]
# ## 2. One attention layer, by hand
# Layer 1 of the trunk, written out with numpy from the model's own weights
# (`foldlite/model/network.py`): pre-norm (LayerNorm), one linear map to queries, keys and values,
# split into H heads of d_k channels; logits QKᵀ/√d_k **plus a learned bias per head for each
# sequence offset j − i** (clipped at ±32); softmax over the keys j; weights·V; the heads
# concatenated and mapped back to d_model. A forward hook records what the model itself computes, and the
# two must agree to 1e-5.

# %%
layer = network.trunk.layers[0]
heads, d_k = layer.attention.num_heads, layer.attention.head_dim
max_offset = network.trunk.config.max_relative_position
length = len(sequence)


def weight(module, name="weight"):
    return getattr(module, name).detach().double().numpy()


x = embedding.astype(np.float64)  # [L, C_s]
norm = layer.attention_norm
h = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + norm.eps) * weight(norm) + weight(norm, "bias")
qkv = h @ weight(layer.attention.qkv).T + weight(layer.attention.qkv, "bias")  # [L, 3 * H * d_k]
q, k, v = qkv.reshape(length, 3, heads, d_k).transpose(1, 2, 0, 3)  # 3 x [H, L, d_k]
offsets = np.clip(np.arange(length)[None, :] - np.arange(length)[:, None], -max_offset, max_offset)  # [L, L] j - i
position_bias = weight(layer.attention.position_bias)[offsets + max_offset].transpose(2, 0, 1)  # [H, L, L]
logits = q @ k.transpose(0, 2, 1) / np.sqrt(d_k) + position_bias  # [H, L, L]
attn = np.exp(logits - logits.max(-1, keepdims=True))
attn /= attn.sum(-1, keepdims=True)  # softmax over keys j: each row sums to 1
update = (attn @ v).transpose(1, 0, 2).reshape(length, heads * d_k) @ weight(layer.attention.out).T \
    + weight(layer.attention.out, "bias")  # [L, C_s], what layer 1 adds to the residue features

recorded = {}
hook = layer.attention.register_forward_hook(lambda module, inputs, output: recorded.update(update=output[0]))
with torch.no_grad():
    out = network(torch.from_numpy(tokens)[None])  # float32, single sequence, no templates
hook.remove()
diff_weights = np.abs(attn - out.attention[0, :heads].numpy()).max()
diff_update = np.abs(update - recorded["update"][0].numpy()).max()
print(f"max |hand - model|: attention weights {diff_weights:.1e}, layer output {diff_update:.1e}")
assert diff_weights < 1e-5 and diff_update < 1e-5

head = 0
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
for axis, values, title in zip(axes, (q[head] @ k[head].T / np.sqrt(d_k), position_bias[head], attn[head]),
                               ("QKᵀ/√d_k (head 1)", "+ relative-position bias", "softmax: attention weights")):
    image = axis.imshow(values, cmap="viridis")
    axis.set_title(title)
    fig.colorbar(image, ax=axis, shrink=0.8)
plt.show()

# %% [markdown]
# ## 3. The attention maps of all heads
# Six layers × eight heads, each map symmetrised (A + Aᵀ) and corrected for the average product
# (APC: subtract row-sum × column-sum / total, the background each residue gets just for attending
# a lot). Each head is scored as a contact predictor: the precision of its top L/5 long-range pairs
# (|i − j| ≥ 24) against the real Cβ–Cβ < 8 Å contacts. The attention probe, a logistic regression
# over all heads fitted on training chains (`tools/fit_attention_probe.py`), combines them:
# `pred.attention_contacts`. The same figure comes from `foldlite attention SEQUENCE --reference native.pdb`.

# %%
from IPython.display import display

from foldlite.evaluation.attention import attention_view
from foldlite.io.attention_plot import plot_attention
from foldlite.model.attention_probe import load_probe

view = attention_view(model, sequence, reference=native, probe=load_probe())
rows = view.table()
precisions = [row["lr_top_l5_precision"] for row in rows[:-2]]
best = int(np.nanargmax(precisions))
print(f"best head {rows[best]['map']}: {precisions[best]:.2f};  mean over heads {np.nanmean(precisions):.2f};  "
      f"attention probe {rows[-2]['lr_top_l5_precision']:.2f};  pair stack {rows[-1]['lr_top_l5_precision']:.2f}")
display(plot_attention(view.features, view.num_heads, view.contacts, view.probe_contacts, view.true_contacts,
                       precisions, {"attention probe": rows[-2]["lr_top_l5_precision"],
                                    "pair stack": rows[-1]["lr_top_l5_precision"]}, title="1AHO_A"))

# %% [markdown]
# ## 4. The pair stack and the distogram
# The pair stack builds a map of residue pairs from the residue features (outer sum and a low-rank
# outer product), the relative position and the 48 symmetrised attention maps, then refines it with
# 12 dilated convolution blocks. Its head gives, for every pair, a distribution over 64 Cβ–Cβ
# distance bins from 2 to 22 Å and one for "beyond 22 Å": the distogram.

# %%
from foldlite.api import run_network
from foldlite.constants import CONTACT_CLASSES, DISTOGRAM_CENTERS

recorded = {}
hook = network.pair_stack.register_forward_hook(lambda module, inputs, output: recorded.update(z=output[0]))
net = run_network(model, sequence, templates=None)  # the pipeline's own call: probabilities as numpy
hook.remove()
z = recorded["z"].float().numpy()  # [L, L, C_z] the pair representation
true_cb = native.cb
true_distances = np.linalg.norm(true_cb[:, None] - true_cb[None], axis=-1)  # [L, L] Å
centres = np.append(DISTOGRAM_CENTERS, 23.0)  # the 64 bins' centres (Å), and "> 22 Å" drawn at 23
fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
axes[0].imshow(np.linalg.norm(z, axis=-1), cmap="magma")
axes[0].set_title(f"pair features |z| ({z.shape[-1]} ch.)")
i, j = 10, 40
axes[1].bar(centres, net.distogram[i, j], width=0.3)
axes[1].axvline(true_distances[i, j], color="red", label="real")
axes[1].set_title(f"distogram of pair ({i + 1}, {j + 1})")
axes[1].set_xlabel("Cβ–Cβ distance (Å)")
axes[1].legend()
axes[2].imshow(net.distogram[..., :CONTACT_CLASSES].sum(-1), cmap="Greys", vmin=0, vmax=1)
axes[2].set_title("P(Cβ–Cβ < 8 Å), pair stack")
axes[3].imshow(true_distances < 8, cmap="Greys")
axes[3].set_title("real contacts (< 8 Å)")
plt.show()

# %% [markdown]
# ## 5. Distances
# The expected distance of each pair, and how sure the distogram is of it (weight: in range and
# sharp). Pairs predicted "far" are filled in later from shortest paths over the trusted ones.

# %%
from foldlite.geometry.distances import expected_distances

distances, trust = expected_distances(net.distogram)  # [L, L] Å, [L, L] 0-1
upper = np.triu_indices(length, k=1)
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
axes[0].imshow(distances, cmap="viridis_r", vmin=2, vmax=22)
axes[0].set_title("expected Cβ distance (Å)")
axes[1].imshow(true_distances, cmap="viridis_r", vmin=2, vmax=22)
axes[1].set_title("real Cβ distance (Å)")
axes[2].scatter(true_distances[upper], distances[upper], s=2, c=trust[upper], cmap="plasma")
axes[2].plot([0, 40], [0, 40], color="grey", lw=0.8)
axes[2].set_xlabel("real (Å)")
axes[2].set_ylabel("expected (Å), colour = trust")
plt.show()

# %% [markdown]
# ## 6. 3D: MDS, then refinement, then the hand
# Classical multidimensional scaling turns the (completed) distance matrix into coordinates, polished
# by a few stress-minimisation steps. Refinement then moves several starts (both mirror images)
# with Adam on −log P(distance) + Cα–Cα bonds + clashes + compactness. Distances cannot tell a
# fold from its mirror image; the predicted Cα virtual torsions can, and decide the hand. This
# is `foldlite.geometry.reconstruct`, with the settings `foldlite.fold(..., templates=None)` uses.

# %%
from foldlite.api import SINGLE_SEQUENCE_WEIGHTS
from foldlite.evaluation.metrics import tm_score
from foldlite.geometry.hand import torsion_log_likelihood
from foldlite.geometry.mds import MIN_TRUSTED_WEIGHT, classical_mds, complete_distances, stress_polish
from foldlite.geometry.reconstruct import reconstruct
from foldlite.geometry.vectors import mirror, superpose

completed = complete_distances(distances, trust)
start = stress_polish(classical_mds(completed), completed, np.where(trust >= MIN_TRUSTED_WEIGHT, trust, 0.005), 20)
result = reconstruct(net.distogram, net.ca_torsion, seed=0,
                     weights=SINGLE_SEQUENCE_WEIGHTS)  # what fold() uses without templates
ca = result.coords[:, 1]
stages = {"MDS (Cβ trace)": start, "MDS, mirrored": mirror(start), "refined": ca, "refined, mirrored": mirror(ca)}
for name, trace in stages.items():
    print(f"{name:18s} TM-score {tm_score(trace, native.ca).tm_score:.3f}")
built, mirrored = torsion_log_likelihood(ca, net.ca_torsion), torsion_log_likelihood(mirror(ca), net.ca_torsion)
print(f"hand: log P(Cα torsions) {built:.1f} as built, {mirrored:.1f} mirrored "
      f"({'the built hand is the likelier' if built >= mirrored else 'the mirror would be likelier'})")

fig = plt.figure(figsize=(13, 4.2))
for n, (name, trace) in enumerate([("MDS start", start), ("refined + hand", ca), ("real", native.ca)], start=1):
    axis = fig.add_subplot(1, 3, n, projection="3d")
    shown = superpose(trace, native.ca) if name != "real" else trace  # onto the real structure
    axis.plot(*shown.T, color="#555555", lw=0.8)
    axis.scatter(*shown.T, c=np.arange(length), cmap="rainbow", s=12)
    axis.set_title(name)
    axis.set_axis_off()
plt.show()

# %% [markdown]
# ## 7. The PDB, and how close it is
# The Cα trace gets N, C, O and Cβ with ideal geometry, pLDDT in the B-factor column, and is
# written as PDB. `foldlite.fold` does all of the above in one call. By default it also searches
# the shipped library of known structures for templates; the last line shows what they add for
# this chain (the sequence alone is the hard case). The library holds every chain of the chain set,
# 1AHO_A too, so here the chain itself and its >= 95 % identical copies are left out, as in the
# benchmarks: otherwise the template would be the answer.

# %%
from foldlite.evaluation.compare import compare

pred = foldlite.fold(sequence, model=model, templates=None, record_id="1AHO_A")
assert np.allclose(pred.structure.ca - pred.structure.ca.mean(0), ca - ca.mean(0), atol=1e-3)  # the same fold
out = Path(tempfile.mkdtemp(prefix="foldlite_attention_"))
pdb_path = out / "1AHO_A.pdb"
pdb_path.write_text(pred.to_pdb())
print("\n".join(pred.to_pdb().splitlines()[:6]))
score = compare(read_structure(pdb_path), native)
print(f"\nsingle sequence: TM-score {score.tm_score:.3f}, lDDT-Cα {score.lddt_ca:.3f}, "
      f"RMSD {score.rmsd:.1f} Å; mean pLDDT {pred.mean_plddt:.1f}")
with_templates = foldlite.fold(sequence, model=model, record_id="1AHO_A",  # the default library templates,
                               exclude_templates={"1AHO_A"}, max_template_identity=0.95)  # but not itself
found = with_templates.templates
print(f"with the library's templates ({len(found)} found"
      + (f", best {found[0]['name']} at {found[0]['identity']:.0%} identity" if found else "")
      + f"): TM-score {tm_score(with_templates.structure.ca, native.ca).tm_score:.3f}")
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
axes[0].plot(np.arange(1, length + 1), pred.plddt, color="#333333")
axes[0].set_ylim(0, 100)
axes[0].set_title("pLDDT (B-factor column)")
axes[0].set_xlabel("residue")
error = np.linalg.norm(superpose(pred.structure.ca, native.ca) - native.ca, axis=-1)
axes[1].bar(np.arange(1, length + 1), error, width=1.0)
axes[1].set_title("Cα error after superposition (Å)")
axes[1].set_xlabel("residue")
plt.show()

"""Template features as network input (foldlite.templates.features, model.network.TemplateEmbedding) and the
training templates drawn from cluster mates."""
from __future__ import annotations

import csv
from dataclasses import replace

import numpy as np
import pytest
import torch

import foldlite
from conftest import TINY_CONFIG
from foldlite.api import run_network
from foldlite.training.sampler import CropSampler
from foldlite.config import ModelConfig
from foldlite.constants import distance_to_class
from foldlite.geometry.vectors import pairwise_distances
from foldlite.model.network import FoldliteModel, TemplateEmbedding
from foldlite.training.sampler import TemplatePicker
from foldlite.templates.features import features_from_hits, one_template
from foldlite.templates.search import find_templates
from foldlite.tokenizer import PAD_TOKEN, encode_canonical


def _trained_looking(model: FoldliteModel, seed: int = 0) -> FoldliteModel:
    """Give the zero-initialised template embedding random weights, as training would."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.pair_stack.template.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model.eval()


def test_one_template_places_template_distances_on_aligned_query_pairs():
    rng = np.random.default_rng(0)
    template_cb = rng.normal(scale=8.0, size=(12, 3))
    query, template = "ACDEFGHIKL", "WWACDQFGHIKLWW"
    # query 0-3 <-> template 2-5 (one mismatch, E vs Q), query 5-9 <-> template 7-11; query 4 unaligned
    query_idx = np.array([0, 1, 2, 3, 5, 6, 7, 8, 9])
    target_idx = np.array([2, 3, 4, 5, 7, 8, 9, 10, 11])
    distance, residue = one_template(query, template, template_cb, query_idx, target_idx, identity=0.8)
    expected = pairwise_distances(template_cb[target_idx])
    np.testing.assert_allclose(distance[np.ix_(query_idx, query_idx)], expected, atol=1e-4)
    assert np.isnan(distance[4]).all() and np.isnan(distance[:, 4]).all()
    assert residue[:, 0].tolist() == [1, 1, 1, 1, 0, 1, 1, 1, 1, 1]
    assert residue[3, 1] == 0 and residue[0, 1] == 1  # E/Q mismatch; A/A match
    assert residue[4].tolist() == [0, 0, 0] and residue[0, 2] == pytest.approx(0.8)


def test_embedding_bins_distances_exactly_like_the_distogram_targets():
    distances = torch.tensor([0.0, 1.9, 2.0, 2.31, 2.3125, 7.99, 8.0, 21.99, 22.0, 35.0])
    bins = torch.bucketize(distances, TemplateEmbedding(4).edges, right=True)
    assert bins.tolist() == distance_to_class(distances.numpy()).tolist()


def _direct_template_update(module: TemplateEmbedding, distance, residue):
    """TemplateEmbedding's definition written out: per pair, the mean over the templates covering
    it of embed(bin) + left(residue i) + right(residue j), zero where none covers it."""
    batch, count, length, _ = distance.shape
    out = torch.zeros(batch, length, length, module.distance.embedding_dim, dtype=residue.dtype)
    for b in range(batch):
        for i in range(length):
            for j in range(length):
                terms = [module.distance.weight[torch.bucketize(distance[b, t, i, j], module.edges, right=True)]
                         + module.left(residue[b, t, i]) + module.right(residue[b, t, j])
                         for t in range(count)
                         if residue[b, t, i, 0] > 0 and residue[b, t, j, 0] > 0 and not torch.isnan(distance[b, t, i, j])]
                if terms:
                    out[b, i, j] = torch.stack(terms).mean(0)
    return out


def test_template_embedding_is_the_mean_over_covering_templates_with_its_gradient():
    generator = torch.Generator().manual_seed(3)
    module = TemplateEmbedding(5).double()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    distance, residue = _inputs(9, templates=3, seed=3)
    distance, residue = distance.double(), residue.double()
    residue[..., 1:] = torch.rand(residue[..., 1:].shape, generator=generator, dtype=torch.float64)  # i and j differ
    residue[0, 1, 2, 0] = 0.0  # template 1 leaves residue 2 out: pairs of 2 average two templates
    distance[0, 2, 4:6] = float("nan")  # and template 2 has no distance for rows 4-5
    expected = _direct_template_update(module, distance, residue)
    got = module(distance, residue)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(module(distance, residue, rows=slice(3, 7)), expected[:, 3:7])
    assert got[0, 7, 1].abs().sum() == 0 and got[0, 8, 8].abs().sum() == 0  # unaligned residues: nothing
    # the gradient of the parameters is the direct formula's
    probe = torch.randn(expected.shape, generator=generator, dtype=torch.float64)
    grads = torch.autograd.grad((module(distance, residue) * probe).sum(), list(module.parameters()))
    direct = torch.autograd.grad((_direct_template_update(module, distance, residue) * probe).sum(),
                                 list(module.parameters()))
    for a, b in zip(grads, direct):
        torch.testing.assert_close(a, b)


def _inputs(length: int, templates: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    coords = rng.normal(scale=6.0, size=(length, 3))
    distance = np.repeat(pairwise_distances(coords)[None], templates, 0).astype(np.float32)
    residue = np.zeros((templates, length, 3), dtype=np.float32)
    residue[:, : length - 3, 0] = 1.0  # the last 3 residues unaligned
    residue[:, :, 2] = 0.4
    distance[:, length - 3:, :] = np.nan
    distance[:, :, length - 3:] = np.nan
    return torch.from_numpy(distance)[None], torch.from_numpy(residue)[None]


def test_templates_change_the_output_and_nothing_aligned_equals_no_templates():
    torch.manual_seed(0)
    model = _trained_looking(FoldliteModel(TINY_CONFIG))
    tokens = torch.from_numpy(encode_canonical("MKTAYIAKQRQISFVKSHFSRQ"))[None]
    plain = model(tokens).distogram
    distance, residue = _inputs(tokens.shape[1])
    with_templates = model(tokens, templates=(distance, residue)).distogram
    assert not torch.allclose(plain, with_templates, atol=1e-3)
    unaligned = model(tokens, templates=(torch.full_like(distance, float("nan")), torch.zeros_like(residue)))
    torch.testing.assert_close(unaligned.distogram, plain)


def test_padded_batch_with_templates_equals_single_sequences():
    torch.manual_seed(1)
    model = _trained_looking(FoldliteModel(TINY_CONFIG), seed=1)
    lengths = (19, 12)
    singles, tokens = [], torch.full((2, 19), PAD_TOKEN)
    distance = torch.full((2, 2, 19, 19), float("nan"))
    residue = torch.zeros((2, 2, 19, 3))
    for b, n in enumerate(lengths):
        seq = "ACDEFGHIKLMNPQRSTVW"[:n]
        t = torch.from_numpy(encode_canonical(seq))
        d, r = _inputs(n, seed=b)
        tokens[b, :n], distance[b, :, :n, :n], residue[b, :, :n] = t, d[0], r[0]
        singles.append(model(t[None], templates=(d, r)))
    batched = model(tokens, templates=(distance, residue))
    for b, n in enumerate(lengths):
        torch.testing.assert_close(batched.distogram[b, :n, :n], singles[b].distogram[0], atol=1e-4, rtol=1e-4)


def test_adding_template_features_keeps_old_weights_outputs():
    from foldlite.training.grow import add_template_features

    torch.manual_seed(2)
    old = FoldliteModel(replace(TINY_CONFIG, pair=replace(TINY_CONFIG.pair, templates=False))).eval()
    assert old.pair_stack.template is None
    new = add_template_features(old).eval()
    assert new.config.pair.templates
    tokens = torch.from_numpy(encode_canonical("MKTAYIAKQRQISFVKSHFSRQ"))[None]
    torch.testing.assert_close(new(tokens, templates=_inputs(tokens.shape[1])).distogram, old(tokens).distogram)


def test_configs_saved_before_template_features_load_without_them():
    data = ModelConfig().to_dict()
    del data["pair"]["templates"]
    assert ModelConfig.from_dict(data).pair.templates is False
    assert ModelConfig.from_dict(ModelConfig().to_dict()).pair.templates is True


def test_picker_never_uses_the_chain_itself_or_copies_and_crops_consistently(chainset):
    clusters = CropSampler(chainset, "valid").groups
    picker = TemplatePicker(chainset, clusters, np.random.default_rng(0), drop=0.0, max_templates=2, tries=8)
    assert picker.mates, "the sample needs some multi-chain clusters"
    found = 0
    for index in list(picker.mates)[:12]:
        features = picker.pick(index)
        assert int(index) not in picker.mates[index]
        if features is None:
            continue
        found += 1
        length = int(chainset.lengths[index])
        assert features.distance.shape[1:] == (length, length) and features.residue.shape[1:] == (length, 3)
        identity = features.residue[:, :, 2].max(axis=1)
        assert np.all(identity < 0.95) and np.all(features.residue[:, :, 0].mean(axis=1) >= 0.3)
        crop = features.crop(5, 20)
        np.testing.assert_array_equal(crop.distance, features.distance[:, 5:25, 5:25])
    assert found > 0
    # drop=1: never templates
    never = TemplatePicker(chainset, clusters, np.random.default_rng(0), drop=1.0)
    assert all(never.pick(index) is None for index in list(never.mates)[:5])


def test_training_with_templates_feeds_them_to_the_model(tmp_path, chainset):
    from foldlite.config import TrainConfig
    from foldlite.training.train import train

    # a train split made of the sample's multi-chain clusters, so most crops have templates
    with np.load(chainset.path) as data:
        arrays = {k: data[k] for k in data.files}
    counts = np.bincount(arrays["cluster"])
    arrays["split"] = np.where(counts[arrays["cluster"]] > 1, 0, 1).astype(np.int8)
    path = tmp_path / "trainset.npz"
    np.savez(path, **arrays)
    config = replace(TrainConfig(), batch_size=4, crop_start=32, crop_end=32, eval_every=4, eval_chains=2,
                     checkpoint_every=4, warmup_steps=1, template_drop=0.0)
    out = tmp_path / "run"
    train(out, data_path=str(path), max_steps=4, model_config=TINY_CONFIG, train_config=config,
          log=lambda *_: None)
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert float(rows[-1]["template_fraction"]) > 0.3
    weights = torch.load(out / "last.pt", weights_only=True)["state_dict"]["pair_stack.template.distance.weight"]
    assert weights.abs().sum() > 0  # the template embedding was trained


def test_fold_gives_hits_to_the_network(chainset, library):
    from pathlib import Path

    from foldlite.api import LoadedModel
    from foldlite.geometry.confidence import Calibration

    network = _trained_looking(FoldliteModel(TINY_CONFIG), seed=3)
    loaded = LoadedModel(network, Calibration(), torch.device("cpu"), Path("in-memory"), {}, sha256="0" * 64)
    index = int(np.flatnonzero((chainset.lengths >= 50) & (chainset.lengths <= 70))[0])
    sequence = chainset.sequence(index)
    hits = find_templates(sequence, library)
    assert hits and hits[0].identity == 1.0
    expected = run_network(loaded, sequence, keep_attention=False,
                           templates=features_from_hits(hits, library, sequence)).distogram
    plain = run_network(loaded, sequence, keep_attention=False).distogram
    prediction = foldlite.fold(sequence, model=loaded, templates=library, restrain_geometry=False)
    np.testing.assert_allclose(prediction.distogram, expected, atol=1e-6)
    assert not np.allclose(prediction.distogram, plain, atol=1e-3)
    assert prediction.restrained_distogram is None and prediction.templates

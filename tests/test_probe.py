"""Per-layer activations through forward hooks, pooled per layout (reptopo.pipeline.probe)."""

import numpy as np
import torch

from reptopo.pipeline.probe import extract, pool
from reptopo.registry import LayerSpec


def test_pooling_of_each_layout():
    t = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)
    conv = pool(t, "conv1d", None)
    assert conv["flat"].shape == (2, 12) and torch.allclose(conv["gap"], t.mean(-1))
    mask = torch.tensor([[True, True, False], [True, False, False]])
    tok = pool(t, "tokens", mask)
    assert torch.allclose(tok["mean"][1], t[1, 0]) and torch.allclose(tok["mean"][0], t[0, :2].mean(0))
    assert torch.allclose(tok["cls"], t[:, 0])


def test_extract_streams_each_layer_to_disk(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    x = torch.randn(300, 4)
    layers = [
        LayerSpec(name="input", depth=0, role="input"),
        LayerSpec(name="1", depth=0.5, role="block"),
        LayerSpec(name="2", depth=1, role="head"),
    ]
    paths = extract(model, x, layers, tmp_path, is_text=False, batch_size=64)
    assert set(paths) == {("input", "flat"), ("1", "raw"), ("2", "raw")}
    hidden = np.load(paths[("1", "raw")])
    assert hidden.dtype == np.float32
    np.testing.assert_allclose(hidden, torch.relu(model[0](x)).detach().numpy(), rtol=1e-6)


def test_token_cloud_of_one_text():
    from reptopo.pipeline.models import TaskFacts, bert_small, tokenize
    from reptopo.pipeline.probe import token_cloud

    model = bert_small(TaskFacts((64,), 2, "text"))
    ids = tokenize(["a short review of a film"], 32)[0]
    cloud = token_cloud(model, ids, "encoder.encoder.layer.1")
    assert cloud.shape == (int((ids != 0).sum()), 64)

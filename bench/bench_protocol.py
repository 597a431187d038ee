"""Measuring one model's layers against its forward pass over the probe set (small CNN, 6 layers)."""

import time

import numpy as np
import torch

from reptopo.pipeline.models import LeNet
from reptopo.pipeline.probe import extract
from reptopo.protocol import measure_layer, protocol
from reptopo.registry import LayerSpec

LAYERS = [
    LayerSpec(name=n, depth=d, role=r)
    for n, d, r in (
        ("input", 0.0, "input"),
        ("conv1", 0.2, "stem"),
        ("conv2", 0.4, "block"),
        ("fc1", 0.6, "block"),
        ("fc2", 0.8, "block"),
        ("head", 1.0, "head"),
    )
]


def test_measuring_a_small_cnn(benchmark, tmp_path):
    torch.manual_seed(0)
    model = LeNet(1, 10, 16, (28, 28)).eval()
    x = torch.rand(1000, 1, 28, 28)
    y = np.repeat(np.arange(10), 100)
    start = time.perf_counter()
    with torch.no_grad():
        model(x)
    forward = time.perf_counter() - start

    def measure():
        paths = extract(model, x, LAYERS, tmp_path, is_text=False)
        for (name, _), path in paths.items():
            measure_layer(np.load(path), y, protocol(), name)
        return len(paths)

    n = benchmark.pedantic(measure, rounds=1, iterations=1)
    t = benchmark.stats.stats.min
    benchmark.extra_info.update(forward_seconds=forward, ratio_to_forward=t / forward, clouds=n)
    print(f"\n{n} clouds of 6 layers: measuring {t:.1f} s, forward pass {forward:.2f} s ({t / forward:.0f}x)")
    assert t < 20  # the stated budget for this machine (issue 5); the ratio is reported

"""The zoo suite's cost, estimated per model without a GPU or the hub (the README's table).

    python scripts/zoo_estimate.py [--tflops 10] [--out docs/zoo.md]

Per model and task: the inputs its job runs through the frozen backbone (the training subset once,
the test split, the probe set), times the forward FLOPs of one input (timm's architecture counted
by torch's FlopCounterMode on the meta device at its image size; a text model as 2 x its
parameters x the task's tokens, an upper bound), at ``--tflops`` sustained; and the measuring,
which runs on the CPU: the layer-poolings it records times the seconds one layer of the probe's
size takes under the current protocol, timed here on a cloud of 768 features.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch


def timm_flops(model_name: str, image_size: int, img_size: int) -> float:
    import timm
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        net = timm.create_model(model_name, pretrained=False, **({"img_size": img_size} if img_size else {}))
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            net(torch.zeros(1, 3, image_size, image_size))
    return float(counter.get_total_flops())


def text_flops(parameters: int, tokens: int) -> float:
    """2 multiply-adds per parameter per token: an upper bound, since the embedding table is a
    lookup (a third of Qwen2.5-0.5B's count), and attention over 64 tokens adds little."""
    return 2.0 * parameters * tokens


def seconds_per_layer(probe: int) -> float:
    from reptopo.protocol import CURRENT_VERSION, measure_layer, protocol

    cfg = protocol(CURRENT_VERSION)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((probe, 24)) @ rng.standard_normal((24, 768))).astype(np.float32)
    y = rng.integers(0, 10, probe)
    measure_layer(x[:200], y[:200], cfg, "warm-up")
    started = time.perf_counter()
    measure_layer(x, y, cfg, "timing")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    from reptopo.pipeline.models import builder_params
    from reptopo.pipeline.probe import DEFAULT_POOLINGS
    from reptopo.protocol import CURRENT_VERSION, protocol
    from reptopo.registry import Registry

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tflops", type=float, default=10.0, help="sustained fp32 forward throughput of the GPU")
    ap.add_argument("--out", type=Path, default=Path("docs/zoo.md"))
    args = ap.parse_args(argv)
    registry = Registry()
    suite = registry.suite("zoo")
    probe = protocol(CURRENT_VERSION).probe_size
    per_layer = seconds_per_layer(probe)
    rows, total_gpu, total_cpu = [], 0.0, 0.0
    for grid in suite.grids:
        train = int(grid.axes.get("train_size", [0])[0])
        for name in grid.models:
            entry = registry.model(name)
            params = builder_params(entry)
            if entry.builder == "timm_hub":
                flops = timm_flops(params["model_name"], params.get("image_size", 224), params.get("img_size", 0))
            else:
                flops = text_flops(entry.pretrained.parameters, registry.task(grid.tasks[0]).input_shape[0])
            poolings = sum(
                len(layer.poolings or DEFAULT_POOLINGS.get(layer.layout or "vector", ("raw",)))
                for layer in entry.layers
            )
            gpu = cpu = 0.0
            for task_name in grid.tasks:
                task = registry.task(task_name)
                inputs = min(train, task.splits.train_size) + task.splits.test_size + min(probe, task.probe.size)
                gpu += inputs * flops / (args.tflops * 1e12)
                cpu += poolings * per_layer
            total_gpu += gpu
            total_cpu += cpu
            rows.append(
                f"| {name} | {entry.family} | {entry.pretrained.parameters / 1e6:.1f}M | {len(entry.layers)} "
                f"({poolings}) | {', '.join(grid.tasks)} | {flops / 1e9:.1f} | {gpu / 60:.1f} | {cpu / 60:.1f} |"
            )
    text = [
        "# The zoo suite: what it costs",
        "",
        f"Made by `python scripts/zoo_estimate.py --tflops {args.tflops:g}`. GPU minutes: the forward passes of every "
        f"task's inputs (training subset once, test split, probe) at {args.tflops:g} TFLOP/s sustained in fp32. "
        f"Measuring minutes: the layer-poolings times {per_layer:.2f} s, one layer of {probe} points under protocol "
        f"v{CURRENT_VERSION} timed on this machine (one core per worker; the workers run side by side).",
        "",
        "| model | family | parameters | layers (poolings) | tasks | GFLOPs per input | GPU min | measuring min |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Whole suite: about **{total_gpu / 60:.0f} GPU minutes** of forward passes and **{total_cpu / 3600:.1f} hours** "
        "of measuring on one core (divide by the workers).",
    ]
    args.out.write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()

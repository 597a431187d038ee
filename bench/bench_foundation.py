"""A profile at foundation-model size, end to end on the CPU: timm's ``vit_base_patch16_224``
(86M parameters, 12 blocks of 768 features; random weights: nothing is downloaded) on
``REPTOPO_BENCH_INPUTS`` inputs (default 10,000), every block (class token and mean) and the
head, against the forward pass of the same inputs alone (timed on the first 256 and scaled),
with its peak resident memory. The images are drawn batch by batch from a seeded loader, as a
user's data loader would bring them, so that the peak is the profile's own and not that of a
tensor holding every input (6 GB at 10,000).

On 2 cores the forward pass of 10,000 images alone takes about 40 minutes; set
``REPTOPO_BENCH_INPUTS=2000`` for a first look. With ``REPTOPO_BENCH_DEVICE=cuda`` the model,
the inputs and the measures' distance products go to the GPU (``products_on``); the rest of
each measure runs on the CPU.
"""

import os
import resource
import time

import numpy as np
import torch
from conftest import measure_split, split_line

import reptopo

N = int(os.environ.get("REPTOPO_BENCH_INPUTS", "10000"))
DEVICE = os.environ.get("REPTOPO_BENCH_DEVICE", "cpu")
FORWARD_SAMPLE = 256
BATCH = 64


class SeededImages(torch.utils.data.IterableDataset):
    """``n`` standard normal 3 x 224 x 224 images with labels ``i % 10``, in batches of
    ``BATCH``, each batch drawn from its own seed: the same images on every pass."""

    def __init__(self, n: int):
        self.n = n

    def __iter__(self):
        for start in range(0, self.n, BATCH):
            size = min(BATCH, self.n - start)
            gen = torch.Generator().manual_seed(start)
            yield torch.randn(size, 3, 224, 224, generator=gen), torch.arange(start, start + size) % 10


def test_profile_a_vit_base_on_many_inputs(benchmark):
    import timm

    torch.manual_seed(0)
    model = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=10).eval().to(DEVICE)
    loader = torch.utils.data.DataLoader(SeededImages(N), batch_size=None)
    start = time.perf_counter()
    with torch.inference_mode():
        for xb, _ in torch.utils.data.DataLoader(SeededImages(min(N, FORWARD_SAMPLE)), batch_size=None):
            model(xb.to(DEVICE))
    forward = (time.perf_counter() - start) * N / min(N, FORWARD_SAMPLE)
    prof = benchmark.pedantic(
        lambda: reptopo.profile(model, loader, probe_size=N, device=DEVICE, progress=False), rounds=1, iterations=1
    )
    t = benchmark.stats.stats.min
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    frame = prof.to_pandas()
    measuring = sum(m.measures.seconds or 0.0 for m in prof.measurements)
    benchmark.extra_info.update(
        seconds=t, forward_seconds=forward, measure_seconds=measuring, ratio_to_forward=t / forward, peak_rss=peak
    )
    print(
        f"\nprofile of vit_base_patch16_224 on {N:,} inputs ({len(frame)} layer poolings, PHdim pool "
        f"{prof.protocol.phdim_pool}): {t:.0f} s = {t / forward:.1f} forward passes ({forward:.0f} s, from "
        f"{min(N, FORWARD_SAMPLE)} inputs); measuring {measuring:.0f} s; peak RSS {peak / 2**30:.1f} GiB"
    )
    for m in prof.measurements:
        print(f"  {m.name:>12} {m.pooling:<5} {m.measures.seconds or 0.0:7.1f} s")
    # where a layer's time goes: each measure alone on the last block's class tokens
    split = measure_split(prof.activations[("blocks.11", "cls")], prof.labels, prof.protocol, "blocks.11")
    benchmark.extra_info.update(measure_split=split)
    print(f"  blocks.11 cls, each measure alone: {split_line(split)}")
    assert len(frame) >= 12 and np.isfinite(frame["twonn"]).all()

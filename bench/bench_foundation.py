"""A profile at foundation-model size, end to end on the CPU: timm's ``vit_base_patch16_224``
(86M parameters, 12 blocks of 768 features; random weights: nothing is downloaded) on
``REPTOPO_BENCH_INPUTS`` inputs (default 10,000), every block (class token and mean) and the
head, against the forward pass of the same inputs alone (timed on the first 256 and scaled),
with its peak resident memory.

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

import reptopo

N = int(os.environ.get("REPTOPO_BENCH_INPUTS", "10000"))
DEVICE = os.environ.get("REPTOPO_BENCH_DEVICE", "cpu")
FORWARD_SAMPLE = 256


def test_profile_a_vit_base_on_many_inputs(benchmark):
    import timm

    torch.manual_seed(0)
    model = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=10).eval().to(DEVICE)
    x = torch.randn(N, 3, 224, 224)
    y = torch.arange(N) % 10
    start = time.perf_counter()
    with torch.inference_mode():
        for b in range(0, min(N, FORWARD_SAMPLE), 64):
            model(x[b : b + 64].to(DEVICE))
    forward = (time.perf_counter() - start) * N / min(N, FORWARD_SAMPLE)
    prof = benchmark.pedantic(
        lambda: reptopo.profile(model, (x, y), probe_size=N, device=DEVICE, progress=False), rounds=1, iterations=1
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
    assert len(frame) >= 12 and np.isfinite(frame["twonn"]).all()

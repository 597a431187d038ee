"""Peak memory of profiling a ResNet-18 on 2,000 images of 64 x 64 (the issue's target: under
3 GiB), against the activations' own size and the memory of the same process before it profiles."""

import json
import subprocess
import sys

LIMIT = 3 * 1024**3

SCRIPT = r"""
import json, resource, sys, time
import numpy as np, timm, torch
import reptopo

torch.manual_seed(0)
model = timm.create_model("resnet18", num_classes=10)   # weights do not change the memory
x = torch.rand(2000, 3, 64, 64)
y = np.arange(2000) % 10
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
prof = reptopo.profile(model, x, labels=y, progress=False, measures=tuple(sys.argv[1].split(",")) if sys.argv[1] else None)
seconds = time.perf_counter() - start
print(json.dumps({"before": before, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "activations": sum(a.nbytes for a in prof.activations.values()), "inputs": x.numel() * 4,
                  "layers": len(prof.layers), "seconds": seconds}))
"""


def _run(measures: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, measures], capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_peak_memory_of_profiling_a_resnet18(benchmark):
    out = benchmark.pedantic(lambda: _run(""), rounds=1, iterations=1)
    grew = out["peak"] - out["before"]
    benchmark.extra_info.update(**out, ratio_growth_to_activations=grew / out["activations"])
    print(
        f"\npeak RSS {out['peak'] / 2**30:.2f} GiB (before profiling {out['before'] / 2**30:.2f}); the kept "
        f"activations {out['activations'] / 2**30:.2f} GiB of {out['layers']} layers; growth "
        f"{grew / out['activations']:.2f} x the activations; {out['seconds']:.0f} s"
    )
    assert out["peak"] < LIMIT

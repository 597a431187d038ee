"""A small registry of fast jobs for the runner and store tests."""

import shutil
from pathlib import Path

REGISTRY = Path(__file__).resolve().parents[1] / "registry"


def tiny_registry(root: Path, seeds=(0, 1, 2, 3), epochs: int = 30, controls=("random_init",)) -> Path:
    """digits x mlp, ``len(seeds)`` jobs plus controls; each takes a few seconds on one core."""
    (root / "tasks").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "suites").mkdir()
    shutil.copy(REGISTRY / "models" / "mlp.yaml", root / "models")
    text = (REGISTRY / "tasks" / "digits.yaml").read_text()
    text = text.replace("training: {epochs: 30,", f"training: {{epochs: {epochs},")
    (root / "tasks" / "digits.yaml").write_text(text)
    (root / "suites" / "tiny.yaml").write_text(
        "kind: suite\nname: tiny\nversion: 1\ndescription: test jobs\ngrids:\n"
        f"  - {{models: [mlp], tasks: [digits], seeds: {list(seeds)}, controls: {list(controls)}}}\n"
    )
    return root


# Another CPU on this one: torch's ATen kernels without AVX, oneDNN's convolutions at SSE4.1 and
# MKL's BLAS at SSE4.2 (OpenBLAS's core type is the machine's own business here: never changed in
# tests, see bench/isa_spread.py for the study that changes it in one subprocess).
EMULATED_CPU = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}


def other_cpu() -> dict:
    """Switches that make a subprocess compute like a CPU other than this process's: the
    emulated old CPU, or, where this process already runs without SIMD kernels (the test suite
    itself under emulation), AVX2 kernels."""
    import torch

    if torch.backends.cpu.get_cpu_capability() != "DEFAULT":
        return EMULATED_CPU
    return {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def grid_registry(root: Path, seeds=(0, 1, 2), epochs: int = 15) -> Path:
    """digits x mlp over a complete width x label-noise grid (the population the literature checks
    and the measures board need), ``len(seeds)`` seeds and a random-init control per seed: 15 jobs
    of a few seconds each."""
    tiny_registry(root, seeds=seeds, epochs=epochs)
    (root / "suites" / "grid.yaml").write_text(
        "kind: suite\nname: grid\nversion: 1\ndescription: test population\ngrids:\n"
        f"  - {{models: [mlp], tasks: [digits], seeds: {list(seeds)}, axes: {{width: [0.5, 1.0], label_noise: [0.0, 0.2]}}}}\n"
        f"  - {{models: [mlp], tasks: [digits], seeds: {list(seeds)}, controls: [random_init]}}\n"
    )
    return root

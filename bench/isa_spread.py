"""How far float noise moves each measure: the same checkpoints re-measured under other instruction sets.

Not a pytest benchmark: a study whose figures set ``reptopo.submission.reproduce.MEASUREMENT_TOLERANCES``.

    python bench/isa_spread.py train STORE            # train the study's jobs natively (checkpoints kept)
    python bench/isa_spread.py measure STORE OUT      # re-measure every checkpoint under this process's settings
    python bench/isa_spread.py all STORE [NAME ...]   # train, then measure under each SETTING (or those named)
    python bench/isa_spread.py report STORE           # per measure, the largest deviation from the native run

Each setting changes one machine switch that picks a kernel, or several at once (another CPU):
torch's ATen kernels (``ATEN_CPU_CAPABILITY``), oneDNN's convolutions (``ONEDNN_MAX_CPU_ISA``),
MKL's BLAS under torch (``MKL_ENABLE_INSTRUCTIONS``), OpenBLAS's under numpy
(``OPENBLAS_CORETYPE`` with ``OPENBLAS_L2_SIZE``, set for that subprocess only), and the number of
threads of the forward pass and of numba's kernels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

REGISTRY = str(Path(__file__).resolve().parents[1] / "registry")
JOBS = [  # one of each family and modality of the quick suite, a pretrained frozen CNN among them
    ("mlp", "digits"),
    ("lenet", "mnist"),
    ("resnet_small", "mnist"),
    ("vit_tiny", "mnist"),
    ("signal_cnn", "mnist1d"),
    ("text_cnn", "debate_party"),
    ("bert_small", "debate_party"),
    ("bag_of_embeddings", "rotten_tomatoes"),
    ("fc_relu_narrow", "naitzat_d1"),
    ("mobilenetv2_imagenet", "digits"),
    ("minilm_l6", "debate_party"),
]
OLD_CPU = {
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    "OPENBLAS_CORETYPE": "Sandybridge",
    "OPENBLAS_L2_SIZE": "262144",
}
SETTINGS = {
    "native_again": {},
    "aten_default": {"ATEN_CPU_CAPABILITY": "default"},
    "onednn_sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
    "openblas_sandybridge": {"OPENBLAS_CORETYPE": "Sandybridge", "OPENBLAS_L2_SIZE": "262144"},
    "threads_2": {"REPTOPO_STUDY_THREADS": "2", "NUMBA_NUM_THREADS": "2"},
    "avx2_cpu": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "old_cpu_2_threads": {**OLD_CPU, "REPTOPO_STUDY_THREADS": "2", "NUMBA_NUM_THREADS": "2"},
}


def train(store: str) -> None:
    from reptopo.pipeline.jobs import Job, run_job

    for model, task in JOBS:
        print(model, task, run_job(Job(model, task, 0), REGISTRY, store), flush=True)


def measure(store: str, out: str) -> None:
    """Re-measure every checkpoint of ``store``; the records' measured layers and each layer's
    activations go to ``out`` (JSON) and ``out``.npz."""
    from reptopo.pipeline.checkpoints import measure_checkpoint
    from reptopo.store import ResultStore
    from reptopo.submission import check_measurement

    st = ResultStore(store)
    result, acts = {}, {}
    threads = int(os.environ.get("REPTOPO_STUDY_THREADS", "1"))
    for rec in st.records():
        with tempfile.TemporaryDirectory() as tmp:
            again = measure_checkpoint(rec, REGISTRY, st.checkpoint_path(rec.job_id), Path(tmp), threads=threads)
        # the measurement check as `reptopo verify` runs it: the native record judged on this setting
        findings, _ = check_measurement(rec, again)
        verdicts = {v: sum(f.verdict == v for f in findings) for v in ("agrees", "float noise", "differs", "missing")}
        result[rec.job_id] = {
            "layers": again.layers,
            "train": again.train,
            "verdicts": verdicts,
            "not_agreeing": [str(f) for f in findings if f.verdict != "agrees"],
        }
        acts.update({f"{rec.job_id}::{n}::{p}": a for (n, p), a in again.activations.items()})
        print(rec.job_id, flush=True)
    Path(out).write_text(json.dumps(result, allow_nan=True))
    np.savez(out + ".npz", **acts)


def run_all(store: str, only: list[str] | None = None) -> None:
    """Train, then measure under the native settings and each of SETTINGS (or the ``only`` ones)."""
    train(store)
    for name, switches in {"native": {}, **SETTINGS}.items():
        if only and name not in only:
            continue
        subprocess.run(
            [sys.executable, __file__, "measure", store, f"{store}/study_{name}.json"],
            env={**os.environ, **switches},
            check=True,
        )


def report(store: str) -> dict:
    """Per setting and measure: the largest relative deviation from the native re-measurement
    (continuous leaves) and how many discrete leaves changed; per setting, the largest relative
    deviation of the activations themselves (max |a - b| / the layer's RMS)."""
    from reptopo.submission.reproduce import is_discrete, measure_path, relative_difference, score_leaves

    def leaves(path):
        recs = json.loads(Path(path).read_text())
        return {
            job: score_leaves({"train": {**r["train"], "epochs_run": -1}, "layers": r["layers"]})
            for job, r in recs.items()
        }

    native = leaves(f"{store}/study_native.json")
    native_acts = np.load(f"{store}/study_native.json.npz")
    table = {}
    for name in SETTINGS:
        path = Path(f"{store}/study_{name}.json")
        if not path.is_file():
            continue
        other, other_acts = leaves(path), np.load(f"{path}.npz")
        worst: dict = defaultdict(float)
        flips: dict = defaultdict(int)
        for job, ref in native.items():
            for key, a in ref.items():
                b = other[job].get(key, float("nan"))
                fam = measure_path(key)
                if is_discrete(key):
                    flips[fam] += int(a != b)
                else:
                    worst[fam] = max(worst[fam], relative_difference(a, b))
        act = max(
            float(
                np.max(np.abs(native_acts[k].astype(np.float64) - other_acts[k]))
                / (np.sqrt(np.mean(native_acts[k].astype(np.float64) ** 2)) or 1.0)
            )
            for k in native_acts.files
        )
        raw = json.loads(path.read_text())
        verdicts = {
            v: sum(r.get("verdicts", {}).get(v, 0) for r in raw.values())
            for v in ("agrees", "float noise", "differs", "missing")
        }
        table[name] = {
            "activations": act,
            "continuous": dict(worst),
            "discrete_changed": dict(flips),
            "verdicts": verdicts,
            "not_agreeing": [f for r in raw.values() for f in r.get("not_agreeing", [])],
        }
    return table


if __name__ == "__main__":
    cmd, store = sys.argv[1], sys.argv[2]
    if cmd == "train":
        train(store)
    elif cmd == "measure":
        measure(store, sys.argv[3])
    elif cmd == "all":
        run_all(store, sys.argv[3:])
    elif cmd == "report":
        table = report(store)
        if "--json" in sys.argv:
            print(json.dumps(table, indent=1, sort_keys=True))
        else:  # one row per measure, one column per setting: the largest relative deviation, or counts changed
            names = list(table)
            print("| measure | " + " | ".join(names) + " |")
            print("|---|" + "---|" * len(names))
            print(
                "| activations (max abs / RMS) | " + " | ".join(f"{table[n]['activations']:.1e}" for n in names) + " |"
            )
            for fam in sorted(table[names[0]]["continuous"]):
                print(
                    f"| {fam} | "
                    + " | ".join(f"{table[n]['continuous'].get(fam, float('nan')):.1e}" for n in names)
                    + " |"
                )
            for fam in sorted(table[names[0]]["discrete_changed"]):
                print(
                    f"| {fam} (changed) | "
                    + " | ".join(str(table[n]["discrete_changed"].get(fam, 0)) for n in names)
                    + " |"
                )
            for verdict in ("agrees", "float noise", "differs", "missing"):
                print(f"| verify: {verdict} | " + " | ".join(str(table[n]["verdicts"][verdict]) for n in names) + " |")
            for n in names:
                for f in table[n]["not_agreeing"]:
                    print(f"{n}: {f}")

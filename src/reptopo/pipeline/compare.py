"""The comparison stage: layer-by-layer similarity maps between pairs of stored models of a task.

For each task, three kinds of pair, all at default hyperparameters (no axis off its default):

- ``architectures``: every two models trained (or pretrained) on the task, seed 0 each;
- ``seeds``: seed 0 and seed 1 of one model, the baseline that says how similar "the same" is;
- ``random_init``: a trained model (seed 0) against its random-initialisation control.

Each pair is re-run from the stored checkpoints on the task's probe set (the one the records were
measured on; its hash is checked), and every layer of one model is compared with every layer of
the other: linear CKA, plain and debiased (Kornblith et al. 2019; Nguyen et al. 2021), and
symmetrised RTD (Barannikov et al. 2022) on batches of shared inputs, between up to
``rtd_max_layers`` layers of each side spread over depth (RTD costs a Rips barcode per batch;
CKA is cheap and covers every layer). The result is a :class:`reptopo.record.ComparisonRecord`
with both sides' job ids, checkpoint, entry and record hashes, stored under ``comparisons/``;
a pair whose record exists is skipped, so the stage resumes like the jobs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ComparisonError, UnknownName
from ..record import COMPARISON_SCHEMA_VERSION, TRAINED_STATUSES, Record, latest_version, primary_pooling
from ..registry import Registry

KINDS = ("architectures", "seeds", "random_init")


class ComparisonConfig(BaseModel):
    """Every parameter of one comparison version (a change is a new version)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    seeds: tuple[int, int] = Field((0, 1), description="the seed of architecture and control pairs, and the seed pair")
    rtd_batch_size: int = Field(64, description="shared inputs per RTD batch")
    rtd_n_batches: int = Field(3, description="RTD batches per layer pair")
    rtd_quantile: float = Field(0.9, description="each batch's distances are divided by this quantile")
    rtd_max_layers: int = Field(5, description="RTD between at most this many layers per side, spread over depth")
    seed: int = Field(0, description="draws the RTD batches")

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


COMPARISONS = {1: ComparisonConfig(version=1)}
CURRENT_COMPARISON = 1


def comparison_config(version: int = CURRENT_COMPARISON) -> ComparisonConfig:
    if version not in COMPARISONS:
        raise UnknownName(f"no comparison version {version}; known: {sorted(COMPARISONS)}")
    return COMPARISONS[version]


@dataclass(frozen=True)
class Pair:
    task: str
    kind: str
    left: str  # job ids
    right: str

    def comparison_id(self, version: int = CURRENT_COMPARISON) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{self.left}__vs__{self.right}__c{version}")


def plan(
    records: list[Record],
    registry: Registry,
    *,
    tasks=None,
    protocol_version: int | None = None,
    version: int = CURRENT_COMPARISON,
) -> list[Pair]:
    """The pairs to compare among ``records``, per task (only ``tasks`` when given), under
    the latest protocol version present unless ``protocol_version`` is given."""
    from .jobs import at_default_hyperparameters

    cfg = comparison_config(version)
    first, second = cfg.seeds
    if protocol_version is None and records:
        protocol_version = latest_version(r.protocol.version for r in records)
    pairs: list[Pair] = []
    by_task: dict[str, list[Record]] = {}
    for r in records:
        if r.protocol.version == protocol_version and (tasks is None or r.task in tasks):
            by_task.setdefault(r.task, []).append(r)
    for task, recs in sorted(by_task.items()):
        try:
            task_entry = registry.task(task)
        except Exception:  # noqa: BLE001 - a task the registry no longer has cannot be re-run
            continue
        default = [r for r in recs if at_default_hyperparameters(r.axes, task_entry)]

        def find(model, seed, statuses, default=default):
            hits = sorted(r.job_id for r in default if r.model == model and r.seed == seed and r.status in statuses)
            return hits[0] if hits else None

        models = sorted({r.model for r in default if r.status in TRAINED_STATUSES})
        trained = {m: find(m, first, TRAINED_STATUSES) for m in models}
        for a, b in itertools.combinations([m for m in models if trained[m]], 2):
            pairs.append(Pair(task, "architectures", trained[a], trained[b]))
        for m in models:
            other = find(m, second, TRAINED_STATUSES)
            if trained[m] and other:
                pairs.append(Pair(task, "seeds", trained[m], other))
            control = find(m, first, ("random_init",))
            if trained[m] and control:
                pairs.append(Pair(task, "random_init", trained[m], control))
    return pairs


def spread(n: int, k: int) -> list[int]:
    """At most ``k`` indices of ``n`` ordered layers, evenly spread, first and last included."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, k)})


@lru_cache(maxsize=4)
def _cached_side(
    job_id: str, digest: str, checkpoint_stat: tuple, registry_spec: str, store_root: str
) -> tuple[tuple[dict, ...], tuple[np.ndarray, ...]]:
    """:func:`_side_activations` of a stored job, kept for the next pairs a worker compares (a job
    is in several pairs; its record's digest and its checkpoint file's size and time are the key)."""
    from ..store import ResultStore

    store = ResultStore(store_root)
    scratch = store.scratch(f"side-{job_id}-{os.getpid()}")  # two workers may extract one job at once
    try:
        refs, arrays = _side_activations(store.record(job_id), registry_spec, store, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for a in arrays:
        a.setflags(write=False)
    return tuple(refs), tuple(arrays)


def _side_activations(record: Record, registry_spec: str, store, scratch) -> tuple[list[dict], list[np.ndarray]]:
    """Every layer of a stored job on its probe set, one pooling per layer (the record's primary
    one), as float32 arrays."""
    import torch

    from .checkpoints import load_trained
    from .jobs import cached_registry
    from .probe import extract

    torch.set_num_threads(1)
    model, x_probe, _, is_text = load_trained(record, registry_spec, store)
    entry = cached_registry(registry_spec).model(record.model)
    paths = extract(model, x_probe, entry.layers, scratch, is_text=is_text)
    refs, arrays = [], []
    for spec in sorted(entry.layers, key=lambda s: s.depth):
        pooling = primary_pooling(p for name, p in paths if name == spec.name)
        if pooling is None:
            continue
        path = paths[(spec.name, pooling)]
        refs.append({"name": spec.name, "pooling": pooling, "depth": spec.depth, "role": spec.role})
        arrays.append(np.load(path))
    for path in paths.values():
        path.unlink(missing_ok=True)
    return refs, arrays


def _side(record: Record) -> dict:
    return {
        "job_id": record.job_id,
        "model": record.model,
        "seed": record.seed,
        "status": record.status,
        "axes": record.axes,
        "checkpoint_sha256": record.checkpoint_sha256,
        "entry_hash": record.entry_hash.model,
        "record_digest": record.digest,
    }


def compare_pair(pair: Pair, registry_spec: str, store, version: int = CURRENT_COMPARISON) -> dict:
    """The comparison record of ``pair`` (a dict, validated when the store writes it)."""
    from threadpoolctl import threadpool_limits

    from .jobs import library_versions

    cfg = comparison_config(version)
    start = time.perf_counter()
    left, right = store.record(pair.left), store.record(pair.right)
    if left.probe.hash != right.probe.hash or left.probe.size != right.probe.size:
        raise ComparisonError(
            f"{pair.left} and {pair.right} were measured on different probe sets; compare models of one task"
        )

    def side(rec):
        path = store.checkpoint_path(rec.job_id)
        stat = (path.stat().st_size, path.stat().st_mtime_ns) if path.is_file() else ()
        return _cached_side(rec.job_id, rec.digest, stat, registry_spec, str(store.root))

    left_refs, left_x = side(left)
    right_refs, right_x = side(right)
    left_refs, right_refs = list(left_refs), list(right_refs)
    # both sides saw the same probe inputs: where both measure the input layer, it must be the same array
    inputs = [
        (a, b)
        for (ra, a) in zip(left_refs, left_x)
        for (rb, b) in zip(right_refs, right_x)
        if ra["role"] == rb["role"] == "input" and ra["pooling"] == rb["pooling"]
    ]
    if any(a.shape != b.shape or not np.array_equal(a, b) for a, b in inputs):
        raise ComparisonError(
            f"{pair.left} and {pair.right}: the input layers' activations differ, so the two sides were not "
            "extracted from the same probe inputs; remove the store's scratch/ folder and compare again"
        )
    names = ([r["name"] for r in left_refs], [r["name"] for r in right_refs])
    with threadpool_limits(limits=1, user_api="blas"):  # one core per worker, as the jobs
        cka, cka_debiased, rtd_map = similarity_maps(list(left_x), list(right_x), names, cfg)
    return {
        "schema": COMPARISON_SCHEMA_VERSION,
        "comparison_id": pair.comparison_id(version),
        "task": pair.task,
        "kind": pair.kind,
        "config": {"version": cfg.version, "digest": cfg.digest(), "config": cfg.model_dump(mode="json")},
        "protocol_version": left.protocol.version,
        "probe": left.probe.model_dump(mode="python"),
        "left": _side(left),
        "right": _side(right),
        "left_layers": left_refs,
        "right_layers": right_refs,
        "cka": cka.tolist(),
        "cka_debiased": cka_debiased.tolist(),
        "rtd": rtd_map,
        "seconds": time.perf_counter() - start,
        "versions": library_versions(),
    }


def similarity_maps(
    left: list[np.ndarray], right: list[np.ndarray], names: tuple[list[str], list[str]], cfg: ComparisonConfig
) -> tuple[np.ndarray, np.ndarray, list[list[float | None]]]:
    """Linear CKA (plain, debiased) between every layer of ``left`` and of ``right`` (activations
    of the same inputs, in depth order), and RTD between up to ``cfg.rtd_max_layers`` of each
    spread evenly (None elsewhere)."""
    from ..measures import rtd
    from ..measures.cka import cka_matrix

    cka = cka_matrix(left, right, names=names)
    cka_debiased = cka_matrix(left, right, debiased=True, names=names)
    rtd_map: list[list[float | None]] = [[None] * len(right) for _ in left]
    for i in spread(len(left), cfg.rtd_max_layers):
        for j in spread(len(right), cfg.rtd_max_layers):
            rtd_map[i][j] = rtd(
                left[i],
                right[j],
                batch_size=cfg.rtd_batch_size,
                n_batches=cfg.rtd_n_batches,
                quantile=cfg.rtd_quantile,
                seed=cfg.seed,
                layers=(names[0][i], names[1][j]),
            )
    return cka, cka_debiased, rtd_map


def run_comparison(pair: Pair, registry_spec: str, store_root: str, version: int = CURRENT_COMPARISON) -> dict:
    """Compare ``pair`` unless its record exists; a failure is written to failed/ and reported."""
    from ..store import ResultStore

    store = ResultStore(store_root)
    cid = pair.comparison_id(version)
    if store.has_comparison(cid):
        return {"job_id": cid, "status": "skipped"}
    try:
        record = compare_pair(pair, str(registry_spec), store, version)
        store.write_comparison(record)
        return {"job_id": cid, "status": "done", "seconds": record["seconds"]}
    except Exception as exc:  # noqa: BLE001 - recorded with its traceback
        store.write_failure(
            cid,
            {
                "job_id": cid,
                "pair": pair.__dict__,
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            },
        )
        return {"job_id": cid, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}

"""One job: (model entry, task, seed, hyperparameters, control) -> one stored record."""

from __future__ import annotations

import hashlib
import json
import platform
import re
import resource
import shutil
import time
import traceback
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import metadata

import numpy as np

from .registry import Registry, entry_hash
from .store import RECORD_SCHEMA, ResultStore, sha256_file

CONTROLS = ("random_init", "shuffled_labels")
RECIPE_AXES = ("weight_decay", "lr")


@dataclass(frozen=True)
class Job:
    model: str
    task: str
    seed: int = 0
    axes: tuple = field(default_factory=tuple)  # sorted (name, value) pairs
    control: str | None = None

    def job_id(self, protocol_version: int) -> str:
        parts = [self.model, self.task, f"s{self.seed}"]
        parts += [f"{k}-{v}" for k, v in self.axes]
        if self.control:
            parts.append(self.control)
        parts.append(f"p{protocol_version}")
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", "__".join(parts))

    def to_dict(self) -> dict:
        return {**asdict(self), "axes": dict(self.axes)}


def model_overrides(entry, axes: dict) -> dict:
    """Builder parameters set by a job's axes. ``width`` is a multiplier of the entry's own
    width, so that one axis means the same for an MLP, a CNN and a Transformer; ``depth`` is
    the builder's depth parameter itself."""
    out = {}
    if "width" in axes:
        if "width" not in entry.params:
            raise ValueError(f"model {entry.name!r} has no 'width' parameter for the width axis")
        out["width"] = max(1, int(round(entry.params["width"] * float(axes["width"]))))
    if "depth" in axes:
        out["depth"] = int(axes["depth"])
    return out


@lru_cache(maxsize=4)
def _registry(root: str) -> Registry:
    return Registry(root)


@lru_cache(maxsize=8)
def _task_data(root: str, name: str):
    from .tasks import load_task

    return load_task(_registry(root).task(name))


def library_versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("reptopo", "torch", "timm", "transformers", "numpy", "scipy", "scikit-learn", "ripser", "numba"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def run_job(job: Job, registry_root: str, store_root: str, protocol_version: int = 1, device: str = "cpu") -> dict:
    """Run ``job`` unless its record exists. A job that raises is written to failed/ with its
    traceback and reported, not raised, so that one bad job does not stop a grid."""
    from .protocol import protocol

    cfg = protocol(protocol_version)
    store = ResultStore(store_root)
    job_id = job.job_id(cfg.version)
    if store.has(job_id):
        return {"job_id": job_id, "status": "skipped"}
    try:
        record, diagrams = _execute(job, job_id, str(registry_root), store, cfg, device)
        store.write(record, diagrams)
        return {"job_id": job_id, "status": "done", "seconds": record["times"]["train_seconds"] + record["times"]["measure_seconds"]}
    except Exception as exc:  # noqa: BLE001 - recorded with its traceback
        store.write_failure(job_id, {"job_id": job_id, "job": job.to_dict(), "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        return {"job_id": job_id, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    finally:
        shutil.rmtree(store.scratch(job_id), ignore_errors=True)


def _execute(job: Job, job_id: str, registry_root: str, store: ResultStore, cfg, device: str):
    import torch
    from safetensors.torch import save_file

    from .models import create_model
    from .probe import extract
    from .protocol import measure_layer
    from .train import as_tensor, corrupt_labels, seed_everything, train
    from .tasks import probe_positions

    torch.set_num_threads(1)
    reg = _registry(registry_root)
    entry, task_entry = reg.model(job.model), reg.task(job.task)
    data = _task_data(registry_root, job.task)
    axes = dict(job.axes)
    seed_everything(job.seed)
    model = create_model(entry, task_entry, **model_overrides(entry, axes)).to(device)
    recipe = task_entry.training.model_copy(update={**entry.training, **{k: axes[k] for k in RECIPE_AXES if k in axes}})

    x_train, y_train = data.arrays("train")
    if "train_size" in axes and axes["train_size"] < len(y_train):
        keep = probe_positions(y_train, int(axes["train_size"]), job.seed)
        x_train = [x_train[i] for i in keep] if data.is_text else x_train[keep]
        y_train = y_train[keep]
    y_train = corrupt_labels(y_train, float(axes.get("label_noise", 0.0)), task_entry.num_classes, job.seed)
    if job.control == "shuffled_labels":
        y_train = np.random.default_rng([job.seed, 23]).permutation(y_train)
    x_test, y_test = data.arrays("test")
    x_probe, y_probe = data.probe()
    n_probe = min(cfg.probe_size, task_entry.probe.size, len(y_probe))
    if n_probe < len(y_probe):
        sub = probe_positions(y_probe, n_probe, cfg.probe_seed)
        x_probe = [x_probe[i] for i in sub] if data.is_text else x_probe[sub]
        y_probe = y_probe[sub]
    tens = lambda x: as_tensor(x, data.is_text).to(device)  # noqa: E731
    xt, yt = tens(x_train), torch.as_tensor(y_train).to(device)
    xe, ye = tens(x_test), torch.as_tensor(y_test).to(device)
    xp = tens(x_probe)

    frozen = entry.pretrained is not None and entry.pretrained.mode == "frozen"
    if job.control == "random_init":
        recipe = recipe.model_copy(update={"epochs": 0})
        status = "random_init"
    elif job.control == "shuffled_labels":
        status = "shuffled_labels"
    elif entry.pretrained is not None:
        status = f"pretrained_{entry.pretrained.mode}"
    else:
        status = "trained"

    def measure_all(tag):
        out, dgms = [], {}
        scratch = store.scratch(job_id) / str(tag)
        paths = extract(model, xp, entry.layers, scratch, is_text=data.is_text)
        specs = {s.name: s for s in entry.layers}
        for (name, pooling), path in paths.items():
            acts = np.load(path, mmap_mode="r")
            measures, diagrams = measure_layer(np.asarray(acts), y_probe, cfg, name)
            spec = specs[name]
            out.append({"name": name, "pooling": pooling, "depth": spec.depth, "role": spec.role, "epoch": tag, "measures": measures})
            for dim, d in enumerate(diagrams):
                dgms[f"{name}__{pooling}__e{tag}__h{dim}"] = d
            path.unlink()
        return out, dgms

    checkpoints: list = []
    all_diagrams: dict = {}

    def on_checkpoint(epoch, _model):
        layers, dgms = measure_all(epoch)
        checkpoints.extend(layers)
        all_diagrams.update(dgms)
        model.train()

    result = train(model, xt, yt, xe, ye, recipe, seed=job.seed, frozen_backbone=frozen,
                   checkpoint_epochs=tuple(cfg.checkpoint_epochs), on_checkpoint=on_checkpoint)
    ckpt = store.checkpoint_path(job_id)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(ckpt))

    start = time.perf_counter()
    final_epoch = result.epochs_run
    layers, dgms = measure_all(final_epoch)
    measure_seconds = time.perf_counter() - start
    all_diagrams.update(dgms)
    with torch.no_grad():
        weight_l2 = float(torch.sqrt(sum((p.double() ** 2).sum() for p in model.parameters())))
    record = {
        "schema": RECORD_SCHEMA,
        "job_id": job_id,
        "model": entry.name,
        "model_version": entry.version,
        "task": task_entry.name,
        "task_version": task_entry.version,
        "seed": job.seed,
        "axes": axes,
        "control": job.control,
        "status": status,
        "family": entry.family,
        "modality": task_entry.modality,
        "protocol": {"version": cfg.version, "digest": cfg.digest(), "config": cfg.model_dump(mode="json")},
        "entry_hash": {"model": entry_hash(entry), "task": entry_hash(task_entry)},
        "probe": {"size": int(len(y_probe)), "hash": data.probe_hash, "ids": data.probe_ids.tolist()},
        "recipe": recipe.model_dump(mode="json"),
        "train": {k: v for k, v in asdict(result).items() if k != "seconds"},
        "checkpoint_sha256": sha256_file(ckpt),
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
        "weight_l2": weight_l2,
        "times": {"train_seconds": result.seconds, "measure_seconds": measure_seconds},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "versions": library_versions(),
        "device": device,
        "layers": layers + [c for c in checkpoints if c["epoch"] != final_epoch],
    }
    return record, all_diagrams


def record_digest(record: dict) -> str:
    """Hash of a record's content (what `cite` quotes)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()

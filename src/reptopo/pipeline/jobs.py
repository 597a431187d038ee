"""One job: (model entry, task, seed, hyperparameters, control) -> one stored record."""

from __future__ import annotations

import os
import platform
import re
import resource
import shutil
import time
import traceback
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import numpy as np

from ..errors import ModelBuildError
from ..limits import Deadline
from ..protocol import CURRENT_VERSION, ProtocolConfig, protocol
from ..record import SCHEMA_VERSION
from ..registry import ModelEntry, Registry, TaskEntry, TrainRecipe, entry_hash
from ..store import ResultStore, sha256_file

if TYPE_CHECKING:
    from torch import nn

    from .tasks import TaskData

RECIPE_AXES = ("weight_decay", "lr")
# a job's hyperparameter axes, as sorted (name, value) pairs
Axes = tuple[tuple[str, Any], ...]


class JobOutcome(TypedDict, total=False):
    """What :func:`run_job` reports (to the runner, across Dask): ``seconds`` when done, ``error``
    when failed."""

    job_id: str
    status: Literal["done", "skipped", "failed"]
    seconds: float
    error: str


def job_id(
    model: str,
    task: str,
    protocol_version: int,
    *,
    seed: int | None = None,
    axes: Axes = (),
    control: str | None = None,
    kind: str | None = None,
) -> str:
    """The one spelling of a record's job id: model, task, seed, axes, control (or the record's
    ``kind``: submitted ``activations``, a ``profile``) and protocol version, joined by ``__``,
    with any character a file name should not hold replaced by ``-``."""
    parts = [model, task] + ([f"s{seed}"] if seed is not None else [])
    parts += [f"{k}-{v}" for k, v in axes]
    parts += [p for p in (control, kind) if p]
    parts.append(f"p{protocol_version}")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "__".join(parts))


@dataclass(frozen=True)
class Job:
    model: str
    task: str
    seed: int = 0
    axes: Axes = field(default_factory=tuple)  # sorted (name, value) pairs
    control: str | None = None

    def job_id(self, protocol_version: int) -> str:
        return job_id(self.model, self.task, protocol_version, seed=self.seed, axes=self.axes, control=self.control)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "axes": dict(self.axes)}


def model_overrides(entry: ModelEntry, axes: dict[str, Any]) -> dict[str, Any]:
    """Builder parameters set by a job's axes. ``width`` is a multiplier of the entry's own
    width, so that one axis means the same for an MLP, a CNN and a Transformer; ``depth`` is
    the builder's depth parameter itself."""
    out: dict[str, Any] = {}
    if "width" in axes:
        if "width" not in entry.params:
            raise ModelBuildError(
                f"model {entry.name!r} has no 'width' parameter for the width axis; drop the axis from the suite"
            )
        out["width"] = max(1, int(round(entry.params["width"] * float(axes["width"]))))
    if "depth" in axes:
        out["depth"] = int(axes["depth"])
    return out


def at_default_hyperparameters(axes: dict[str, Any], task_entry: TaskEntry) -> bool:
    """Whether a job's axes leave the entry's and task's defaults as they are: width x1, no label
    noise, the whole training split, and no depth, learning rate or weight decay of the axes."""
    neutral: dict[str, Any] = {
        "width": lambda v: float(v) == 1.0,
        "label_noise": lambda v: float(v) == 0.0,
        "train_size": lambda v: int(v) >= task_entry.splits.train_size,
    }
    return all(name in neutral and neutral[name](value) for name, value in axes.items())


@lru_cache(maxsize=4)
def cached_registry(registry_spec: str) -> Registry:
    """The registry of ``registry_spec`` (folders joined by os.pathsep), read once per worker process."""
    return Registry(registry_spec)


def cached_task_data(registry_spec: str, name: str) -> TaskData:
    """Task ``name`` of the registry ``registry_spec``, loaded once per worker process (keyed on
    the entry's content, so that a registry with one more folder, a verification's, reuses it)."""
    entry = cached_registry(registry_spec).task(name)
    return _task_data(entry.model_dump_json())


@lru_cache(maxsize=8)
def _task_data(entry_json: str) -> TaskData:
    from ..registry import TaskEntry
    from .tasks import load_task

    return load_task(TaskEntry.model_validate_json(entry_json))


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in ("reptopo", "torch", "timm", "transformers", "numpy", "scipy", "scikit-learn", "ripser", "numba"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def run_job(
    job: Job,
    registry_spec: str,
    store_root: str,
    protocol_version: int = CURRENT_VERSION,
    device: str = "cpu",
    *,
    trust_builder: str | None = None,
    deadline: Deadline | None = None,
) -> JobOutcome:
    """Run ``job`` unless its record exists. A job that raises is written to failed/ with its
    traceback and reported, not raised, so that one bad job does not stop a grid.

    ``trust_builder``: the package whose 'module:function' builders a published entry may run
    (:func:`reptopo.pipeline.models.create_model`). ``deadline``: a time budget (``verify --retrain``);
    a run that reaches it stops where it is and is reported failed, saying where."""
    cfg = protocol(protocol_version)
    store = ResultStore(store_root)
    job_id = job.job_id(cfg.version)
    if store.has(job_id):
        return {"job_id": job_id, "status": "skipped"}
    try:
        record, diagrams = _execute(job, job_id, str(registry_spec), store, cfg, device, trust_builder, deadline)
        store.write(record, diagrams)
        return {
            "job_id": job_id,
            "status": "done",
            "seconds": record["times"]["train_seconds"] + record["times"]["measure_seconds"],
        }
    except Exception as exc:  # noqa: BLE001 - recorded with its traceback
        store.write_failure(
            job_id,
            {
                "job_id": job_id,
                "job": job.to_dict(),
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            },
        )
        return {"job_id": job_id, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    finally:
        shutil.rmtree(store.scratch(job_id), ignore_errors=True)


@dataclass
class JobInputs:
    """A job's data after its axes: training, test and probe splits, as arrays and tensors."""

    x_train: object
    y_train: np.ndarray
    x_test: object
    y_test: np.ndarray
    x_probe: object
    y_probe: np.ndarray
    is_text: bool
    probe_hash: str
    probe_ids: np.ndarray


def job_inputs(job: Job, data: TaskData, task_entry: TaskEntry, cfg: ProtocolConfig, axes: dict[str, Any]) -> JobInputs:
    """Training subset (``train_size``), label noise, the shuffled-label control, and the probe
    set subsampled class-balanced to the protocol's size."""
    from .tasks import probe_positions
    from .train import corrupt_labels

    def take(x: Any, keep: np.ndarray) -> Any:
        return [x[i] for i in keep] if data.is_text else x[keep]

    x_train, y_train = data.arrays("train")
    if "train_size" in axes and axes["train_size"] < len(y_train):
        keep = probe_positions(y_train, int(axes["train_size"]), job.seed)
        x_train, y_train = take(x_train, keep), y_train[keep]
    y_train = corrupt_labels(y_train, float(axes.get("label_noise", 0.0)), task_entry.num_classes, job.seed)
    if job.control == "shuffled_labels":
        y_train = np.random.default_rng([job.seed, 23]).permutation(y_train)
    x_test, y_test = data.arrays("test")
    x_probe, y_probe = data.probe()
    n_probe = min(cfg.probe_size, task_entry.probe.size, len(y_probe))
    if n_probe < len(y_probe):
        sub = probe_positions(y_probe, n_probe, cfg.probe_seed)
        x_probe, y_probe = take(x_probe, sub), y_probe[sub]
    return JobInputs(x_train, y_train, x_test, y_test, x_probe, y_probe, data.is_text, data.probe_hash, data.probe_ids)


def job_setup(
    job: Job, registry_spec: str, cfg: ProtocolConfig
) -> tuple[ModelEntry, TaskEntry, dict[str, Any], JobInputs]:
    """(model entry, task entry, axes, inputs) of ``job`` under protocol ``cfg``."""
    registry = cached_registry(registry_spec)
    entry, task_entry = registry.model(job.model), registry.task(job.task)
    axes = dict(job.axes)
    return entry, task_entry, axes, job_inputs(job, cached_task_data(registry_spec, job.task), task_entry, cfg, axes)


def weight_stats(model: nn.Module) -> dict[str, Any]:
    """``n_parameters`` and ``weight_l2`` (the L2 norm of every parameter, summed in order as the
    published records were) of a model: the one definition, for jobs and re-measured checkpoints."""
    import torch

    with torch.no_grad():
        # summed in parameter order from an exact zero, as the published records were
        total = sum(((p.double() ** 2).sum() for p in model.parameters()), torch.zeros((), dtype=torch.float64))
        l2 = float(torch.sqrt(total))
    return {"n_parameters": int(sum(p.numel() for p in model.parameters())), "weight_l2": l2}


def job_status(job: Job, entry: ModelEntry) -> str:
    """The record status of ``job`` of ``entry``: its control, pretrained_MODE, or trained."""
    if job.control:
        return job.control
    if entry.pretrained is not None:
        return f"pretrained_{entry.pretrained.mode}"
    return "trained"


def job_recipe(job: Job, registry_spec: str) -> TrainRecipe:
    """The training recipe of ``job``: the task's, with the entry's overrides and the job's recipe
    axes (no epochs for a random-init control)."""
    registry = cached_registry(registry_spec)
    entry, task_entry = registry.model(job.model), registry.task(job.task)
    axes = dict(job.axes)
    recipe = task_entry.training.model_copy(update={**entry.training, **{k: axes[k] for k in RECIPE_AXES if k in axes}})
    if job_status(job, entry) == "random_init":
        recipe = recipe.model_copy(update={"epochs": 0})
    return recipe


def measure_all(
    model: nn.Module,
    x_probe: Any,
    y_probe: np.ndarray,
    entry: ModelEntry,
    cfg: ProtocolConfig,
    scratch: Path,
    is_text: bool,
    tag: int,
    keep: dict[tuple[str, str], np.ndarray] | None = None,
    deadline: Deadline | None = None,
    labelled: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Every layer of ``model`` on the probe set, measured under ``cfg``: (layer records, diagrams).

    ``labelled`` False (an unlabelled task): the head, which nothing fitted, is not measured, and
    the measures that need classes are skipped, each saying so.

    ``keep``: a dict that receives each layer's activations, keyed by (name, pooling).
    ``deadline``: checked before each layer, saying which one it stopped at."""
    from ..protocol import measure_layer
    from .probe import extract

    out: list[dict[str, Any]] = []
    dgms: dict[str, np.ndarray] = {}
    specs = {s.name: s for s in entry.layers if labelled or s.role != "head"}
    paths = extract(model, x_probe, list(specs.values()), scratch / str(tag), is_text=is_text)
    for (name, pooling), path in paths.items():
        if deadline is not None:
            deadline.check(f"before measuring layer {name!r} ({pooling}) at epoch {tag}")
        acts = np.load(path, mmap_mode="r")
        measures, diagrams = measure_layer(np.asarray(acts), y_probe if labelled else None, cfg, name)
        if keep is not None:
            keep[(name, pooling)] = np.array(acts)
        spec = specs[name]
        out.append(
            {
                "name": name,
                "pooling": pooling,
                "depth": spec.depth,
                "role": spec.role,
                "epoch": tag,
                "measures": measures,
            }
        )
        for dim, d in enumerate(diagrams):
            dgms[f"{name}__{pooling}__e{tag}__h{dim}"] = d
        path.unlink()
    return out, dgms


def _execute(
    job: Job,
    job_id: str,
    registry_spec: str,
    store: ResultStore,
    cfg: ProtocolConfig,
    device: str,
    trust_builder: str | None = None,
    deadline: Deadline | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Build, train, save and measure one job; returns (record, diagrams)."""
    import torch
    from safetensors.torch import save_file

    from .models import create_model
    from .train import as_tensor, seed_everything, train, unfitted

    torch.set_num_threads(1)
    entry, task_entry, axes, inputs = job_setup(job, registry_spec, cfg)
    labelled = task_entry.labelled
    if not labelled and not (
        entry.pretrained is not None and entry.pretrained.mode == "frozen" and job.control in (None, "random_init")
    ):
        raise ModelBuildError(
            f"task {task_entry.name!r} is unlabelled (num_classes 0): only a frozen pretrained model is measured on it "
            f"(nothing is fitted); model {entry.name!r} is {job_status(job, entry).replace('_', ' ')}"
        )
    seed_everything(job.seed)
    model = create_model(entry, task_entry, trust_builder=trust_builder, **model_overrides(entry, axes)).to(device)
    recipe = job_recipe(job, registry_spec)
    status = job_status(job, entry)

    def tensor(x: Any) -> Any:
        return as_tensor(x, inputs.is_text, model=model).to(device)

    x_probe = tensor(inputs.x_probe)
    scratch = store.scratch(job_id)
    checkpoints: list[dict[str, Any]] = []
    all_diagrams: dict[str, np.ndarray] = {}

    checkpoint_seconds = [0.0]

    def measure(epoch: int) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
        return measure_all(
            model,
            x_probe,
            inputs.y_probe,
            entry,
            cfg,
            scratch,
            inputs.is_text,
            epoch,
            deadline=deadline,
            labelled=labelled,
        )

    def on_checkpoint(epoch: int, _model: nn.Module) -> None:
        started = time.perf_counter()
        layers, dgms = measure(epoch)
        checkpoints.extend(layers)
        all_diagrams.update(dgms)
        model.train()
        checkpoint_seconds[0] += time.perf_counter() - started

    frozen = entry.pretrained is not None and entry.pretrained.mode == "frozen"
    dynamics = cfg.measures_checkpoints(
        seed=job.seed, at_defaults=at_default_hyperparameters(axes, task_entry), control=job.control, frozen=frozen
    )
    # the last epoch is measured after training anyway
    epochs = tuple(e for e in cfg.checkpoint_epochs if e < recipe.epochs) if dynamics else ()
    result = (
        train(
            model,
            tensor(inputs.x_train),
            torch.as_tensor(inputs.y_train).to(device),
            tensor(inputs.x_test),
            torch.as_tensor(inputs.y_test).to(device),
            recipe,
            seed=job.seed,
            frozen_backbone=frozen,
            checkpoint_epochs=epochs,
            on_checkpoint=on_checkpoint,
            deadline=deadline,
        )
        if labelled
        else unfitted()
    )
    ckpt = store.checkpoint_path(job_id)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(ckpt))

    start = time.perf_counter()
    layers, dgms = measure(result.epochs_run)
    # the checkpoints were measured inside the training loop: their time is measuring, not training
    measure_seconds = time.perf_counter() - start + checkpoint_seconds[0]
    all_diagrams.update(dgms)
    record = build_record(
        job_id=job_id,
        identity=record_identity(entry, task_entry),
        cfg=cfg,
        seed=job.seed,
        axes=axes,
        control=job.control,
        status=status,
        probe=(len(inputs.y_probe), inputs.probe_hash, inputs.probe_ids),
        recipe=recipe.model_dump(mode="json"),
        train={k: v for k, v in asdict(result).items() if k != "seconds"},
        checkpoint_sha256=sha256_file(ckpt),
        **weight_stats(model),
        times={"train_seconds": result.seconds - checkpoint_seconds[0], "measure_seconds": measure_seconds},
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        device=device,
        layers=layers + [c for c in checkpoints if c["epoch"] != result.epochs_run],
    )
    return record, all_diagrams


def record_identity(entry: ModelEntry, task_entry: TaskEntry) -> dict[str, Any]:
    """What a record says it is of: the model and task entries' names, versions, family,
    modality and content hashes (:func:`build_record`'s ``identity``)."""
    return {
        "model": entry.name,
        "model_version": entry.version,
        "task": task_entry.name,
        "task_version": task_entry.version,
        "family": entry.family,
        "modality": task_entry.modality,
        "entry_hash": {"model": entry_hash(entry), "task": entry_hash(task_entry)},
    }


def build_record(
    *,
    job_id: str,
    identity: dict[str, Any],
    cfg: ProtocolConfig,
    seed: int,
    axes: dict[str, Any],
    control: str | None,
    status: str,
    probe: tuple[int, str, Any],
    recipe: dict[str, Any] | None,
    train: dict[str, Any],
    checkpoint_sha256: str | None,
    n_parameters: int | None,
    weight_l2: float | None,
    times: dict[str, float],
    peak_rss_mb: float | None,
    device: str,
    layers: list[dict[str, Any]],
) -> dict[str, Any]:
    """A record's fields: the one place they are written (jobs, re-measured checkpoints, submitted
    activations and profiles). ``identity``: :func:`record_identity` of the entries, or a
    profile's own.

    ``probe`` is (size, hash, ids) of the probe set the layers were measured on. The store
    validates the dict against :class:`reptopo.record.Record` and adds the provenance and the
    content digest.
    """
    size, probe_hash, ids = probe
    return {
        "schema": SCHEMA_VERSION,
        "job_id": job_id,
        **identity,
        "seed": seed,
        "axes": axes,
        "control": control,
        "status": status,
        "protocol": {"version": cfg.version, "digest": cfg.digest(), "config": cfg.model_dump(mode="json")},
        "probe": {"size": int(size), "hash": probe_hash, "ids": np.asarray(ids).tolist()},
        "recipe": recipe,
        "train": train,
        "checkpoint_sha256": checkpoint_sha256,
        "n_parameters": n_parameters,
        "weight_l2": weight_l2,
        "times": times,
        "peak_rss_mb": peak_rss_mb,
        "versions": library_versions(),
        "device": device,
        "ran_on": where_this_runs(),
        "layers": layers,
    }


def where_this_runs() -> dict[str, str | None]:
    """The host, the Dask worker and (under Slurm) the job id of the process writing a record, so
    that a slow or failing node can be found. Not part of the content digest."""
    import socket

    worker = None
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):  # not inside a Dask worker
        pass
    return {"host": socket.gethostname(), "worker": worker, "slurm_job_id": os.environ.get("SLURM_JOB_ID")}

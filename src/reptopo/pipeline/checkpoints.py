"""A trained checkpoint measured again: rebuilt from its record's entries, its probe set re-derived,
every final layer re-measured (``reptopo verify``'s measurement check, ``publish``, the
comparisons), and the record of what was re-measured."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from ..limits import Deadline
from ..protocol import ProtocolConfig, protocol
from ..record import Record
from ..store import ResultStore, sha256_file
from .jobs import (
    Job,
    JobInputs,
    build_record,
    cached_registry,
    job_recipe,
    job_setup,
    job_status,
    measure_all,
    model_overrides,
    record_identity,
    weight_stats,
)


def job_of(record: Record) -> Job:
    """The job that wrote ``record``."""
    return Job(record.model, record.task, record.seed, tuple(sorted(record.axes.items())), record.control)


def checkpoint_model(
    job: Job, protocol_version: int, registry_spec: str, path: Path, *, device: str = "cpu", trust_builder=None
):
    """(model with the safetensors checkpoint ``path``'s weights, in eval mode, the job's inputs)."""
    from safetensors.torch import load_file

    from .models import create_model

    entry, task_entry, axes, inputs = job_setup(job, registry_spec, protocol(protocol_version))
    model = create_model(entry, task_entry, trust_builder=trust_builder, **model_overrides(entry, axes))
    try:
        state = load_file(str(path))  # tensors only: nothing is unpickled
    except Exception as exc:  # noqa: BLE001 - a malformed header is the file's fault: one line
        raise CheckpointError(f"{path}: not a readable safetensors file ({type(exc).__name__}: {exc})") from None
    target = model.state_dict()
    wrong = [k for k in target if k not in state or tuple(state[k].shape) != tuple(target[k].shape)]
    if wrong or set(state) - set(target):
        raise CheckpointError(
            f"{path}: the checkpoint's tensors do not match model {job.model!r}: "
            f"{(wrong or sorted(set(state) - set(target)))[:3]}"
        )
    model.load_state_dict(state)
    model.to(device).eval()
    return model, inputs


def _trained(record: Record, registry_spec: str, path: Path, device: str = "cpu", trust_builder: str | None = None):
    """(model with the checkpoint's weights, in eval mode, the job's inputs) of a stored job."""
    job_id = record.job_id
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint for {job_id}; re-run the job (`reptopo run`) to compare it")
    if record.checkpoint_sha256 and sha256_file(path) != record.checkpoint_sha256:
        raise CheckpointError(f"{path}: the checkpoint's sha256 is not the one record {job_id} quotes; re-run the job")
    job = job_of(record)
    model, inputs = checkpoint_model(
        job, record.protocol.version, registry_spec, path, device=device, trust_builder=trust_builder
    )
    if inputs.probe_hash != record.probe.hash or len(inputs.y_probe) != record.probe.size:
        raise CheckpointError(f"task {job.task!r}: the probe set is not the one record {job_id} was measured on")
    return model, inputs


def load_trained(record: Record, registry_spec: str, store: ResultStore, device: str = "cpu"):
    """(model, probe inputs as a tensor, probe labels, is_text) of a stored job: the model built
    from its entry and axes with the checkpoint's weights, and the probe set it was measured on.

    Raises ValueError when the checkpoint is missing or its hash is not the record's, or when
    the probe set is not the record's."""
    from .train import as_tensor

    model, inputs = _trained(record, registry_spec, store.checkpoint_path(record.job_id), device)
    return model, as_tensor(inputs.x_probe, inputs.is_text, model=model).to(device), inputs.y_probe, inputs.is_text


@dataclass
class Remeasured:
    """A final checkpoint measured again: the final epoch's layer records, their diagrams, each
    layer's activations by (name, pooling), the probe labels, the protocol, the accuracies and
    losses of the checkpoint on the job's training and test splits, and what the weights
    themselves give (``weights``: n_parameters and weight_l2; empty for submitted activations)."""

    layers: list[dict]
    diagrams: dict
    activations: dict
    y_probe: np.ndarray
    cfg: ProtocolConfig
    train: dict
    weights: dict = field(default_factory=dict)
    inputs: JobInputs | None = None
    seconds: float = 0.0


def remeasure(
    job: Job,
    protocol_version: int,
    registry_spec: str,
    checkpoint: Path,
    scratch: Path,
    *,
    epoch: int,
    threads: int = 1,
    trust_builder: str | None = None,
    deadline: Deadline | None = None,
) -> Remeasured:
    """Measure ``job``'s checkpoint on its probe set under protocol ``protocol_version`` (layers
    tagged ``epoch``), evaluate it on the job's splits and compute its weight statistics. Nothing
    is trained. ``threads``: torch's threads for the forward pass (the runner's workers use one)."""
    import torch

    from .train import as_tensor, evaluate

    started = time.perf_counter()
    torch.set_num_threads(threads)
    model, inputs = checkpoint_model(
        job, protocol_version, registry_spec, Path(checkpoint), trust_builder=trust_builder
    )
    entry = cached_registry(registry_spec).model(job.model)
    labelled = cached_registry(registry_spec).task(job.task).labelled
    cfg = protocol(protocol_version)
    kept: dict = {}
    x_probe = as_tensor(inputs.x_probe, inputs.is_text, model=model)
    layers, dgms = measure_all(
        model,
        x_probe,
        inputs.y_probe,
        entry,
        cfg,
        scratch,
        inputs.is_text,
        epoch,
        keep=kept,
        deadline=deadline,
        labelled=labelled,
    )
    scores: dict[str, float | None] = dict.fromkeys(("train_accuracy", "test_accuracy", "train_loss", "test_loss"))
    if labelled:  # on an unlabelled task nothing was fitted: no scores to give
        with torch.inference_mode():
            x_train, x_test = (as_tensor(x, inputs.is_text, model=model) for x in (inputs.x_train, inputs.x_test))
            scores["train_accuracy"], scores["train_loss"] = evaluate(model, x_train, torch.as_tensor(inputs.y_train))
            scores["test_accuracy"], scores["test_loss"] = evaluate(model, x_test, torch.as_tensor(inputs.y_test))
    return Remeasured(
        layers, dgms, kept, inputs.y_probe, cfg, scores, weight_stats(model), inputs, time.perf_counter() - started
    )


def measure_checkpoint(
    record: Record,
    registry_spec: str,
    checkpoint: Path,
    scratch: Path,
    *,
    threads: int = 1,
    trust_builder: str | None = None,
    deadline: Deadline | None = None,
) -> Remeasured:
    """Re-measure a record's final checkpoint on its probe set under the record's protocol (see
    :func:`remeasure`); the checkpoint's hash and the probe set must be the record's."""
    _trained(record, registry_spec, Path(checkpoint), trust_builder=trust_builder)  # the record's checks first
    return remeasure(
        job_of(record),
        record.protocol.version,
        registry_spec,
        checkpoint,
        scratch,
        epoch=record.final_epoch,
        threads=threads,
        trust_builder=trust_builder,
        deadline=deadline,
    )


def checkpoint_record(
    job: Job, registry_spec: str, again: Remeasured, *, checkpoint_sha256: str, protocol_version: int
) -> dict:
    """The record of ``job``'s checkpoint as :func:`remeasure` measured it: every field computed
    here from the entry, the task, the checkpoint and the measurement. Its training is not
    re-derived: ``epochs_run`` is the recipe's, the history is empty and no time was spent training."""
    registry = cached_registry(registry_spec)
    entry, task_entry = registry.model(job.model), registry.task(job.task)
    cfg = protocol(protocol_version)
    recipe = job_recipe(job, registry_spec)
    inputs = again.inputs
    assert inputs is not None, "remeasure() keeps the job's inputs"
    return build_record(
        job_id=job.job_id(cfg.version),
        identity=record_identity(entry, task_entry),
        cfg=cfg,
        seed=job.seed,
        axes=dict(job.axes),
        control=job.control,
        status=job_status(job, entry),
        probe=(len(inputs.y_probe), inputs.probe_hash, inputs.probe_ids),
        recipe=recipe.model_dump(mode="json"),
        train={**again.train, "epochs_run": recipe.epochs, "history": []},
        checkpoint_sha256=checkpoint_sha256,
        n_parameters=again.weights["n_parameters"],
        weight_l2=again.weights["weight_l2"],
        times={"train_seconds": 0.0, "measure_seconds": again.seconds},
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        device="cpu",
        layers=again.layers,
    )

"""Making a submission bundle: a model entry trained and measured by the benchmark's own job
(:func:`submit`), or a model's activations on the probe set measured here
(:func:`submit_activations`). The bundle's format: :mod:`reptopo.submission.bundle`."""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RegistryError, SubmissionError
from ..limits import (
    Deadline,
    load_npz_member,
    short,
)
from ..pipeline.jobs import Job, library_versions, run_job
from ..record import Record, finalize
from ..registry import load_entry
from ..store import ResultStore, atomic_write_bytes, sha256_file
from .bundle import ACTIVATIONS_FILE, BUNDLE_FILES, WEIGHTS_FILE, check_activations_file


def overlay_registry(entry_path: Path, registry_spec: str, workdir: Path) -> str:
    """The registry ``registry_spec`` plus a folder holding only the submitted entry, so nothing else
    is touched (a registry spec: folders joined by ``os.pathsep``)."""
    folder = workdir / "registry"
    (folder / "models").mkdir(parents=True)
    shutil.copy(entry_path, folder / "models" / entry_path.name)
    return os.pathsep.join(p for p in (registry_spec, str(folder)) if p)


def _run(entry_path: Path, task: str, seed: int, workdir: Path, registry_spec: str) -> tuple[Record, Path]:
    entry = load_entry(entry_path)
    if entry.kind != "model":
        raise SubmissionError(f"{entry_path}: kind: expected 'model', got {entry.kind!r}")
    overlaid = overlay_registry(entry_path, registry_spec, workdir)
    res = run_job(Job(entry.name, task, seed), overlaid, str(workdir / "store"))
    if res["status"] != "done":
        failure = ResultStore(workdir / "store").failures()
        detail = failure[0]["error"] if failure else res.get("error")
        raise SubmissionError(f"{entry_path}: the protocol run failed: {detail}")
    rec = ResultStore(workdir / "store").records()[0]
    return rec, ResultStore(workdir / "store").diagrams_path(rec.job_id)


def _checkpoint_of(workdir: Path, record: Record) -> Path:
    """The checkpoint :func:`_run` wrote for ``record``."""
    return ResultStore(workdir / "store").checkpoint_path(record.job_id)


def _entry_for_new_bundle(entry_path: Path, out: Path) -> Any:
    """The entry a new bundle in ``out`` is made of; refused when ``out`` exists or the entry is bad."""
    if out.exists():
        raise SubmissionError(f"{out}: already exists; choose a new bundle folder")
    try:
        return load_entry(entry_path)
    except RegistryError as exc:
        raise SubmissionError(str(exc)) from None


def submit(
    entry_path: str | Path, task: str, out: str | Path, *, seed: int = 0, registry_spec: str | Path | None = None
) -> Path:
    """Validate ``entry_path``, run the protocol on ``task`` and write a bundle to ``out``.

    On any failure nothing is written to ``out``, the registry or a result store."""
    entry_path, out = Path(entry_path), Path(out)
    registry_spec = str(registry_spec or "")
    entry = _entry_for_new_bundle(entry_path, out)
    from ..pipeline.models import builder_params, param_problems

    if entry.kind == "model" and (problems := param_problems(entry.builder, builder_params(entry))):
        raise SubmissionError(f"{entry_path}: {problems[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        rec, diagrams = _run(entry_path, task, seed, Path(tmp), registry_spec)
        # the submitter's own run: self-reported until a maintainer re-runs it (``publish``)
        rec = Record.from_dict({**rec.to_dict(), "provenance": "self_reported"}, source=str(entry_path))
        staging = Path(tmp) / "bundle"
        staging.mkdir()
        shutil.copy(entry_path, staging / "entry.yaml")
        (staging / "record.json").write_bytes(rec.to_json())
        if diagrams.is_file():
            shutil.copy(diagrams, staging / "record.diagrams.npz")
        else:
            np.savez(staging / "record.diagrams.npz")
        shutil.copy(_checkpoint_of(Path(tmp), rec), staging / WEIGHTS_FILE)
        (staging / "environment.json").write_text(
            json.dumps(
                {"versions": library_versions(), "platform": platform.platform(), "task": task, "seed": seed}, indent=1
            )
        )
        manifest = {name: sha256_file(staging / name) for name in BUNDLE_FILES + (WEIGHTS_FILE,)}
        atomic_write_bytes(staging / "manifest.json", json.dumps(manifest, indent=1).encode())
        shutil.copytree(staging, out)
    return out


def measure_activations(
    entry, task_name: str, acts_path: Path, registry_spec: str, deadline: Deadline | None = None
) -> tuple[dict, dict, dict]:
    """A record from submitted activations: every layer measured under the current protocol, one
    member of the archive in memory at a time, after :func:`check_activations_file` accepted it.

    Returns (record dict, diagrams, kept), where ``kept`` holds the activations by (layer,
    pooling), the probe labels and the protocol (``activations``, ``y_probe``, ``cfg``), for the
    sensitivity probe."""
    from ..pipeline.jobs import build_record, cached_registry, cached_task_data, job_id, record_identity
    from ..protocol import CURRENT_VERSION, measure_layer, protocol

    cfg = protocol(CURRENT_VERSION)
    registry = cached_registry(registry_spec)
    data = cached_task_data(registry_spec, task_name)
    _, y_probe = data.probe()
    members = check_activations_file(acts_path, len(y_probe), entry)

    def scalar(key: str):
        return load_npz_member(acts_path, key, SubmissionError)[()]

    probe_hash = str(scalar("probe_hash"))
    if probe_hash != data.probe_hash:
        raise SubmissionError(
            f"{acts_path}: probe_hash: {short(probe_hash[:16])}... is not task {task_name!r}'s probe set "
            f"({data.probe_hash[:16]}...)"
        )
    accuracies = {}
    for key in ("train_accuracy", "test_accuracy"):
        value = scalar(key)
        if not isinstance(value, (float, np.floating, int, np.integer)) or not 0.0 <= float(value) <= 1.0:
            raise SubmissionError(f"{acts_path}: {key}: {short(value)}; expected a number in [0, 1]")
        accuracies[key] = float(value)
    specs = {s.name: s for s in entry.layers}
    layers, diagrams, kept = [], {}, {}
    for member in sorted((m for m in members if "__" in m.name), key=lambda m: m.name):
        name, pooling = member.name.split("__", 1)
        if deadline is not None:
            deadline.check(f"before measuring layer {name!r} ({pooling})")
        acts = load_npz_member(acts_path, member.name, SubmissionError).astype(np.float32)
        if not np.isfinite(acts).all():
            raise SubmissionError(f"{acts_path}: {member.name}: holds NaN or infinite values")
        measures, dgms = measure_layer(acts, y_probe, cfg, name)
        kept[(name, pooling)] = acts
        spec = specs[name]
        layers.append(
            {"name": name, "pooling": pooling, "depth": spec.depth, "role": spec.role, "epoch": 0, "measures": measures}
        )
        diagrams.update({f"{name}__{pooling}__e0__h{d}": v for d, v in enumerate(dgms)})
    task = registry.task(task_name)
    record = build_record(
        job_id=job_id(entry.name, task_name, cfg.version, kind="activations"),
        identity=record_identity(entry, task),
        cfg=cfg,
        seed=0,
        axes={},
        control=None,
        status="submitted_activations",
        probe=(len(y_probe), data.probe_hash, data.probe_ids),
        recipe=None,
        train={**accuracies, "train_loss": float("nan"), "test_loss": float("nan"), "epochs_run": 0, "history": []},
        checkpoint_sha256=None,
        n_parameters=None,
        weight_l2=None,
        times={"train_seconds": 0.0, "measure_seconds": sum(l["measures"].get("seconds", 0.0) for l in layers)},
        peak_rss_mb=None,
        device="cpu",
        layers=layers,
    )
    return record, diagrams, {"activations": kept, "y_probe": y_probe, "cfg": cfg}


def submit_activations(
    entry_path: str | Path,
    activations: str | Path,
    task: str,
    out: str | Path,
    *,
    registry_spec: str | Path | None = None,
) -> Path:
    """A bundle from activations (weights not shared); nothing is written on failure."""
    entry_path, out, activations = Path(entry_path), Path(out), Path(activations)
    registry_spec = str(registry_spec or "")
    entry = _entry_for_new_bundle(entry_path, out)
    data, diagrams, _ = measure_activations(entry, task, activations, registry_spec)
    record = finalize(data, "self_reported")
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "bundle"
        staging.mkdir()
        shutil.copy(entry_path, staging / "entry.yaml")
        shutil.copy(activations, staging / ACTIVATIONS_FILE)
        (staging / "record.json").write_bytes(record.to_json())
        np.savez(staging / "record.diagrams.npz", **diagrams)
        (staging / "environment.json").write_text(
            json.dumps(
                {
                    "versions": library_versions(),
                    "platform": platform.platform(),
                    "task": task,
                    "seed": 0,
                    "activations": True,
                },
                indent=1,
            )
        )
        names = BUNDLE_FILES + (ACTIVATIONS_FILE,)
        manifest = {name: sha256_file(staging / name) for name in names}
        atomic_write_bytes(staging / "manifest.json", json.dumps(manifest, indent=1).encode())
        shutil.copytree(staging, out)
    return out

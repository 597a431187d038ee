"""Submitting a model and verifying a submission.

For weights that cannot be shared, the activations themselves can be submitted: an ``.npz``
file with one float32 array per measured layer and pooling, named ``LAYER__POOLING`` (rows in
the order of the task's probe set), plus ``probe_hash`` (the task's probe-set hash, as
``reptopo`` computes it), ``train_accuracy`` and ``test_accuracy`` (scalars). Such a bundle
also carries ``activations.npz``; ``verify`` re-measures it.

A bundle is a folder: ``entry.yaml`` (the model entry), ``record.json`` and
``record.diagrams.npz`` (the protocol's result), ``environment.json`` (library versions and
platform) and ``manifest.json`` (the sha256 of each of those files). Nothing in a bundle is
ever executed by the site; ``verify`` refuses a bundle whose files do not match its manifest.

Tolerances of ``verify``: with the same library versions every number must agree to 1e-9
relative (the protocol is deterministic on CPU for a fixed seed); across environments,
dimensions and persistence summaries within 5% relative, accuracies and linear-probe accuracies
within 0.02 absolute, Betti numbers within 1.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ReptopoError
from .jobs import Job, library_versions, run_job
from .registry import RegistryError, load_entry
from .record import Record, finalize
from .store import ResultStore, atomic_write_bytes

BUNDLE_FILES = ("entry.yaml", "record.json", "record.diagrams.npz", "environment.json")


class SubmissionError(ReptopoError, RuntimeError):
    """A refused submission or bundle; the message names the file and field."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _overlay_registry(entry_path: Path, base: str, workdir: Path) -> str:
    """The registry ``base`` plus a folder holding only the submitted entry, so nothing else
    is touched (a registry spec: folders joined by ``os.pathsep``)."""
    reg = workdir / "registry"
    (reg / "models").mkdir(parents=True)
    shutil.copy(entry_path, reg / "models" / entry_path.name)
    return os.pathsep.join(p for p in (base, str(reg)) if p)


def _run(entry_path: Path, task: str, seed: int, workdir: Path, base: str) -> tuple[dict, Path]:
    entry = load_entry(entry_path)
    if entry.kind != "model":
        raise SubmissionError(f"{entry_path}: kind: expected 'model', got {entry.kind!r}")
    reg = _overlay_registry(entry_path, base, workdir)
    res = run_job(Job(entry.name, task, seed), reg, str(workdir / "store"))
    if res["status"] != "done":
        failure = ResultStore(workdir / "store").failures()
        detail = failure[0]["error"] if failure else res.get("error")
        raise SubmissionError(f"{entry_path}: the protocol run failed: {detail}")
    rec = ResultStore(workdir / "store").records()[0]
    return rec, ResultStore(workdir / "store").diagrams_path(rec["job_id"])


def submit(entry_path: str | Path, task: str, out: str | Path, *, seed: int = 0, registry: str | Path | None = None) -> Path:
    """Validate ``entry_path``, run the protocol on ``task`` and write a bundle to ``out``.

    On any failure nothing is written to ``out``, the registry or a result store."""
    entry_path, out = Path(entry_path), Path(out)
    base = str(registry or "")
    if out.exists():
        raise SubmissionError(f"{out}: already exists; choose a new bundle folder")
    try:
        load_entry(entry_path)
    except RegistryError as exc:
        raise SubmissionError(str(exc)) from None
    with tempfile.TemporaryDirectory() as tmp:
        rec, diagrams = _run(entry_path, task, seed, Path(tmp), base)
        # the submitter's own run: self-reported until a maintainer re-runs it (``publish``)
        rec = Record.from_dict({**rec, "provenance": "self_reported"}, source=str(entry_path)).to_dict()
        staging = Path(tmp) / "bundle"
        staging.mkdir()
        shutil.copy(entry_path, staging / "entry.yaml")
        (staging / "record.json").write_text(json.dumps(rec, indent=1, sort_keys=True, allow_nan=True))
        if diagrams.is_file():
            shutil.copy(diagrams, staging / "record.diagrams.npz")
        else:
            np.savez(staging / "record.diagrams.npz")
        (staging / "environment.json").write_text(json.dumps({"versions": library_versions(), "platform": platform.platform(),
                                                              "task": task, "seed": seed}, indent=1))
        manifest = {name: _sha256(staging / name) for name in BUNDLE_FILES}
        atomic_write_bytes(staging / "manifest.json", json.dumps(manifest, indent=1).encode())
        shutil.copytree(staging, out)
    return out


def check_manifest(bundle: Path) -> dict:
    manifest_path = bundle / "manifest.json"
    if not manifest_path.is_file():
        raise SubmissionError(f"{manifest_path}: missing")
    manifest = json.loads(manifest_path.read_text())
    extra = ("activations.npz",) if (bundle / "activations.npz").exists() or "activations.npz" in manifest else ()
    for name in BUNDLE_FILES + extra:
        path = bundle / name
        if name not in manifest:
            raise SubmissionError(f"{manifest_path}: {name}: not listed")
        if not path.is_file():
            raise SubmissionError(f"{path}: missing")
        if _sha256(path) != manifest[name]:
            raise SubmissionError(f"{path}: sha256 {_sha256(path)[:16]}... does not match the manifest's {manifest[name][:16]}...")
    return manifest


def _numbers(rec: dict) -> dict[str, float]:
    out = {f"train.{k}": v for k, v in rec["train"].items() if isinstance(v, (int, float))}

    def walk(prefix, obj):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k not in ("seconds",):
                    walk(f"{prefix}.{k}", v)
        elif isinstance(obj, list) and all(isinstance(v, (int, float)) for v in obj):
            for i, v in enumerate(obj):
                out[f"{prefix}.{i}"] = v
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
            out[prefix] = obj

    for layer in rec["layers"]:
        walk(f"{layer['name']}/{layer['pooling']}/e{layer['epoch']}", layer["measures"])
    return out


def _tolerance(key: str, same_env: bool) -> tuple[float, float]:
    if same_env:
        return 1e-9, 1e-12
    if "accuracy" in key:
        return 0.0, 0.02
    if ".betti." in key:
        return 0.0, 1.0
    return 0.05, 1e-9


def compare(submitted: dict, rerun: dict, *, same_env: bool) -> list[str]:
    """Every score that differs beyond its tolerance, as 'key: submitted vs rerun'."""
    a, b = _numbers(submitted), _numbers(rerun)
    problems = [f"{k}: missing from the re-run" for k in sorted(set(a) - set(b))]
    for k in sorted(set(a) & set(b)):
        x, y = float(a[k]), float(b[k])
        if np.isnan(x) and np.isnan(y):
            continue
        rtol, atol = _tolerance(k, same_env)
        if not np.isclose(x, y, rtol=rtol, atol=atol):
            problems.append(f"{k}: submitted {x!r}, re-run {y!r}")
    return problems


@dataclass
class Verification:
    """The outcome of re-deriving a record: the scores that differ beyond their tolerance, and
    the content digest claimed against the one re-derived (equal only in the same environment)."""

    problems: list[str]
    claimed_digest: str
    rederived_digest: str
    record: Record  # the re-derived record
    diagrams: Path | None = None

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def digest_matches(self) -> bool:
        return self.claimed_digest == self.rederived_digest


def _load_bundle_record(bundle: Path) -> Record:
    return Record.from_disk(bundle / "record.json")


def verify(bundle: str | Path, *, registry: str | Path | None = None, workdir: Path | None = None) -> Verification:
    """Re-run a bundle's protocol (or re-measure its activations) and compare every score.

    ``workdir``: keep the re-run's files there (``publish`` stores its diagrams)."""
    bundle = Path(bundle)
    check_manifest(bundle)
    submitted = _load_bundle_record(bundle)
    env = json.loads((bundle / "environment.json").read_text())
    base = str(registry or "")
    same_env = env["versions"] == library_versions()
    if env.get("activations"):
        data, diagrams = _measure_activations(load_entry(bundle / "entry.yaml"), env["task"], bundle / "activations.npz", base)
        rerun = finalize(data, "self_reported")
        return Verification(compare(submitted.to_dict(), rerun.to_dict(), same_env=same_env), submitted.digest,
                            rerun.digest, rerun)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(workdir or tmp)
        entry_copy = work / f"{submitted.model}.yaml"
        shutil.copy(bundle / "entry.yaml", entry_copy)
        data, diagrams = _run(entry_copy, env["task"], env["seed"], work, base)
        rerun = Record.from_dict(data)
        return Verification(compare(submitted.to_dict(), data, same_env=same_env), submitted.digest, rerun.digest, rerun,
                            diagrams if workdir else None)


def verify_record(record_path: str | Path, *, registry: str | Path | None = None) -> Verification:
    """Re-run the job of a stored record (e.g. the committed reference results) and compare."""
    rec = Record.from_disk(record_path)
    base = str(registry or "")
    job = Job(rec.model, rec.task, rec.seed, tuple(sorted(rec.axes.items())), rec.control)
    with tempfile.TemporaryDirectory() as tmp:
        res = run_job(job, base, tmp, rec.protocol.version)
        if res["status"] != "done":
            raise SubmissionError(f"{record_path}: the re-run failed: {res.get('error')}")
        rerun = ResultStore(tmp).load_records()[0]
    return Verification(compare(rec.to_dict(), rerun.to_dict(), same_env=rec.versions == library_versions()),
                        rec.digest, rerun.digest, rerun)


def publish(bundle: str | Path, store: str | Path, *, registry: str | Path | None = None) -> Record:
    """What a maintainer runs on a pull request: verify ``bundle`` and add its record to ``store``.

    A bundle whose scores do not re-derive, or whose record does not validate, is refused and
    nothing is written. The record is stored as ``verified_submission`` (re-run here from the
    weights or the builder) or ``self_reported`` (submitted activations: the measures are
    re-derived, the training is not); the model entry goes to ``STORE/entries/models/`` so the
    leaderboard shows it.
    """
    bundle, target = Path(bundle), ResultStore(store)
    env = json.loads((bundle / "environment.json").read_text()) if (bundle / "environment.json").is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        result = verify(bundle, registry=registry, workdir=Path(tmp))
        if not result.passed:
            raise SubmissionError(f"{bundle}: verification failed, not published: {len(result.problems)} score(s) differ, "
                                  f"first {result.problems[0]}")
        submitted = _load_bundle_record(bundle)
        if target.has(submitted.job_id):
            raise SubmissionError(f"{target.record_path(submitted.job_id)}: already in the store; remove it first to replace it")
        provenance = "self_reported" if env.get("activations") else "verified_submission"
        with np.load(bundle / "record.diagrams.npz", allow_pickle=False) as z:
            diagrams = {k: z[k] for k in z.files}
        entry_dir = target.root / "entries" / "models"
        entry_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(bundle / "entry.yaml", entry_dir / f"{submitted.model}.yaml")
        target.write(submitted, diagrams, provenance=provenance)
    return Record.from_disk(target.record_path(submitted.job_id))


def _measure_activations(entry, task_name: str, acts_path: Path, base: str) -> tuple[dict, dict]:
    """A record from submitted activations: every layer measured under the current protocol."""
    from .jobs import build_record, cached_task_data
    from .protocol import CURRENT_VERSION, measure_layer, protocol
    from .registry import Registry

    cfg = protocol(CURRENT_VERSION)
    reg = Registry(base)
    data = cached_task_data(base, task_name)
    _, y_probe = data.probe()
    with np.load(acts_path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for key in ("probe_hash", "train_accuracy", "test_accuracy"):
        if key not in arrays:
            raise SubmissionError(f"{acts_path}: {key}: missing (see the activations format in reptopo.submission)")
    if str(arrays["probe_hash"]) != data.probe_hash:
        raise SubmissionError(f"{acts_path}: probe_hash: {str(arrays['probe_hash'])[:16]}... is not task {task_name!r}'s probe set "
                              f"({data.probe_hash[:16]}...)")
    specs = {s.name: s for s in entry.layers}
    layers, diagrams = [], {}
    for key, acts in sorted(arrays.items()):
        if "__" not in key:
            continue
        name, pooling = key.split("__", 1)
        if name not in specs:
            raise SubmissionError(f"{acts_path}: {key}: layer {name!r} is not declared in the entry's layers")
        if acts.ndim != 2 or len(acts) != len(y_probe):
            raise SubmissionError(f"{acts_path}: {key}: shape {acts.shape}, expected ({len(y_probe)}, d) for the probe set")
        measures, dgms = measure_layer(acts.astype(np.float32), y_probe, cfg, name)
        layers.append({"name": name, "pooling": pooling, "depth": specs[name].depth, "role": specs[name].role, "epoch": 0,
                       "measures": measures})
        diagrams.update({f"{name}__{pooling}__e0__h{d}": v for d, v in enumerate(dgms)})
    task = reg.task(task_name)
    train_acc, test_acc = float(arrays["train_accuracy"]), float(arrays["test_accuracy"])
    record = build_record(
        job_id=f"{entry.name}__{task_name}__activations__p{cfg.version}", entry=entry, task_entry=task, cfg=cfg,
        seed=0, axes={}, control=None, status="submitted_activations",
        probe=(len(y_probe), data.probe_hash, data.probe_ids), recipe=None,
        train={"train_accuracy": train_acc, "test_accuracy": test_acc, "train_loss": float("nan"),
               "test_loss": float("nan"), "epochs_run": 0, "history": []},
        checkpoint_sha256=None, n_parameters=None, weight_l2=None,
        times={"train_seconds": 0.0, "measure_seconds": sum(l["measures"].get("seconds", 0.0) for l in layers)},
        peak_rss_mb=None, device="cpu", layers=layers)
    return record, diagrams


def submit_activations(entry_path: str | Path, activations: str | Path, task: str, out: str | Path, *,
                       registry: str | Path | None = None) -> Path:
    """A bundle from activations (weights not shared); nothing is written on failure."""
    entry_path, out, activations = Path(entry_path), Path(out), Path(activations)
    base = str(registry or "")
    if out.exists():
        raise SubmissionError(f"{out}: already exists; choose a new bundle folder")
    try:
        entry = load_entry(entry_path)
    except RegistryError as exc:
        raise SubmissionError(str(exc)) from None
    data, diagrams = _measure_activations(entry, task, activations, base)
    record = finalize(data, "self_reported").to_dict()
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "bundle"
        staging.mkdir()
        shutil.copy(entry_path, staging / "entry.yaml")
        shutil.copy(activations, staging / "activations.npz")
        (staging / "record.json").write_text(json.dumps(record, indent=1, sort_keys=True, allow_nan=True))
        np.savez(staging / "record.diagrams.npz", **diagrams)
        (staging / "environment.json").write_text(json.dumps({"versions": library_versions(), "platform": platform.platform(),
                                                              "task": task, "seed": 0, "activations": True}, indent=1))
        names = BUNDLE_FILES + ("activations.npz",)
        manifest = {name: _sha256(staging / name) for name in names}
        atomic_write_bytes(staging / "manifest.json", json.dumps(manifest, indent=1).encode())
        shutil.copytree(staging, out)
    return out

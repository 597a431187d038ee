"""Submitting a model and verifying a submission.

A bundle is a folder: ``entry.yaml`` (the model entry), ``record.json`` and
``record.diagrams.npz`` (the protocol's result), ``weights.safetensors`` (the trained
checkpoint), ``environment.json`` (library versions and platform) and ``manifest.json`` (the
sha256 of each of those files). For weights that cannot be shared, the activations themselves can
be submitted instead: ``activations.npz``, one float32 array per measured layer and pooling, named
``LAYER__POOLING`` (rows in the order of the task's probe set), plus ``probe_hash`` (the task's
probe-set hash, as ``reptopo`` computes it), ``train_accuracy`` and ``test_accuracy`` (scalars).

**What verify and publish run.** Nothing a bundle names: :func:`check_manifest` accepts only plain
files inside the bundle whose hashes the manifest gives, and :func:`check_bundle_entry` only a
builder registered in :mod:`reptopo.models` with parameters it takes, within
:data:`reptopo.models.PARAM_BOUNDS`, and safetensors weights inside the bundle. A
``module:function`` builder runs only where the maintainer passes ``--trust-builder PACKAGE``
for exactly its top-level package. An activations file is refused by its headers before it is read
(:data:`MAX_ACTIVATION_FEATURES` columns, :data:`MAX_ACTIVATION_BYTES` in all).

**Two kinds of verification** (:mod:`reptopo.reproduce`), named in every verdict:

- *measurement* (the default): the bundle's checkpoint (or activations) measured again on the
  probe set, and its accuracies re-evaluated. Floats must agree within tolerances measured across
  instruction sets; a value an estimator amplifies beyond them is judged by re-measuring its layer
  with perturbed activations (float noise, or a real discrepancy); a count may differ only so.
  The layers measured during training (the learning dynamics) cannot be re-derived from the final
  checkpoint and are said to be unchecked.
- *training* (``--retrain``): the model retrained from its seed, judged against the spread of the
  reference seeds of the same entry (3 or more), widened by a stated factor; with fewer seeds the
  verdict says it cannot judge. Training is not bit-reproducible across instruction sets.

**The measured tolerances.** ``bench/isa_spread.py`` trained eleven models (one per family and
modality of the quick suite: MLP, LeNet, ResNet and ViT on MNIST, a 1-D CNN on MNIST-1D, a text
CNN, a BERT-style encoder and pretrained MiniLM on debate statements, a bag of embeddings on Rotten
Tomatoes, Naitzat's narrow ReLU network on D-I, a frozen ImageNet MobileNetV2 on digits) and
re-measured each checkpoint under other kernels on one machine (an AMD EPYC with AVX-512): torch's
ATen at AVX2 and without SIMD, oneDNN at SSE4.1, OpenBLAS on a Sandy Bridge core (no FMA) and two
threads, and all at once. The largest relative deviation from the native run, over every layer of
the eleven models, and the tolerance set with its margin:

===================================  =======  =======  =======  =======  =======  =======  =========
measure (largest relative deviation) ATen     oneDNN   OpenBLAS 2        AVX2     old CPU  tolerance
                                     default  SSE4.1   SandyBr. threads  CPU      2 thr.
===================================  =======  =======  =======  =======  =======  =======  =========
activations (max abs / RMS)          1.7e-05  1.7e-05  0        0        1.2e-05  2.0e-05  (probe 2e-05)
persistence total persistence        4.4e-05  4.7e-06  0        0        5.2e-06  4.8e-05  1e-03
class_topology whole total pers.     4.4e-05  4.7e-06  0        0        5.1e-06  4.8e-05  1e-03
phdim log E (per size)               2.7e-05  3.0e-05  0        0        3.2e-05  2.2e-06  1e-03
phdim dimension                      3.3e-07  3.1e-07  1.7e-15  0        3.7e-07  5.2e-07  1e-03
twonn dimension                      1.7e-02  4.0e-02  4.1e-16  0        3.1e-02  4.0e-02  1e-03 + probe
mle dimension                        4.6e-01  4.9e-01  0        0        4.9e-01  4.7e-01  1e-03 + probe
linear_probe_accuracy                3.9e-03  6.8e-03  6.8e-03  0        2.0e-02  4.6e-03  5e-02
train/test loss                      3.1e-07  3.9e-07  0        0        1.6e-07  1.6e-07  1e-03
train/test accuracy                  0        0        0        0        0        0        1e-02
TwoNN / MLE drop counts changed      3 / 6    7 / 10   0 / 0    0 / 0    4 / 7    8 / 9    undecided
===================================  =======  =======  =======  =======  =======  =======  =========

Betti numbers, component counts and PHdim's censoring did not change in any setting. Every
continuous measure but TwoNN, the MLE and the linear probe moved by at most 5e-5, so the
tolerance of 1e-3 leaves a margin of 20. The linear probe's logistic regression stops at its
iteration limit and moved by up to 2e-2 (a few held-out predictions): 5e-2. TwoNN and the MLE moved
by up to 49% in layers with repeated inputs (the debate statements repeat 5 texts in 300): the
distance between two identical rows is computed as |x|^2 + |y|^2 - 2 x.y, exactly 0 or a rounding
residue by the rows' last bits and the BLAS kernel; both estimators drop a point at distance 0, and the
MLE divides by the residue. Those counts are "undecided" (:func:`reptopo.reproduce.undecided_counts`:
the points with an identical row as a nearest neighbour), and the estimates computed on the points
they leave follow them. Run as ``reptopo verify`` runs it, the measurement check of the eleven
records under each setting compared 13,785 values: 13,754 agree and 31 are float noise under ATen
without SIMD, 13,731 and 54 under oneDNN at SSE4.1, all agree under OpenBLAS's Sandy Bridge kernels
and under two threads, 13,750 and 35 on the AVX2 CPU, 13,731 and 54 on the old CPU with two
threads; none differs.

A re-run on the same machine type gives the same bits (the deviation of a second native run is 0),
so equal digests there are expected, and a different digest elsewhere is not a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RegistryError, SubmissionError
from .jobs import Job, Remeasured, library_versions, measure_checkpoint, run_job
from .record import Provenance, Record, finalize
from .registry import load_entry
from .reproduce import (
    SENSITIVITY_REPEATS,
    Finding,
    TrainingVerdict,
    check_training,
    compare_measurement,
    perturb_rows,
    score_leaves,
    undecided_counts,
)
from .store import ResultStore, atomic_write_bytes

BUNDLE_FILES = ("entry.yaml", "record.json", "record.diagrams.npz", "environment.json")
WEIGHTS_FILE = "weights.safetensors"  # the trained checkpoint: what the measurement check measures again
ACTIVATIONS_FILE = "activations.npz"  # a bundle without weights: the layers' activations on the probe set


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _overlay_registry(entry_path: Path, registry_spec: str, workdir: Path) -> str:
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
    overlaid = _overlay_registry(entry_path, registry_spec, workdir)
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


def submit(
    entry_path: str | Path, task: str, out: str | Path, *, seed: int = 0, registry_spec: str | Path | None = None
) -> Path:
    """Validate ``entry_path``, run the protocol on ``task`` and write a bundle to ``out``.

    On any failure nothing is written to ``out``, the registry or a result store."""
    entry_path, out = Path(entry_path), Path(out)
    registry_spec = str(registry_spec or "")
    if out.exists():
        raise SubmissionError(f"{out}: already exists; choose a new bundle folder")
    try:
        entry = load_entry(entry_path)
    except RegistryError as exc:
        raise SubmissionError(str(exc)) from None
    from .models import builder_params, param_problems

    if entry.kind == "model" and (problems := param_problems(entry.builder, builder_params(entry))):
        raise SubmissionError(f"{entry_path}: {problems[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        rec, diagrams = _run(entry_path, task, seed, Path(tmp), registry_spec)
        # the submitter's own run: self-reported until a maintainer re-runs it (``publish``)
        rec = Record.from_dict({**rec.to_dict(), "provenance": "self_reported"}, source=str(entry_path))
        staging = Path(tmp) / "bundle"
        staging.mkdir()
        shutil.copy(entry_path, staging / "entry.yaml")
        (staging / "record.json").write_text(json.dumps(rec.to_dict(), indent=1, sort_keys=True, allow_nan=True))
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
        manifest = {name: _sha256(staging / name) for name in BUNDLE_FILES + (WEIGHTS_FILE,)}
        atomic_write_bytes(staging / "manifest.json", json.dumps(manifest, indent=1).encode())
        shutil.copytree(staging, out)
    return out


def _plain_file_inside(bundle: Path, relative: str, where: Path, field: str) -> Path:
    """``bundle/relative``, refused (naming ``where`` and ``field``) unless it is a plain file
    inside the bundle: no absolute path, no '..', no symbolic link on the way (a link could name
    any file of the maintainer's)."""
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise SubmissionError(f"{where}: {field}: {relative!r} must be a relative path inside the bundle, without '..'")
    here = bundle
    for part in rel.parts:
        here = here / part
        if here.is_symlink():
            raise SubmissionError(f"{here}: a symbolic link; a bundle holds plain files only")
    if not here.resolve().is_relative_to(bundle.resolve()):
        raise SubmissionError(f"{here}: outside the bundle")
    return here


def check_manifest(bundle: Path) -> dict:
    """The bundle's manifest, after every file it must list is found, plain, inside the bundle
    and of the hash the manifest gives; a :class:`SubmissionError` naming the file otherwise."""
    manifest_path = bundle / "manifest.json"
    if manifest_path.is_symlink() or not manifest_path.is_file():
        raise SubmissionError(f"{manifest_path}: missing (or not a plain file)")
    manifest = json.loads(manifest_path.read_text())
    if not isinstance(manifest, dict) or not all(isinstance(v, str) for v in manifest.values()):
        raise SubmissionError(f"{manifest_path}: expected an object of file names and sha256 digests")
    extra = tuple(name for name in (ACTIVATIONS_FILE, WEIGHTS_FILE) if (bundle / name).exists() or name in manifest)
    for name in BUNDLE_FILES + extra:
        if name not in manifest:
            raise SubmissionError(f"{manifest_path}: {name}: not listed")
    for name in manifest:
        path = _plain_file_inside(bundle, name, manifest_path, "file name")
        if not path.is_file():
            raise SubmissionError(f"{path}: missing")
        if _sha256(path) != manifest[name]:
            raise SubmissionError(
                f"{path}: sha256 {_sha256(path)[:16]}... does not match the manifest's {manifest[name][:16]}..."
            )
    return manifest


def check_bundle_entry(bundle: Path, manifest: dict, *, trust_builder: str | None = None, builds: bool = True):
    """The bundle's model entry, refused before anything of it is imported or built unless:
    its builder is registered in :mod:`reptopo.models` (a 'module:function' builder only where
    ``trust_builder`` is exactly its top-level package, a maintainer's decision on the command
    line, never the bundle's), its parameters pass the builder's checks, and a checkpoint it
    names is a safetensors file inside the bundle, listed in the manifest.

    ``builds=False`` (an activations bundle, whose model is never built): only the entry's
    schema is checked; its builder is neither imported nor required to be registered."""
    from .models import BUILDERS, builder_params, is_registered, param_problems

    where = bundle / "entry.yaml"
    try:
        entry = load_entry(where)
    except RegistryError as exc:
        raise SubmissionError(str(exc)) from None
    if entry.kind != "model":
        raise SubmissionError(f"{where}: kind: expected 'model', got {entry.kind!r}")
    if not builds:
        return entry
    if ":" in entry.builder:
        package = entry.builder.split(":", 1)[0].split(".", 1)[0]
        if package != trust_builder:
            raise SubmissionError(
                f"{where}: builder: {entry.builder!r} is not a registered builder; a maintainer who has "
                f"reviewed and installed the submitter's package can pass --trust-builder {package}"
            )
    elif not is_registered(entry.builder):
        raise SubmissionError(
            f"{where}: builder: {entry.builder!r} is not a registered builder; known: {sorted(BUILDERS)}"
        )
    problems = param_problems(entry.builder, builder_params(entry))
    if problems:
        raise SubmissionError(
            f"{where}: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    pre = entry.pretrained
    if pre is not None and pre.source == "checkpoint":
        path = _plain_file_inside(bundle, pre.path, where, "pretrained.path")
        if path.suffix != ".safetensors":
            raise SubmissionError(
                f"{where}: pretrained.path: {pre.path!r} is not a .safetensors file (weights are safetensors only)"
            )
        if pre.path not in manifest:
            raise SubmissionError(f"{where}: pretrained.path: {pre.path!r} is not listed in the bundle's manifest")
    return entry


# An activations file is read only after its headers were: every array 2-D with the probe set's
# rows and at most MAX_ACTIVATION_FEATURES columns, in all at most MAX_ACTIVATION_BYTES; no object
# arrays (nothing is unpickled).
MAX_ACTIVATION_FEATURES = 1 << 20
MAX_ACTIVATION_BYTES = 4 << 30


def check_activations_file(path: Path, n_rows: int) -> None:
    """Refuse an activations ``.npz`` by its headers, before any array is read."""
    import zipfile

    from numpy.lib import format as npformat

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{path}: not an .npz archive ({exc})") from None
    total = 0
    with archive:
        for info in archive.infolist():
            key = info.filename.removesuffix(".npy")
            try:
                with archive.open(info) as f:
                    version = npformat.read_magic(f)
                    read_header = (
                        npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
                    )
                    shape, _, dtype = read_header(f)
            except ValueError as exc:
                raise SubmissionError(f"{path}: {key}: not a .npy array ({exc})") from None
            if dtype.hasobject:
                raise SubmissionError(f"{path}: {key}: an object array; only numbers and strings are read")
            size = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if "__" in key and (len(shape) != 2 or shape[0] != n_rows or shape[1] > MAX_ACTIVATION_FEATURES):
                raise SubmissionError(
                    f"{path}: {key}: declares shape {shape}; expected ({n_rows}, d) with d <= {MAX_ACTIVATION_FEATURES}"
                )
            if "__" not in key and size > 1024:
                raise SubmissionError(f"{path}: {key}: declares shape {shape}; expected a scalar")
            total += size
            if total > MAX_ACTIVATION_BYTES:
                raise SubmissionError(
                    f"{path}: {key}: the arrays declare more than {MAX_ACTIVATION_BYTES >> 30} GiB in all"
                )


def _leaves(record: dict) -> dict[str, float]:
    return score_leaves(record, final_epoch_only=True)


def _sensitivity(again: Remeasured, epochs_run: int) -> dict:
    """The sensitivity probes of :func:`reptopo.reproduce.compare_measurement`, as its keyword
    arguments: ``sensitivity`` (a layer measured again with its activations perturbed at
    float-noise size, once per repeat) and ``undecided`` (the counts rounding decides)."""
    from .protocol import measure_layer

    def acts_of(layer: str):
        """(name, pooling, activations or None) of a ``LAYER/POOLING/EPOCH`` leaf prefix."""
        name, pooling, _ = layer.split("/")
        return name, pooling, again.activations.get((name, pooling))

    def undecided(layer: str) -> dict[str, float]:
        acts = acts_of(layer)[2]
        return {} if acts is None else undecided_counts(acts)

    def probe(layer: str) -> list[dict[str, float]]:
        name, pooling, acts = acts_of(layer)
        if acts is None:
            return []
        out = []
        for repeat in range(SENSITIVITY_REPEATS):
            moved = perturb_rows(acts, seed=repeat, keep_duplicates=repeat % 2 == 0)
            measures, _ = measure_layer(moved, again.y_probe, again.cfg, name)
            out.append(
                score_leaves(
                    {
                        "train": {"epochs_run": epochs_run},
                        "layers": [{"name": name, "pooling": pooling, "epoch": epochs_run, "measures": measures}],
                    }
                )
            )
        return out

    return {"sensitivity": probe, "undecided": undecided}


@dataclass
class Verification:
    """The outcome of re-deriving a record, by measurement, by training or both (``kinds``).

    ``findings``: every leaf the measurement check compared, each with its verdict;
    ``training``: the retrained record against the reference's seeds; ``notes``: what was not
    checked and why. The content digests identify the claimed and the re-derived record; they
    are equal only where the same bits came out (the same machine type and libraries)."""

    kinds: tuple[str, ...]
    findings: list[Finding]
    training: TrainingVerdict | None
    claimed_digest: str
    rederived_digest: str
    record: Record  # the re-derived record
    diagrams: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """The leaves that differ beyond float noise, and a training check that failed."""
        out = [str(f) for f in self.findings if f.verdict in ("differs", "missing")]
        if self.training is not None and self.training.consistent is False:
            out.append(f"training: {self.training.describe()}; outside: {', '.join(self.training.outside[:8])}")
        return out

    @property
    def float_noise(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == "float noise"]

    @property
    def judged(self) -> bool:
        """Whether anything was checked: a measurement, or a training check with enough seeds."""
        return "measurement" in self.kinds or (self.training is not None and self.training.can_judge)

    @property
    def passed(self) -> bool:
        return self.judged and not self.problems

    @property
    def digest_matches(self) -> bool:
        return self.claimed_digest == self.rederived_digest

    def describe(self) -> list[str]:
        """The verdict, one line per check."""
        lines = []
        if "measurement" in self.kinds:
            n = len(self.findings)
            agree = sum(f.verdict == "agrees" for f in self.findings)
            lines.append(
                f"measurement: {agree} of {n} values agree within the measured tolerances, "
                f"{len(self.float_noise)} differ by float noise the estimator amplifies at that layer, "
                f"{sum(f.verdict in ('differs', 'missing') for f in self.findings)} differ"
            )
        if self.training is not None:
            lines.append(f"training: {self.training.describe()}")
        return lines + self.notes


def _load_bundle_record(bundle: Path) -> Record:
    return Record.from_disk(bundle / "record.json")


def check_measurement(claimed: Record, again: Remeasured) -> tuple[list[Finding], dict]:
    """The claimed record against its checkpoint measured again: (findings, re-derived record dict)."""
    data = claimed.to_dict()
    final = data["train"]["epochs_run"]
    measured = {(l["name"], l["pooling"]): l for l in again.layers}
    layers = [measured.pop((l["name"], l["pooling"]), l) if l["epoch"] == final else l for l in data["layers"]]
    rederived = {**data, "train": {**data["train"], **again.train}, "layers": layers + list(measured.values())}
    findings = compare_measurement(_leaves(data), _leaves(rederived), **_sensitivity(again, final))
    return findings, rederived


def _measurement(
    claimed: Record, registry_spec: str, checkpoint: Path, scratch: Path
) -> tuple[list[Finding], dict, list[str]]:
    """The measurement check of ``claimed`` from ``checkpoint``: (findings, re-derived record
    dict, notes on what it could not check). A checkpoint of another hash, or a probe set that is
    not the record's, is refused in one line naming the file."""
    try:
        again = measure_checkpoint(claimed, registry_spec, checkpoint, scratch)
    except ValueError as exc:
        raise SubmissionError(str(exc)) from None
    findings, rederived = check_measurement(claimed, again)
    return findings, rederived, _dynamics_note(claimed)


def _dynamics_note(record: Record) -> list[str]:
    epochs = sorted({l.epoch for l in record.layers if l.epoch != record.train.epochs_run})
    if not epochs:
        return []
    return [
        f"the layers measured during training (epochs {', '.join(map(str, epochs))}) are not re-derivable from the "
        "final checkpoint: only --retrain checks them"
    ]


def verify(
    bundle: str | Path,
    *,
    registry_spec: str | Path | None = None,
    workdir: Path | None = None,
    retrain: bool = False,
    reference: str | Path | None = None,
    trust_builder: str | None = None,
) -> Verification:
    """Verify a bundle: by measurement (its checkpoint, or its activations, measured again), and
    with ``retrain`` by training as well (the model retrained from its seed, judged against the
    seeds of the same entry in the ``reference`` store, where it has them).

    Nothing the bundle names is imported or run before :func:`check_manifest` and
    :func:`check_bundle_entry` accepted it: a 'module:function' builder needs ``trust_builder``.
    ``workdir``: keep the re-run's files there (``publish`` stores its diagrams).

    Raises
    ------
    SubmissionError
        A bundle that is refused, naming the file and field; or one without weights and
        without ``retrain``.
    """
    bundle = Path(bundle)
    manifest = check_manifest(bundle)
    env = json.loads((bundle / "environment.json").read_text())
    entry = check_bundle_entry(bundle, manifest, trust_builder=trust_builder, builds=not env.get("activations"))
    submitted = _load_bundle_record(bundle)
    registry_spec = str(registry_spec or "")
    if env.get("activations"):
        data, _ = _measure_activations(
            entry, env["task"], bundle / ACTIVATIONS_FILE, registry_spec, keep=(kept := dict[str, Any]())
        )
        rerun = finalize(data, "self_reported")
        probes = _sensitivity(Remeasured([], {}, kept["activations"], kept["y_probe"], kept["cfg"], {}), 0)
        judged = compare_measurement(_leaves(submitted.to_dict()), _leaves(rerun.to_dict()), **probes)
        return Verification(
            ("measurement",),
            judged,
            None,
            submitted.digest,
            rerun.digest,
            rerun,
            notes=["activations bundle: the measures are re-derived; the training is not"],
        )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(workdir or tmp)
        entry_copy = _entry_for_run(bundle, entry, work)
        overlaid = _overlay_registry(entry_copy, registry_spec, work / "measure")
        kinds: list[str] = []
        findings: list[Finding] = []
        notes: list[str] = []
        training = None
        rederived = submitted.to_dict()
        if WEIGHTS_FILE in manifest:
            findings, rederived, notes = _measurement(
                submitted, overlaid, bundle / WEIGHTS_FILE, work / "measure" / "scratch"
            )
            kinds.append("measurement")
        elif not retrain:
            raise SubmissionError(
                f"{bundle}: carries no {WEIGHTS_FILE} to measure again; pass --retrain to check it by training instead"
            )
        diagrams = None
        if retrain:
            rerun_record, diagrams = _run(entry_copy, env["task"], env["seed"], work, registry_spec)
            data = rerun_record.to_dict()
            training = _training_check(submitted.to_dict(), data, reference)
            kinds.append("training")
            rederived = rederived if "measurement" in kinds else data
        rerun = Record.from_dict({**rederived, "digest": ""}, source=str(bundle / "record.json"))
        return Verification(
            tuple(kinds),
            findings,
            training,
            submitted.digest,
            rerun.digest,
            rerun,
            diagrams if workdir else None,
            notes,
        )


def _entry_for_run(bundle: Path, entry, work: Path) -> Path:
    """The bundle's entry as a file to run, its checkpoint path (checked to lie in the bundle)
    made absolute, so that nothing depends on the maintainer's working folder."""
    import yaml

    path = work / f"{entry.name}.yaml"
    if entry.pretrained is not None and entry.pretrained.source == "checkpoint":
        data = entry.model_dump(mode="json", exclude_unset=True)
        data["pretrained"]["path"] = str((bundle / entry.pretrained.path).resolve())
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    else:
        shutil.copy(bundle / "entry.yaml", path)
    return path


def _training_check(claimed: dict, rerun: dict, reference: str | Path | None) -> TrainingVerdict:
    """A retrained record judged against the reference store's seeds of the same entry (the
    claimed record counts as its own seed)."""
    population = [r.to_dict() for r in ResultStore(reference).records()] if reference else []
    population = [r for r in population if r["job_id"] != claimed["job_id"]] + [claimed]
    return check_training(rerun, population)


def _record_store(record_path: Path) -> ResultStore:
    """The store a record file lives in (STORE/records/JOB.json)."""
    return ResultStore(record_path.resolve().parent.parent)


def verify_record(
    record_path: str | Path,
    *,
    registry_spec: str | Path | None = None,
    retrain: bool = False,
    checkpoint: str | Path | None = None,
) -> Verification:
    """Verify a stored record: by measurement, from its checkpoint in the store (or ``checkpoint``);
    with ``retrain``, by training as well: the job run again from its seed and judged against the
    seeds of its population in the same store.

    Raises SubmissionError when there is no checkpoint to measure and ``retrain`` is not set."""
    record_path = Path(record_path)
    rec = Record.from_disk(record_path)
    store = _record_store(record_path)
    registry_spec = str(registry_spec or "")
    path = Path(checkpoint) if checkpoint else store.checkpoint_path(rec.job_id)
    kinds: list[str] = []
    findings: list[Finding] = []
    notes: list[str] = []
    training = None
    rederived = rec.to_dict()
    with tempfile.TemporaryDirectory() as tmp:
        if path.is_file():
            findings, rederived, notes = _measurement(rec, registry_spec, path, Path(tmp) / "scratch")
            kinds.append("measurement")
        elif not retrain:
            raise SubmissionError(
                f"{path}: no checkpoint of {rec.job_id} to measure again (stores keep them in "
                "checkpoints/; the committed reference results do not); pass --retrain to check it by "
                "training instead"
            )
        if retrain:
            job = Job(rec.model, rec.task, rec.seed, tuple(sorted(rec.axes.items())), rec.control)
            res = run_job(job, registry_spec, str(Path(tmp) / "store"), rec.protocol.version)
            if res["status"] != "done":
                raise SubmissionError(f"{record_path}: the re-run failed: {res.get('error')}")
            rerun_store = ResultStore(Path(tmp) / "store")
            data = rerun_store.records()[0].to_dict()
            training = _training_check(rec.to_dict(), data, store.root)
            kinds.append("training")
            if "measurement" not in kinds and data["checkpoint_sha256"] == rec.checkpoint_sha256:
                # the same bits came out of training: the retrained checkpoint is the record's own
                findings, rederived, notes = _measurement(
                    rec, registry_spec, rerun_store.checkpoint_path(rec.job_id), Path(tmp) / "scratch"
                )
                kinds.insert(0, "measurement")
                notes.insert(0, "the retrained checkpoint is bit for bit the record's: it was measured again as well")
            else:
                rederived = rederived if "measurement" in kinds else data
    rerun = Record.from_dict({**rederived, "digest": ""}, source=str(record_path))
    return Verification(tuple(kinds), findings, training, rec.digest, rerun.digest, rerun, notes=notes)


def publish(
    bundle: str | Path,
    store: str | Path,
    *,
    registry_spec: str | Path | None = None,
    retrain: bool = False,
    trust_builder: str | None = None,
) -> Record:
    """What a maintainer runs on a pull request: verify ``bundle`` and add its record to ``store``.

    The bundle is verified by measurement (its checkpoint measured again) and, with ``retrain``,
    by training too, judged against the seeds of the same entry already in ``store``. A bundle
    that does not verify, or whose record does not validate, is refused and nothing is written.
    The record is stored as ``verified_submission`` (its weights or its training re-derived
    here) or ``self_reported`` (submitted activations: the measures are re-derived, the training
    is not), with its checkpoint under ``STORE/checkpoints/`` so that the store can be verified
    by measurement later; the model entry goes to ``STORE/entries/models/`` so the leaderboard
    shows it.
    """
    bundle, target = Path(bundle), ResultStore(store)
    env = json.loads((bundle / "environment.json").read_text()) if (bundle / "environment.json").is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        result = verify(
            bundle,
            registry_spec=registry_spec,
            workdir=Path(tmp),
            retrain=retrain,
            reference=target.root if (target.root / "records").is_dir() else None,
            trust_builder=trust_builder,
        )
        if result.problems:
            raise SubmissionError(
                f"{bundle}: verification failed, not published: {len(result.problems)} score(s) differ, "
                f"first {result.problems[0]}"
            )
        if not result.passed:
            raise SubmissionError(
                f"{bundle}: verification could not judge it, not published: {'; '.join(result.describe())}"
            )
        submitted = _load_bundle_record(bundle)
        if target.has(submitted.job_id):
            raise SubmissionError(
                f"{target.record_path(submitted.job_id)}: already in the store; remove it first to replace it"
            )
        provenance: Provenance = "self_reported" if env.get("activations") else "verified_submission"
        with np.load(bundle / "record.diagrams.npz", allow_pickle=False) as z:
            diagrams = {k: z[k] for k in z.files}
        entry_dir = target.root / "entries" / "models"
        entry_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(bundle / "entry.yaml", entry_dir / f"{submitted.model}.yaml")
        if (bundle / WEIGHTS_FILE).is_file():
            target.checkpoint_path(submitted.job_id).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(bundle / WEIGHTS_FILE, target.checkpoint_path(submitted.job_id))
        target.write(submitted, diagrams, provenance=provenance)
    return Record.from_disk(target.record_path(submitted.job_id))


def _measure_activations(
    entry, task_name: str, acts_path: Path, registry_spec: str, keep: dict | None = None
) -> tuple[dict, dict]:
    """A record from submitted activations: every layer measured under the current protocol.

    ``keep``: a dict that receives the activations by (layer, pooling), the probe labels and the
    protocol (``activations``, ``y_probe``, ``cfg``), for the sensitivity probe."""
    from .jobs import build_record, cached_task_data, job_id
    from .protocol import CURRENT_VERSION, measure_layer, protocol
    from .registry import Registry

    cfg = protocol(CURRENT_VERSION)
    registry = Registry(registry_spec)
    data = cached_task_data(registry_spec, task_name)
    _, y_probe = data.probe()
    check_activations_file(acts_path, len(y_probe))
    with np.load(acts_path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for key in ("probe_hash", "train_accuracy", "test_accuracy"):
        if key not in arrays:
            raise SubmissionError(f"{acts_path}: {key}: missing (see the activations format in reptopo.submission)")
    if str(arrays["probe_hash"]) != data.probe_hash:
        raise SubmissionError(
            f"{acts_path}: probe_hash: {str(arrays['probe_hash'])[:16]}... is not task {task_name!r}'s probe set "
            f"({data.probe_hash[:16]}...)"
        )
    specs = {s.name: s for s in entry.layers}
    layers, diagrams = [], {}
    for key, acts in sorted(arrays.items()):
        if "__" not in key:
            continue
        name, pooling = key.split("__", 1)
        if name not in specs:
            raise SubmissionError(f"{acts_path}: {key}: layer {name!r} is not declared in the entry's layers")
        if acts.ndim != 2 or len(acts) != len(y_probe):
            raise SubmissionError(
                f"{acts_path}: {key}: shape {acts.shape}, expected ({len(y_probe)}, d) for the probe set"
            )
        measures, dgms = measure_layer(acts.astype(np.float32), y_probe, cfg, name)
        if keep is not None:
            keep.setdefault("activations", {})[(name, pooling)] = acts.astype(np.float32)
        layers.append(
            {
                "name": name,
                "pooling": pooling,
                "depth": specs[name].depth,
                "role": specs[name].role,
                "epoch": 0,
                "measures": measures,
            }
        )
        diagrams.update({f"{name}__{pooling}__e0__h{d}": v for d, v in enumerate(dgms)})
    if keep is not None:
        keep.update(y_probe=y_probe, cfg=cfg)
    task = registry.task(task_name)
    train_acc, test_acc = float(arrays["train_accuracy"]), float(arrays["test_accuracy"])
    record = build_record(
        job_id=job_id(entry.name, task_name, cfg.version, kind="activations"),
        entry=entry,
        task_entry=task,
        cfg=cfg,
        seed=0,
        axes={},
        control=None,
        status="submitted_activations",
        probe=(len(y_probe), data.probe_hash, data.probe_ids),
        recipe=None,
        train={
            "train_accuracy": train_acc,
            "test_accuracy": test_acc,
            "train_loss": float("nan"),
            "test_loss": float("nan"),
            "epochs_run": 0,
            "history": [],
        },
        checkpoint_sha256=None,
        n_parameters=None,
        weight_l2=None,
        times={"train_seconds": 0.0, "measure_seconds": sum(l["measures"].get("seconds", 0.0) for l in layers)},
        peak_rss_mb=None,
        device="cpu",
        layers=layers,
    )
    return record, diagrams


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
    if out.exists():
        raise SubmissionError(f"{out}: already exists; choose a new bundle folder")
    try:
        entry = load_entry(entry_path)
    except RegistryError as exc:
        raise SubmissionError(str(exc)) from None
    data, diagrams = _measure_activations(entry, task, activations, registry_spec)
    record = finalize(data, "self_reported").to_dict()
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "bundle"
        staging.mkdir()
        shutil.copy(entry_path, staging / "entry.yaml")
        shutil.copy(activations, staging / ACTIVATIONS_FILE)
        (staging / "record.json").write_text(json.dumps(record, indent=1, sort_keys=True, allow_nan=True))
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
        manifest = {name: _sha256(staging / name) for name in names}
        atomic_write_bytes(staging / "manifest.json", json.dumps(manifest, indent=1).encode())
        shutil.copytree(staging, out)
    return out

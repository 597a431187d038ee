"""Submitting a model and verifying a submission.

A bundle is a folder: ``entry.yaml`` (the model entry), ``record.json`` and
``record.diagrams.npz`` (the protocol's result), ``weights.safetensors`` (the trained
checkpoint), ``environment.json`` (library versions and platform) and ``manifest.json`` (the
sha256 of each of those files). For weights that cannot be shared, the activations themselves can
be submitted instead: ``activations.npz``, one float32 array per measured layer and pooling, named
``LAYER__POOLING`` (rows in the order of the task's probe set), plus ``probe_hash`` (the task's
probe-set hash, as ``reptopo`` computes it), ``train_accuracy`` and ``test_accuracy`` (scalars).

**What verify and publish run.** Nothing a bundle names: :func:`check_manifest` accepts only the
bundle's own plain files, each under its size ceiling (:mod:`reptopo.limits`) and of the hash the
manifest gives (streamed); :func:`check_bundle_entry` only a builder registered in
:mod:`reptopo.models` with parameters it takes, within :data:`reptopo.models.PARAM_BOUNDS`, and
safetensors weights inside the bundle. A ``module:function`` builder runs only where the
maintainer passes ``--trust-builder PACKAGE`` for exactly its top-level package, and never for
``reptopo``, a package that ships registered builders, or the standard library. Every model's
cost is counted on the meta device before it is built, for every builder, trusted or not. An
activations archive must hold exactly the entry's layers and poolings, each once, checked from
the zip's headers before anything is inflated.

**What publish stores.** Only what was measured here (:func:`publish`): the record is built from
the re-measurement, never copied from the bundle's ``record.json``. The submitter's claim is kept
apart under ``STORE/submitted/`` and never read by the analysis or the site. Names belong to the
store: an entry is published as ``SUBMITTER.NAME`` (``--submitter``), a bundle may not take a
shipped entry's name, and job ids are derived from the entry, task and seed.

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

import json
import math
import os
import platform
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import LayerError, ModelBuildError, RecordError, RegistryError, SubmissionError
from .jobs import Job, Remeasured, library_versions, run_job
from .limits import (
    MAX_ACTIVATION_FEATURES,
    MAX_ACTIVATIONS_BYTES,
    MAX_DIAGRAMS_BYTES,
    MAX_ENTRY_BYTES,
    MAX_ENVIRONMENT_BYTES,
    MAX_LAYER_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_MANIFEST_FILES,
    MAX_RECORD_BYTES,
    MAX_SEED,
    MAX_WEIGHTS_BYTES,
    VERIFY_BUDGET_SECONDS,
    BudgetExceeded,
    Deadline,
    Member,
    clip,
    human,
    load_npz_member,
    npz_members,
    read_json,
    sha256_capped,
    short,
)
from .record import Record, finalize
from .registry import NAME_PATTERN, Name, load_entry
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
from .store import ResultStore, atomic_write_bytes, sha256_file

BUNDLE_FILES = ("entry.yaml", "record.json", "record.diagrams.npz", "environment.json")
WEIGHTS_FILE = "weights.safetensors"  # the trained checkpoint: what the measurement check measures again
ACTIVATIONS_FILE = "activations.npz"  # a bundle without weights: the layers' activations on the probe set
# each bundle file's size ceiling, checked from its metadata before it is read or hashed; the
# bundle's own diagrams are never inflated (publish stores the diagrams it computed)
FILE_LIMITS = {
    "entry.yaml": MAX_ENTRY_BYTES,
    "record.json": MAX_RECORD_BYTES,
    "record.diagrams.npz": MAX_DIAGRAMS_BYTES,
    "environment.json": MAX_ENVIRONMENT_BYTES,
    "manifest.json": MAX_MANIFEST_BYTES,
    WEIGHTS_FILE: MAX_WEIGHTS_BYTES,
    ACTIVATIONS_FILE: MAX_ACTIVATIONS_BYTES,
}


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


def _plain_file_inside(bundle: Path, relative: str, where: Path, field: str) -> Path:
    """``bundle/relative``, refused (naming ``where`` and ``field``) unless it is a plain file
    inside the bundle: no absolute path, no '..', no NUL byte, no symbolic link on the way (a
    link could name any file of the maintainer's)."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise SubmissionError(f"{where}: {field}: {short(relative)} is not a usable file name")
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise SubmissionError(
            f"{where}: {field}: {short(relative)} must be a relative path inside the bundle, without '..'"
        )
    here = bundle
    for part in rel.parts:
        here = here / part
        if here.is_symlink():
            raise SubmissionError(f"{here}: a symbolic link; a bundle holds plain files only")
    if not here.resolve().is_relative_to(bundle.resolve()):
        raise SubmissionError(f"{here}: outside the bundle")
    return here


def _file_limit(name: str) -> int:
    """The size ceiling of the bundle file ``name`` (a pretrained checkpoint: the weights')."""
    return FILE_LIMITS.get(name, MAX_WEIGHTS_BYTES)


def check_manifest(bundle: Path) -> dict:
    """The bundle's manifest, after every file it must list is found, plain, inside the bundle,
    under its size ceiling and of the hash the manifest gives (streamed); a
    :class:`SubmissionError` naming the file otherwise. The manifest lists the bundle's own files
    only (and a pretrained ``.safetensors`` checkpoint)."""
    manifest_path = bundle / "manifest.json"
    if manifest_path.is_symlink() or not manifest_path.is_file():
        raise SubmissionError(f"{manifest_path}: missing (or not a plain file)")
    manifest = read_json(manifest_path, MAX_MANIFEST_BYTES, "a manifest", SubmissionError)
    if not isinstance(manifest, dict) or not all(
        isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) for v in manifest.values()
    ):
        raise SubmissionError(f"{manifest_path}: expected an object of file names and sha256 digests")
    if len(manifest) > MAX_MANIFEST_FILES:
        raise SubmissionError(f"{manifest_path}: {len(manifest)} files; a bundle has at most {MAX_MANIFEST_FILES}")
    for name in manifest:
        if name not in FILE_LIMITS and not name.endswith(".safetensors"):
            raise SubmissionError(
                f"{manifest_path}: {short(name)}: not a bundle file (a bundle holds {sorted(FILE_LIMITS)} and "
                "a pretrained .safetensors checkpoint)"
            )
    paths = {name: _plain_file_inside(bundle, name, manifest_path, "file name") for name in manifest}
    extra = tuple(name for name in (ACTIVATIONS_FILE, WEIGHTS_FILE) if (bundle / name).exists() or name in manifest)
    for name in BUNDLE_FILES + extra:
        if name not in manifest:
            raise SubmissionError(f"{manifest_path}: {name}: not listed")
    for name, path in paths.items():
        if not path.is_file():
            raise SubmissionError(f"{path}: missing")
        digest = sha256_capped(path, _file_limit(name), f"the bundle's {name}", SubmissionError)
        if digest != manifest[name]:
            raise SubmissionError(
                f"{path}: sha256 {digest[:16]}... does not match the manifest's {manifest[name][:16]}..."
            )
    return manifest


class BundleEnvironment(BaseModel):
    """``environment.json``: where the submitter ran, and the job (task, seed) the bundle is of."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    versions: dict[str, str | None] = Field(max_length=64)
    platform: str = Field(max_length=500)
    task: Name
    seed: int = Field(ge=0, le=MAX_SEED)
    activations: bool = False


def read_environment(bundle: Path) -> BundleEnvironment:
    """The bundle's ``environment.json``, bounded and validated (one line naming the field otherwise)."""
    path = bundle / "environment.json"
    data = read_json(path, MAX_ENVIRONMENT_BYTES, "environment.json", SubmissionError)
    try:
        return BundleEnvironment.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise SubmissionError(f"{path}: {'.'.join(map(str, err['loc'])) or '(file)'}: {clip(err['msg'])}") from None


def _registry_models(registry_spec: str) -> dict[str, Path]:
    """Every model entry the maintainer's registry holds (shipped ones included), by name, with its file."""
    from .jobs import cached_registry

    reg = cached_registry(registry_spec)
    return {name: reg.paths[("model", name)] for name in reg.models}


def check_bundle_entry(
    bundle: Path,
    manifest: dict,
    *,
    trust_builder: str | None = None,
    builds: bool = True,
    registry_spec: str = "",
):
    """The bundle's model entry, refused before anything of it is imported or built unless:
    its name is not one of the registry's entries (unless it is that entry byte for byte), it
    carries no ``submitted_by`` (publish sets it), its builder is registered in
    :mod:`reptopo.models` (a 'module:function' builder only where ``trust_builder`` is exactly its
    top-level package: :func:`reptopo.models.trust_problem`), its parameters pass the builder's
    checks, and a checkpoint it names is a safetensors file inside the bundle, listed in the
    manifest.

    ``builds=False`` (an activations bundle, whose model is never built): a 'module:function'
    builder is neither imported nor required to be trusted; a registered one's parameters are
    still checked, since a later ``--retrain`` would build it."""
    from .models import BUILDERS, builder_params, param_problems, trust_problem, untrustable_packages

    where = bundle / "entry.yaml"
    if trust_builder is not None and trust_builder in untrustable_packages():
        raise SubmissionError(
            f"--trust-builder {short(trust_builder)}: never trusted (it ships registered builders or is the "
            "standard library; registered builders are named without --trust-builder)"
        )
    try:
        entry = load_entry(where)
    except RegistryError as exc:
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        raise SubmissionError(exc.problems[0] + more) from None
    if entry.kind != "model":
        raise SubmissionError(f"{where}: kind: expected 'model', got {entry.kind!r}")
    if entry.submitted_by is not None:
        raise SubmissionError(f"{where}: submitted_by: set by `reptopo publish`, never by a bundle; remove it")
    taken = _registry_models(registry_spec).get(entry.name)
    if taken is not None and taken.read_bytes() != where.read_bytes():
        raise SubmissionError(
            f"{where}: name: {entry.name!r} is the registry's entry {taken}; a submission chooses a name of its own"
        )
    if builds and (why := trust_problem(entry.builder, trust_builder)):
        raise SubmissionError(f"{where}: {why}")
    if not builds and ":" not in entry.builder and entry.builder not in BUILDERS:
        raise SubmissionError(
            f"{where}: builder: {short(entry.builder)} is not a registered builder; known: {sorted(BUILDERS)}"
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
                f"{where}: pretrained.path: {short(pre.path)} is not a .safetensors file (weights are safetensors only)"
            )
        if pre.path not in manifest:
            raise SubmissionError(f"{where}: pretrained.path: {short(pre.path)} is not listed in the bundle's manifest")
    return entry


def expected_members(entry) -> dict[str, tuple[str, ...]]:
    """The poolings an activations archive may hold for each of ``entry``'s layers: the layer's
    own ``poolings``, else those of its ``layout``, else those of the layouts inferred from a 2-D
    or 4-D output (raw, flat, gap)."""
    from .probe import POOLINGS

    out = {}
    for spec in entry.layers:
        if spec.poolings:
            out[spec.name] = tuple(spec.poolings)
        elif spec.layout:
            out[spec.name] = POOLINGS[spec.layout]
        else:
            out[spec.name] = POOLINGS["vector"] + POOLINGS["conv2d"]
    return out


ACTIVATION_SCALARS = ("probe_hash", "train_accuracy", "test_accuracy")


def check_activations_file(path: Path, n_rows: int, entry) -> list[Member]:
    """The members of an activations archive, refused by the zip's and the arrays' headers before
    anything is inflated, naming the member, unless: it holds exactly the three scalars and, for
    each of the entry's layers, one or more of its poolings (:func:`expected_members`), each
    once; every layer is (``n_rows``, d) of floats with d <= :data:`MAX_ACTIVATION_FEATURES` and
    at most :data:`reptopo.limits.MAX_LAYER_BYTES`; and the archive declares at most
    :data:`MAX_ACTIVATIONS_BYTES` inflated."""
    expected = expected_members(entry)
    members = npz_members(
        path,
        max_inflated=MAX_ACTIVATIONS_BYTES,
        max_members=sum(map(len, expected.values())) + len(ACTIVATION_SCALARS),
        what="an activations archive",
        error=SubmissionError,
    )
    seen_layers = set()
    for m in members:
        if m.name in ACTIVATION_SCALARS:
            if m.shape != () or m.inflated > 4096:
                raise SubmissionError(f"{path}: {m.name}: declares shape {short(m.shape)}; expected a scalar")
            continue
        name, _, pooling = m.name.partition("__")
        if name not in expected:
            raise SubmissionError(
                f"{path}: {clip(m.name, 80)}: layer {short(name)} is not declared in the entry's layers"
            )
        if pooling not in expected[name]:
            raise SubmissionError(
                f"{path}: {clip(m.name, 80)}: pooling {short(pooling)} is not one of layer {name!r}'s {list(expected[name])}"
            )
        if m.dtype.kind != "f":
            raise SubmissionError(f"{path}: {m.name}: dtype {m.dtype}; activations are floats")
        if len(m.shape) != 2 or m.shape[0] != n_rows or not 1 <= m.shape[1] <= MAX_ACTIVATION_FEATURES:
            raise SubmissionError(
                f"{path}: {m.name}: declares shape {short(m.shape)}; expected ({n_rows}, d) with 1 <= d <= "
                f"{MAX_ACTIVATION_FEATURES}"
            )
        if 4 * n_rows * m.shape[1] > MAX_LAYER_BYTES:
            raise SubmissionError(
                f"{path}: {m.name}: {human(4 * n_rows * m.shape[1])}; a layer takes at most {human(MAX_LAYER_BYTES)}"
            )
        seen_layers.add(name)
    names = {m.name for m in members}
    for key in ACTIVATION_SCALARS:
        if key not in names:
            raise SubmissionError(f"{path}: {key}: missing (see the activations format in reptopo.submission)")
    for name in expected:
        if name not in seen_layers:
            raise SubmissionError(
                f"{path}: {name}: the entry's layer has no activations (expected {list(expected[name])})"
            )
    return members


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
    checked and why. ``record`` is the re-derived record, built from what was measured here (see
    :func:`publish`), and ``diagrams`` its persistence diagrams, computed here. The content
    digests identify the claimed and the re-derived record; they are equal only where the same
    bits came out (the same machine type and libraries)."""

    kinds: tuple[str, ...]
    findings: list[Finding]
    training: TrainingVerdict | None
    claimed_digest: str
    rederived_digest: str
    record: Record  # the re-derived record
    diagrams: dict[str, np.ndarray] = field(default_factory=dict)
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
    """The bundle's claimed ``record.json``, bounded in size and depth and validated."""
    path = bundle / "record.json"
    data = read_json(path, MAX_RECORD_BYTES, "record.json", SubmissionError)
    if not isinstance(data, dict):
        raise SubmissionError(f"{path}: a record is a JSON object, got {type(data).__name__}")
    try:
        return Record.from_dict(data, source=str(path))
    except RecordError as exc:
        raise SubmissionError(clip(str(exc))) from None


def _check_claim(claimed: Record, entry, env: BundleEnvironment, where: Path) -> None:
    """The claimed record is of the bundle's own job: its entry's model, the environment's task
    and seed, no axes and no control (a submission runs at its entry's own parameters)."""
    for field_name, claim, actual in (
        ("model", claimed.model, entry.name),
        ("task", claimed.task, env.task),
        ("seed", claimed.seed, env.seed),
        ("axes", claimed.axes, {}),
        ("control", claimed.control, None),
    ):
        if claim != actual:
            raise SubmissionError(
                f"{where}: {field_name}: {short(claim)}, but the bundle is of {short(actual)} "
                "(its entry's name, environment.json's task and seed, no axes or control)"
            )


def check_measurement(claimed: Record, again: Remeasured) -> tuple[list[Finding], dict]:
    """The claimed record against its checkpoint measured again: (findings, the claimed record's
    dict with its final layers, accuracies and losses replaced by the re-measurement's)."""
    data = claimed.to_dict()
    final = claimed.final_epoch
    measured = {(l["name"], l["pooling"]): l for l in again.layers}
    layers = [measured.pop((l["name"], l["pooling"]), l) if l["epoch"] == final else l for l in data["layers"]]
    rederived = {**data, "train": {**data["train"], **again.train}, "layers": layers + list(measured.values())}
    findings = compare_measurement(_leaves(data), _leaves(rederived), **_sensitivity(again, final))
    return findings, rederived


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
    retrain: bool = False,
    reference: str | Path | None = None,
    trust_builder: str | None = None,
    model_name: str | None = None,
    budget: float | None = VERIFY_BUDGET_SECONDS,
    workdir: Path | None = None,
) -> Verification:
    """Verify a bundle: by measurement (its checkpoint, or its activations, measured again), and
    with ``retrain`` by training as well (the model retrained from its seed, judged against the
    seeds of the same entry in the ``reference`` store, where it has them).

    Nothing the bundle names is imported or run before :func:`check_manifest` and
    :func:`check_bundle_entry` accepted it: a 'module:function' builder needs ``trust_builder``.
    ``model_name``: the name the entry is measured and recorded under (``publish`` scopes it to
    the submitter). ``budget``: seconds for the whole verification; past it, it stops and says where.
    ``workdir``: the folder for the re-run's files (``publish`` copies a retrained checkpoint from it).

    The returned :class:`Verification`'s ``record`` is built from what was measured here.

    Raises
    ------
    SubmissionError
        A bundle that is refused, naming the file and field; or one without weights and
        without ``retrain``.
    """
    bundle = Path(bundle)
    deadline = Deadline(budget)
    registry_spec = str(registry_spec or "")
    manifest = check_manifest(bundle)
    env = read_environment(bundle)
    entry = check_bundle_entry(
        bundle, manifest, trust_builder=trust_builder, builds=not env.activations, registry_spec=registry_spec
    )
    claimed = _load_bundle_record(bundle)
    _check_claim(claimed, entry, env, bundle / "record.json")
    name = model_name or entry.name
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(workdir or tmp)
        entry_copy = _entry_for_run(bundle, entry, work, name)
        overlaid = _overlay_registry(entry_copy, registry_spec, work / "measure")
        try:
            if env.activations:
                return _verify_activations(bundle, claimed, entry_copy, env, overlaid, deadline)
            return _verify_weights(
                bundle, manifest, claimed, entry_copy, env, overlaid, work, retrain, reference, trust_builder, deadline
            )
        except BudgetExceeded as exc:
            raise BudgetExceeded(f"{bundle}: {exc}") from None
        except (ModelBuildError, LayerError, SubmissionError):
            raise
        except ValueError as exc:  # a checkpoint that does not fit its model, a probe set that moved
            raise SubmissionError(f"{bundle}: {clip(str(exc))}") from None


def _verify_activations(
    bundle: Path, claimed: Record, entry_path: Path, env: BundleEnvironment, registry_spec: str, deadline: Deadline
) -> Verification:
    """An activations bundle: every layer measured again from the submitted activations."""
    entry = load_entry(entry_path)
    data, diagrams, kept = _measure_activations(entry, env.task, bundle / ACTIVATIONS_FILE, registry_spec, deadline)
    record = finalize(data, "self_reported")
    probes = _sensitivity(Remeasured([], {}, kept["activations"], kept["y_probe"], kept["cfg"], {}), 0)
    findings = compare_measurement(_leaves(claimed.to_dict()), _leaves(record.to_dict()), **probes)
    note = "activations bundle: the measures are re-derived; the accuracies and the training are the submitter's"
    return Verification(("measurement",), findings, None, claimed.digest, record.digest, record, diagrams, [note])


def _verify_weights(
    bundle: Path,
    manifest: dict,
    claimed: Record,
    entry_path: Path,
    env: BundleEnvironment,
    registry_spec: str,
    work: Path,
    retrain: bool,
    reference: str | Path | None,
    trust_builder: str | None,
    deadline: Deadline,
) -> Verification:
    """A weights bundle: its checkpoint measured again (and with ``retrain`` the model retrained);
    the returned record holds only what was computed here."""
    from .jobs import checkpoint_model, checkpoint_record, job_recipe, remeasure, weight_stats
    from .protocol import protocol

    job = Job(load_entry(entry_path).name, env.task, env.seed)
    version = protocol(claimed.protocol.version).version  # an unknown version: one line naming the known ones
    recipe = job_recipe(job, registry_spec)
    kinds: list[str] = []
    findings: list[Finding] = []
    notes: list[str] = []
    training = None
    data: dict | None = None
    diagrams: dict[str, np.ndarray] = {}
    if WEIGHTS_FILE in manifest:
        weights = bundle / WEIGHTS_FILE
        sha = manifest[WEIGHTS_FILE]  # check_manifest hashed the weights and found this digest
        model, _ = checkpoint_model(job, version, registry_spec, weights, trust_builder=trust_builder)
        stats = weight_stats(model)
        del model
        for key, value in stats.items():  # a forged size or norm is refused before anything is measured
            claim = getattr(claimed, key)
            if claim is None or not math.isclose(claim, value, rel_tol=1e-6 if key == "weight_l2" else 0):
                raise SubmissionError(
                    f"{bundle / 'record.json'}: {key}: claimed {short(claim)}, the bundle's weights give {value:.8g}; "
                    "not published"
                )
        again = remeasure(
            job,
            version,
            registry_spec,
            weights,
            work / "scratch",
            epoch=recipe.epochs,
            trust_builder=trust_builder,
            deadline=deadline,
        )
        data = checkpoint_record(job, registry_spec, again, checkpoint_sha256=sha, protocol_version=version)
        findings, _ = check_measurement(claimed, again)
        diagrams = dict(again.diagrams)
        notes = _dynamics_note(claimed)
        kinds.append("measurement")
    elif not retrain:
        raise SubmissionError(
            f"{bundle}: carries no {WEIGHTS_FILE} to measure again; pass --retrain to check it by training instead"
        )
    if retrain:
        deadline.check("before retraining")
        res = run_job(
            job, registry_spec, str(work / "retrain"), version, trust_builder=trust_builder, deadline=deadline
        )
        if res["status"] != "done":
            raise SubmissionError(f"{bundle}: the retraining run failed: {clip(str(res.get('error')))}")
        store = ResultStore(work / "retrain")
        rerun = store.records()[0]
        training = _training_check(claimed, rerun, reference)
        kinds.append("training")
        rerun_diagrams = store.diagrams(rerun.job_id)
        if data is None:
            data, diagrams = rerun.to_dict(), rerun_diagrams
            notes.append("no weights: the record is the retrained run's")
        elif rerun.final_epoch == recipe.epochs:
            dynamics = [layer for layer in rerun.to_dict()["layers"] if layer["epoch"] != rerun.final_epoch]
            data = {
                **data,
                "train": {**data["train"], "history": rerun.train.history},
                "layers": data["layers"] + dynamics,
            }
            data["times"] = {**data["times"], "train_seconds": rerun.times.train_seconds}
            diagrams.update({k: v for k, v in rerun_diagrams.items() if f"__e{rerun.final_epoch}__" not in k})
            notes = ["the history and the layers measured during training were re-derived by retraining"]
    assert data is not None
    record = finalize({k: v for k, v in data.items() if k not in ("diagrams_sha256",)}, "verified_submission")
    return Verification(tuple(kinds), findings, training, claimed.digest, record.digest, record, diagrams, notes)


def _entry_for_run(bundle: Path, entry, work: Path, name: str) -> Path:
    """The bundle's entry as a file to run under ``name``, its checkpoint path (checked to lie in
    the bundle) made absolute, so that nothing depends on the maintainer's working folder."""
    import yaml

    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{name}.yaml"
    data = entry.model_dump(mode="json", exclude_unset=True)
    data["name"] = name
    if entry.pretrained is not None and entry.pretrained.source == "checkpoint":
        data["pretrained"]["path"] = str((bundle / entry.pretrained.path).resolve())
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _training_check(claimed: Record, rerun: Record, reference: str | Path | None) -> TrainingVerdict:
    """A retrained record judged against the reference store's seeds of the same entry (the
    claimed record counts as its own seed)."""
    population = [r.to_dict() for r in ResultStore(reference).records()] if reference else []
    mine = {**claimed.to_dict(), "model": rerun.model}
    population = [r for r in population if r["job_id"] != rerun.job_id] + [mine]
    return check_training(rerun.to_dict(), population)


def _record_store(record_path: Path) -> ResultStore:
    """The store a record file lives in (STORE/records/JOB.json)."""
    return ResultStore(record_path.resolve().parent.parent)


def verify_record(
    record_path: str | Path,
    *,
    registry_spec: str | Path | None = None,
    retrain: bool = False,
    checkpoint: str | Path | None = None,
    trust_builder: str | None = None,
    budget: float | None = VERIFY_BUDGET_SECONDS,
) -> Verification:
    """Verify a stored record: by measurement, from its checkpoint in the store (or ``checkpoint``);
    with ``retrain``, by training as well: the job run again from its seed and judged against the
    seeds of its population in the same store. The store's published entries (``STORE/entries``)
    join the registry; their 'module:function' builders run only under ``trust_builder``.

    Raises SubmissionError when there is no checkpoint to measure and ``retrain`` is not set."""
    from .jobs import measure_checkpoint

    record_path = Path(record_path)
    deadline = Deadline(budget)
    rec = Record.from_disk(record_path)
    store = _record_store(record_path)
    published = store.root / "entries"  # the store's published entries: data, their code runs only when trusted
    registry_spec = os.pathsep.join(p for p in (str(registry_spec or ""), str(published) * published.is_dir()) if p)
    path = Path(checkpoint) if checkpoint else store.checkpoint_path(rec.job_id)
    kinds: list[str] = []
    findings: list[Finding] = []
    notes: list[str] = []
    training = None
    rederived = rec.to_dict()

    def measured(ckpt: Path, scratch: Path) -> tuple[list[Finding], dict]:
        try:
            again = measure_checkpoint(
                rec, registry_spec, ckpt, scratch, trust_builder=trust_builder, deadline=deadline
            )
        except ValueError as exc:
            raise SubmissionError(clip(str(exc))) from None
        return check_measurement(rec, again)

    with tempfile.TemporaryDirectory() as tmp:
        if path.is_file():
            findings, rederived = measured(path, Path(tmp) / "scratch")
            notes = _dynamics_note(rec)
            kinds.append("measurement")
        elif not retrain:
            raise SubmissionError(
                f"{path}: no checkpoint of {rec.job_id} to measure again (stores keep them in "
                "checkpoints/; the committed reference results do not); pass --retrain to check it by "
                "training instead"
            )
        if retrain:
            job = Job(rec.model, rec.task, rec.seed, tuple(sorted(rec.axes.items())), rec.control)
            res = run_job(
                job,
                registry_spec,
                str(Path(tmp) / "store"),
                rec.protocol.version,
                trust_builder=trust_builder,
                deadline=deadline,
            )
            if res["status"] != "done":
                raise SubmissionError(f"{record_path}: the re-run failed: {clip(str(res.get('error')))}")
            rerun_store = ResultStore(Path(tmp) / "store")
            rerun = rerun_store.records()[0]
            training = _training_check(rec, rerun, store.root)
            kinds.append("training")
            if "measurement" not in kinds and rerun.checkpoint_sha256 == rec.checkpoint_sha256:
                # the same bits came out of training: the retrained checkpoint is the record's own
                findings, rederived = measured(rerun_store.checkpoint_path(rec.job_id), Path(tmp) / "scratch")
                kinds.insert(0, "measurement")
                notes.insert(0, "the retrained checkpoint is bit for bit the record's: it was measured again as well")
            elif "measurement" not in kinds:
                rederived = rerun.to_dict()
    rerun_record = Record.from_dict({**rederived, "digest": ""}, source=str(record_path))
    return Verification(tuple(kinds), findings, training, rec.digest, rerun_record.digest, rerun_record, notes=notes)


def publish(
    bundle: str | Path,
    store: str | Path,
    *,
    submitter: str,
    registry_spec: str | Path | None = None,
    retrain: bool = False,
    trust_builder: str | None = None,
    budget: float | None = VERIFY_BUDGET_SECONDS,
) -> Record:
    """What a maintainer runs on a pull request: verify ``bundle`` and add what was measured to ``store``.

    **Names belong to the store.** The entry is published as ``SUBMITTER.NAME`` (``submitter``: the
    pull request's author, a handle without '.'), with ``submitted_by`` set, so that it can never
    be a shipped entry's name, a benchmark job's id or another submitter's. A bundle whose entry
    takes a registry entry's name is refused, and so is a second entry under a name already in
    the store (unless it is the same entry byte for byte). The job id is derived from the
    entry, task and seed.

    **The record holds only what was measured here.** Built from the re-measurement: the final
    layers, accuracies and losses of the checkpoint, ``n_parameters`` and ``weight_l2`` of its
    weights, its sha256, the diagrams and the digest, all computed here (for an activations
    bundle: the measures of the activations; the accuracies are the submitter's and the record is
    ``self_reported``). The training history and the layers measured during training are
    re-derived only by ``retrain``; otherwise they are left out. The bundle's ``record.json`` is
    kept apart as ``STORE/submitted/JOB.claimed.json`` with the verification's summary
    (``JOB.verification.json``); the analysis and the site never read that folder.

    A bundle that does not verify, or whose record does not validate, is refused and nothing
    is written. The checkpoint goes to ``STORE/checkpoints/`` so that the store can be verified
    by measurement later; the entry to ``STORE/entries/models/`` as data: its
    'module:function' builder runs later only under ``--trust-builder``.
    """
    import yaml

    from .registry import SUBMITTER_PATTERN, ModelEntry

    bundle, target = Path(bundle), ResultStore(store)
    registry_spec = str(registry_spec or "")
    if not isinstance(submitter, str) or not SUBMITTER_PATTERN.fullmatch(submitter):
        raise SubmissionError(
            f"--submitter: {short(submitter)} is not a handle: letters, digits, '_' and '-' (no '.'), at most 39"
        )
    manifest = check_manifest(bundle)
    env = read_environment(bundle)
    entry = check_bundle_entry(
        bundle, manifest, trust_builder=trust_builder, builds=not env.activations, registry_spec=registry_spec
    )
    if entry.pretrained is not None and entry.pretrained.source == "checkpoint":
        raise SubmissionError(
            f"{bundle / 'entry.yaml'}: pretrained.path: an entry built on a bundled checkpoint is verified, "
            "not published (its weights would leave the bundle)"
        )
    name = f"{submitter}.{entry.name}"
    if not NAME_PATTERN.fullmatch(name) or name in _registry_models(registry_spec):
        raise SubmissionError(f"{bundle / 'entry.yaml'}: name: {short(name)} cannot be published (too long, or taken)")
    stored = entry.model_dump(mode="json", exclude_unset=True) | {"name": name, "submitted_by": submitter}
    ModelEntry.model_validate(stored)
    entry_text = yaml.safe_dump(stored, sort_keys=False).encode()
    entry_file = target.root / "entries" / "models" / f"{name}.yaml"
    if entry_file.exists() and entry_file.read_bytes() != entry_text:
        raise SubmissionError(
            f"{entry_file}: {submitter} already published {entry.name!r} with another entry; publish it under a new name"
        )
    with tempfile.TemporaryDirectory() as tmp:
        result = verify(
            bundle,
            registry_spec=registry_spec,
            retrain=retrain,
            reference=target.root if (target.root / "records").is_dir() else None,
            trust_builder=trust_builder,
            model_name=name,
            budget=budget,
            workdir=Path(tmp),
        )
        if result.problems:
            raise SubmissionError(
                f"{bundle}: verification failed, not published: {len(result.problems)} score(s) differ, "
                f"first {clip(result.problems[0])}"
            )
        if not result.passed:
            raise SubmissionError(
                f"{bundle}: verification could not judge it, not published: {clip('; '.join(result.describe()))}"
            )
        rec = result.record
        if target.has(rec.job_id):
            raise SubmissionError(
                f"{target.record_path(rec.job_id)}: already in the store; remove it first to replace it"
            )
        atomic_write_bytes(entry_file, entry_text)
        if rec.checkpoint_sha256 is not None:
            source = bundle / WEIGHTS_FILE
            if not source.is_file():  # retrained here: the run's own checkpoint
                source = ResultStore(Path(tmp) / "retrain").checkpoint_path(rec.job_id)
            target.checkpoint_path(rec.job_id).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target.checkpoint_path(rec.job_id))
        apart = target.root / "submitted"
        atomic_write_bytes(apart / f"{rec.job_id}.claimed.json", (bundle / "record.json").read_bytes())
        summary = {
            "job_id": rec.job_id,
            "submitter": submitter,
            "provenance": rec.provenance,
            "verified_by": list(result.kinds),
            "verdict": result.describe(),
            "claimed_digest": result.claimed_digest,
            "published_digest": rec.digest,
            "bundle_manifest": manifest,
        }
        atomic_write_bytes(apart / f"{rec.job_id}.verification.json", json.dumps(summary, indent=1).encode())
        target.write(rec, result.diagrams)
    return Record.from_disk(target.record_path(rec.job_id))


def _measure_activations(
    entry, task_name: str, acts_path: Path, registry_spec: str, deadline: Deadline | None = None
) -> tuple[dict, dict, dict]:
    """A record from submitted activations: every layer measured under the current protocol, one
    member of the archive in memory at a time, after :func:`check_activations_file` accepted it.

    Returns (record dict, diagrams, kept), where ``kept`` holds the activations by (layer,
    pooling), the probe labels and the protocol (``activations``, ``y_probe``, ``cfg``), for the
    sensitivity probe."""
    from .jobs import build_record, cached_registry, cached_task_data, job_id
    from .protocol import CURRENT_VERSION, measure_layer, protocol

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
        entry=entry,
        task_entry=task,
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
    if out.exists():
        raise SubmissionError(f"{out}: already exists; choose a new bundle folder")
    try:
        entry = load_entry(entry_path)
    except RegistryError as exc:
        raise SubmissionError(str(exc)) from None
    data, diagrams, _ = _measure_activations(entry, task, activations, registry_spec)
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

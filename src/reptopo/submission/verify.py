"""Verifying a submission: its checkpoint (or activations) measured again, or its model retrained.

**Two kinds of verification** (:mod:`reptopo.submission.reproduce`), named in every verdict:

- *measurement* (the default): the bundle's checkpoint (or activations) measured again on the
  probe set, and its accuracies re-evaluated. Floats must agree within tolerances measured across
  instruction sets; a value an estimator amplifies beyond them is judged by re-measuring its layer
  with perturbed activations (float noise, or a real discrepancy); a count may differ only so.
  The layers measured during training (the learning dynamics) cannot be re-derived from the final
  checkpoint and are said to be unchecked.
- *training* (``--retrain``): the model retrained from its seed, judged against the spread of the
  reference seeds of the same entry (3 or more), widened by a stated factor; with fewer seeds the
  verdict says it cannot judge. Training is not bit-reproducible across instruction sets.

**The measured tolerances** and the study that set them (``bench/isa_spread.py``): ``docs/verification.md``.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LayerError, ModelBuildError, RecordError, SubmissionError
from ..limits import (
    MAX_RECORD_BYTES,
    VERIFY_BUDGET_SECONDS,
    BudgetExceeded,
    Deadline,
    clip,
    read_json,
    short,
)
from ..pipeline.checkpoints import Remeasured
from ..pipeline.jobs import Job, run_job
from ..record import Record, finalize
from ..registry import load_entry
from ..store import ResultStore
from .bundle import (
    ACTIVATIONS_FILE,
    WEIGHTS_FILE,
    BundleEnvironment,
    check_bundle_entry,
    check_manifest,
    read_environment,
)
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
from .submit import measure_activations, overlay_registry


def _leaves(record: dict) -> dict[str, float]:
    return score_leaves(record, final_epoch_only=True)


def _sensitivity(again: Remeasured, epochs_run: int) -> dict:
    """The sensitivity probes of :func:`reptopo.submission.reproduce.compare_measurement`, as its keyword
    arguments: ``sensitivity`` (a layer measured again with its activations perturbed at
    float-noise size, once per repeat) and ``undecided`` (the counts rounding decides)."""
    from ..protocol import measure_layer

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
        overlaid = overlay_registry(entry_copy, registry_spec, work / "measure")
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
    data, diagrams, kept = measure_activations(entry, env.task, bundle / ACTIVATIONS_FILE, registry_spec, deadline)
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
    from ..pipeline.checkpoints import checkpoint_model, checkpoint_record, remeasure
    from ..pipeline.jobs import job_recipe, weight_stats
    from ..protocol import protocol

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
    from ..pipeline.checkpoints import measure_checkpoint

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

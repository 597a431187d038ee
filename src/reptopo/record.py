"""The record: what one job (or one submission) publishes, defined once and validated everywhere.

A record is a strict pydantic model (unknown fields refused) with a schema version. The runner,
submissions and verification write records through :func:`build_record`-made dicts validated
here; the store, the analysis, the site, ``cite`` and ``plot`` read them through
:meth:`Record.from_disk`, which names the file and the field of any problem and migrates records
of an earlier schema explicitly (:func:`migrate`).

Schema versions:

- 1: the first published records (protocol v1's reference results).
- 2: adds ``provenance`` (who produced the numbers: ``benchmark`` for a job the benchmark ran,
  ``verified_submission`` for a bundle re-run and published by a maintainer,
  ``self_reported`` for submitted activations, whose training nobody re-ran) and ``digest``,
  the content digest of :func:`content_digest`.

**The content digest** hashes what a score depends on and nothing else: the measures of every
layer (without their timings), the training summary's accuracies and losses, the protocol
(version and config digest), the model and task entry hashes, the probe set's hash and the
checkpoint's hash. Timings, memory, library versions, the device, the diagrams file's bytes and
the provenance are left out, so re-running a job on the same machine type with the same libraries
gives the same digest. The digest identifies a record (a citation names exactly one); it is not a
promise of bits: on another CPU the same job gives other last bits and another digest, and
``reptopo verify`` judges the values within measured tolerances (:mod:`reptopo.submission.reproduce`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, ValidationError, create_model

from .errors import RecordError, UnknownName
from .measures.measure import MeasureError, Strict, registered
from .names import LAYER_NAME, Name, Pooling, Role

SCHEMA_VERSION = 2
# a layer's primary pooling, when it was measured under several: the first present of these
# (flattened conv maps as Ansuini et al.; mean-pooled tokens); the analysis and comparisons use it
POOLING_ORDER = ("raw", "flat", "mean", "gap", "cls", "last")


def pooling_rank(pooling: str) -> int:
    """A pooling's place in :data:`POOLING_ORDER` (one not in it comes last)."""
    return POOLING_ORDER.index(pooling) if pooling in POOLING_ORDER else len(POOLING_ORDER)


def primary_pooling(poolings: Iterable[str]) -> str | None:
    """The primary one of a layer's ``poolings`` (None when there are none)."""
    return min(poolings, key=pooling_rank, default=None)


COMPARISON_SCHEMA_VERSION = 1
PROVENANCES = ("benchmark", "verified_submission", "self_reported")
Provenance = Literal["benchmark", "verified_submission", "self_reported"]
# what a record's model is: trained by the benchmark's recipe, pretrained (frozen, or fine-tuned),
# a control (registry.CONTROLS: random initialisation, shuffled labels), or submitted activations
Status = Literal[
    "trained", "pretrained_frozen", "pretrained_finetune", "random_init", "shuffled_labels", "submitted_activations"
]
STATUSES: tuple[str, ...] = get_args(Status)
# the statuses whose models learnt the task: the population the analysis correlates and cites
TRAINED_STATUSES: tuple[str, ...] = ("trained", "pretrained_frozen", "pretrained_finetune")


def _layer_measures_model() -> Any:
    """The record's model of one layer's measures: the layer's size and error, then one field per
    registered measure (:mod:`reptopo.measures.catalog`, in their order) holding its result, a
    :class:`MeasureError`, or nothing, then the timing."""
    fields: dict[str, Any] = {
        "n_points": (int, ...),
        "n_features": (int, ...),
        "error": (str | None, None),
        "duplicate_fraction": (float | None, None),
    }
    for m in registered():
        fields[m.name] = (m.Result | MeasureError | None, None)
    fields["seconds"] = (float | None, None)
    return create_model("LayerMeasuresFields", __base__=Strict, __module__=__name__, **fields)


class LayerMeasures(_layer_measures_model()):  # type: ignore[misc]
    """Every measure of one layer's cloud; ``error`` alone when no measure could describe it."""


class Layer(Strict):
    name: str = Field(pattern=LAYER_NAME, description="the module's name in the model, or 'input'")
    pooling: Pooling
    depth: float
    role: Role
    epoch: int
    measures: LayerMeasures


class TrainSummary(Strict):
    """How the model did on its task; the accuracies and losses are None on an unlabelled task,
    where no head is fitted (a frozen pretrained model measured on text alone)."""

    train_accuracy: float | None
    test_accuracy: float | None
    train_loss: float | None
    test_loss: float | None
    epochs_run: int
    history: list[dict[str, float | int]]

    @property
    def generalization_gap(self) -> float | None:
        if self.train_accuracy is None or self.test_accuracy is None:
            return None
        return self.train_accuracy - self.test_accuracy


class ProtocolStamp(Strict):
    version: int
    digest: str
    config: dict[str, Any]


class EntryHashes(Strict):
    model: str
    task: str


class Probe(Strict):
    size: int
    hash: str
    ids: list[int | str]


class Times(Strict):
    train_seconds: float
    measure_seconds: float


class RanOn(Strict):
    """Where a job ran: its host, Dask worker and Slurm job id (not part of the digest)."""

    host: str
    worker: str | None = None
    slurm_job_id: str | None = None


class Record(Strict):
    """One published record (schema version :data:`SCHEMA_VERSION`)."""

    schema_version: int = Field(alias="schema", description="the record schema version (migrated on load)")
    job_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$",
        description="the job's name: the model, task, seed, axes, control and protocol version",
    )
    model: Name
    model_version: int
    task: Name
    task_version: int
    seed: int
    axes: dict[str, float | int | str]
    control: str | None
    status: Status = Field(
        description="trained, pretrained_frozen, pretrained_finetune, random_init, shuffled_labels or submitted_activations"
    )
    family: Name
    modality: str
    protocol: ProtocolStamp = Field(description="the protocol version, its config digest and every parameter")
    entry_hash: EntryHashes = Field(description="content hashes of the model and task entries")
    probe: Probe = Field(description="size, hash and example ids of the probe set")
    recipe: dict[str, Any] | None = None
    train: TrainSummary
    checkpoint_sha256: str | None = Field(
        description="sha256 of the trained weights (safetensors); none for activations"
    )
    n_parameters: int | None
    weight_l2: float | None
    times: Times
    peak_rss_mb: float | None
    versions: dict[str, str | None]
    device: str
    ran_on: RanOn | None = Field(None, description="the host, Dask worker and Slurm job id that wrote the record")
    layers: list[Layer] = Field(description="every measured layer (and epoch), with its measures")
    diagrams_sha256: str | None = None
    provenance: Provenance = Field(
        description="benchmark, verified_submission or self_reported: who produced the numbers"
    )
    digest: str = Field(
        description="sha256 of what the scores depend on (see reptopo.record): the record's "
        "identity, reproduced only by a re-run on the same machine type and libraries"
    )

    @property
    def final_epoch(self) -> int:
        """The epoch at which the final layers were measured (the training's last)."""
        return self.train.epochs_run

    @property
    def generalization_gap(self) -> float | None:
        """Training accuracy minus test accuracy (None on an unlabelled task)."""
        return self.train.generalization_gap

    def final_layers(self) -> list[Layer]:
        """The layers measured at the end of training (not at the learning-dynamics checkpoints)."""
        return [layer for layer in self.layers if layer.epoch == self.final_epoch]

    def layer(self, name: str, pooling: str | None = None, epoch: int | None = None) -> Layer:
        """Layer ``name`` at ``epoch`` (default the final one) under ``pooling`` (default its
        primary pooling, the first of :data:`POOLING_ORDER` measured).

        Raises :class:`UnknownName` (a ``KeyError``) naming what the record has when there is no such layer."""
        epoch = self.final_epoch if epoch is None else epoch
        found = [la for la in self.layers if la.name == name and la.epoch == epoch and pooling in (None, la.pooling)]
        if not found:
            raise UnknownName(
                f"record {self.job_id}: no layer {name!r}"
                + (f" pooling {pooling!r}" if pooling else "")
                + f" at epoch {epoch}; it has {sorted({la.name for la in self.layers})}"
            )
        return min(found, key=lambda la: pooling_rank(la.pooling))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "record") -> Record:
        """Validate ``data`` (migrating an earlier schema); errors name ``source`` and the field.

        A record without a digest (one migrated from schema 1) gets the digest of its
        validated content."""
        migrated = migrate(data)
        try:
            rec = cls.model_validate({**migrated, "digest": migrated.get("digest") or ""})
        except ValidationError as exc:
            raise _validation_error(exc, source) from None
        if not rec.digest:
            rec = rec.model_copy(update={"digest": content_digest(rec.to_dict())})
        return rec

    @classmethod
    def from_disk(cls, path: str | Path) -> Record:
        """Load and validate one record file."""
        path = Path(path)
        return cls.from_dict(_read_json_object(path, "record"), source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The record as stored: the fields it was given (optional ones left out stay out), with ``schema``."""
        return self.model_dump(mode="python", by_alias=True, exclude_unset=True)

    def to_json(self) -> bytes:
        """The record's file: the one way a record is written (the store, bundles, profiles)."""
        return dump_json(self.to_dict())


def json_default(o: object) -> object:
    """numpy scalars and arrays, and paths, as JSON has them."""
    import numpy as np  # loaded already by the measures' result types

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def dump_json(data: dict[str, Any]) -> bytes:
    """A record's (or a comparison record's) JSON, as every record file is written: keys sorted,
    one-space indent, NaN kept."""
    return json.dumps(data, indent=1, sort_keys=True, default=json_default, allow_nan=True).encode()


def _read_json_object(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in ``path``; a :class:`RecordError` naming the file (and line) otherwise."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RecordError(f"{path}: no such {what} file") from None
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise RecordError(f"{path}: a {what} is a JSON object, got {type(data).__name__}")
    return data


def _validation_error(exc: ValidationError, source: str) -> RecordError:
    """One line naming ``source``, the first bad field and how many more there are."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "(record)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return RecordError(f"{source}: {field}: {err['msg']}{more}")


def _without_timings(measures: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in measures.items() if k != "seconds"}


def content_digest(data: dict[str, Any]) -> str:
    """sha256 over what the record's scores depend on (see the module docstring)."""
    train = data["train"]
    content = {
        "protocol": {"version": data["protocol"]["version"], "digest": data["protocol"]["digest"]},
        "entry_hash": data["entry_hash"],
        "probe": data["probe"]["hash"],
        "checkpoint_sha256": data.get("checkpoint_sha256"),
        "train": {k: train[k] for k in ("train_accuracy", "test_accuracy", "train_loss", "test_loss", "epochs_run")},
        "layers": [
            {
                **{k: layer[k] for k in ("name", "pooling", "depth", "role", "epoch")},
                "measures": _without_timings(layer["measures"]),
            }
            for layer in data["layers"]
        ],
    }
    blob = json.dumps(content, sort_keys=True, allow_nan=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A record of any known schema, brought to :data:`SCHEMA_VERSION` (a new dict)."""
    version = data.get("schema")
    if version == SCHEMA_VERSION:
        return data
    if version == 1:
        out = dict(data)
        out["schema"] = 2
        out["provenance"] = "self_reported" if data.get("status") == "submitted_activations" else "benchmark"
        out.pop("digest", None)  # computed on the validated content by Record.from_dict
        return out
    raise RecordError(f"record schema {version!r} is not one reptopo knows (1..{SCHEMA_VERSION})")


def latest_version(versions: Iterable[int]) -> int | None:
    """The protocol version that a table, a page or a comparison reads: the latest of
    ``versions`` (records of several are never mixed); None when there is none."""
    return max((int(v) for v in versions), default=None)


def finalize(data: dict[str, Any], provenance: Provenance) -> Record:
    """A new record from a writer's dict: schema and provenance set, validated, then its digest."""
    out = {**data, "schema": SCHEMA_VERSION, "provenance": provenance, "digest": ""}
    return Record.from_dict(out, source=f"record {data.get('job_id', '?')}")


# --- comparison records: layer-by-layer similarity of two stored models -------------------------


class ComparedSide(Strict):
    """One side of a comparison: the stored job, and the hashes that pin what was compared."""

    job_id: str
    model: Name
    seed: int
    status: Status
    axes: dict[str, float | int | str]
    checkpoint_sha256: str | None
    entry_hash: str
    record_digest: str = Field(description="the content digest of the side's record")


class LayerRef(Strict):
    name: str
    pooling: str
    depth: float
    role: Role


class ComparisonRecord(Strict):
    """Linear CKA (plain and debiased) and RTD between every layer of two models of one task,
    on the task's probe set (schema version :data:`COMPARISON_SCHEMA_VERSION`)."""

    schema_version: int = Field(alias="schema")
    comparison_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,299}$")
    task: Name
    kind: Literal["architectures", "seeds", "random_init"] = Field(
        description="two architectures (seed 0, default hyperparameters), two seeds of one architecture, or a "
        "trained model against its random-initialisation control"
    )
    config: ProtocolStamp = Field(description="the comparison config's version, digest and parameters")
    protocol_version: int
    probe: Probe
    left: ComparedSide
    right: ComparedSide
    left_layers: list[LayerRef]
    right_layers: list[LayerRef]
    cka: list[list[float]] = Field(description="linear CKA, rows the left layers, columns the right ones")
    cka_debiased: list[list[float]]
    rtd: list[list[float | None]] = Field(description="symmetrised RTD; None for a layer pair left out (see config)")
    seconds: float
    versions: dict[str, str | None]

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "comparison") -> ComparisonRecord:
        if data.get("schema") != COMPARISON_SCHEMA_VERSION:
            raise RecordError(
                f"{source}: comparison schema {data.get('schema')!r} is not one reptopo knows "
                f"({COMPARISON_SCHEMA_VERSION})"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise _validation_error(exc, source) from None

    @classmethod
    def from_disk(cls, path: str | Path) -> ComparisonRecord:
        """Load and validate one comparison file."""
        path = Path(path)
        return cls.from_dict(_read_json_object(path, "comparison"), source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="python", by_alias=True)

    def to_json(self) -> bytes:
        """The comparison record's file (written as records are: :func:`dump_json`)."""
        return dump_json(self.to_dict())

"""The result store: one JSON record per job (diagrams in a side .npz), written atomically.

Layout under a store folder::

    records/JOB.json            a finished job (its existence means 'done')
    records/JOB.diagrams.npz    its persistence diagrams, written before the record
    failed/JOB.json             a job that raised: the error and its traceback
    checkpoints/JOB.safetensors trained weights
    tables/                     Parquet tables collected from the records, and analysis output

A rerun skips every job whose record exists; a run killed at any point loses at most the
jobs in flight, because nothing is visible under records/ until its final rename.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import StoreError
from .limits import MAX_DIAGRAMS_BYTES, load_npz_members, npz_members
from .measures.measure import registered as registered_measures
from .record import ComparisonRecord, Provenance, Record, finalize, json_default


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-" + path.name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# the analysis tables a store holds after `reptopo analyze` (tables/NAME.parquet)
TABLES = (
    "models",
    "layers",
    "scores",
    "correlations",
    "measures",
    "curves",
    "dynamics",
    "architectures",
    "nulls",
    "comparisons",
    "verdicts",
)
# the analysis tables by name, as read_tables returns them
Tables = dict[str, pd.DataFrame]


class ResultStore:
    """A result store's folder: records (with diagrams), checkpoints, comparisons, failures, and
    the analysis tables and notes."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._records: list[Record] | None = None

    def record_path(self, job_id: str) -> Path:
        return self.root / "records" / f"{job_id}.json"

    def diagrams_path(self, job_id: str) -> Path:
        return self.root / "records" / f"{job_id}.diagrams.npz"

    def checkpoint_path(self, job_id: str) -> Path:
        return self.root / "checkpoints" / f"{job_id}.safetensors"

    def scratch(self, job_id: str) -> Path:
        return self.root / "scratch" / job_id

    def has(self, job_id: str) -> bool:
        return self.record_path(job_id).is_file()

    def write(
        self, record: dict[str, Any] | Record, diagrams: dict[str, np.ndarray], *, provenance: Provenance | None = None
    ) -> Path:
        """Validate ``record`` against the record model and write it (diagrams first).

        A writer's dict gets the current schema, ``provenance`` (default ``benchmark``) and its
        content digest; a :class:`Record` is written as it is, unless ``provenance`` is given.
        """
        data = record.to_dict() if isinstance(record, Record) else dict(record)
        job_id = data["job_id"]
        if diagrams:
            import io

            buf = io.BytesIO()
            np.savez_compressed(buf, **diagrams)  # type: ignore[arg-type]  # numpy types the keywords as allow_pickle
            atomic_write_bytes(self.diagrams_path(job_id), buf.getvalue())
            data["diagrams_sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
        if isinstance(record, Record):
            rec = Record.from_dict({**data, **({"provenance": provenance} if provenance else {})}, source=job_id)
        else:
            rec = finalize(data, provenance or "benchmark")
        atomic_write_bytes(self.record_path(job_id), rec.to_json())
        (self.root / "failed" / f"{job_id}.json").unlink(missing_ok=True)
        self._records = None
        return self.record_path(job_id)

    def write_failure(self, job_id: str, info: dict[str, Any]) -> None:
        atomic_write_bytes(
            self.root / "failed" / f"{job_id}.json", json.dumps(info, indent=1, default=json_default).encode()
        )

    def records(self) -> list[Record]:
        """Every record, validated (and migrated from an earlier schema); parsed once per store
        object (writing a record through it reads them again)."""
        if self._records is None:
            self._records = [Record.from_disk(p) for p in sorted((self.root / "records").glob("*.json"))]
        return list(self._records)

    def require_records(self) -> list[Record]:
        """:meth:`records`, or a :class:`StoreError` saying what to do when there are none."""
        if not (self.root / "records").is_dir():
            raise StoreError(
                f"{self.root}: no result store here (no records/ folder); run `reptopo run --suite quick "
                f"--store {self.root}` first, or use the committed reference results with --store site/reference"
            )
        recs = self.records()
        if not recs:
            raise StoreError(
                f"{self.root}: the store holds no records yet; run `reptopo run --suite quick --store {self.root}`"
            )
        return recs

    def record(self, job_id: str) -> Record:
        """One record, validated; a :class:`StoreError` naming the job when it is missing."""
        path = self.record_path(job_id)
        if not path.is_file():
            raise StoreError(f"{path}: no record of job {job_id!r} in this store; run it first (`reptopo run`)")
        return Record.from_disk(path)

    def tables_dir(self) -> Path:
        """Where ``reptopo analyze`` writes the analysis tables and notes."""
        return self.root / "tables"

    def has_tables(self) -> bool:
        """Whether every analysis table (:data:`TABLES`) has been written."""
        return all((self.tables_dir() / f"{n}.parquet").is_file() for n in TABLES)

    def read_tables(self) -> dict[str, pd.DataFrame]:
        """The analysis tables (:data:`TABLES`) by name; a :class:`StoreError` saying to run
        ``reptopo analyze`` when any is missing (:func:`reptopo.analysis.tables_of` runs it)."""
        if not self.has_tables():
            raise StoreError(f"{self.root}: no analysis tables yet; run `reptopo analyze --store {self.root}`")
        return {n: pd.read_parquet(self.tables_dir() / f"{n}.parquet") for n in TABLES}

    def notes(self) -> list[str]:
        """The analysis notes (what it left out and why), empty before ``reptopo analyze``."""
        path = self.tables_dir() / "analysis.json"
        return json.loads(path.read_text()).get("notes", []) if path.is_file() else []

    # comparison records: layer-by-layer similarity of two stored jobs (reptopo.pipeline.compare)

    def comparison_path(self, comparison_id: str) -> Path:
        return self.root / "comparisons" / f"{comparison_id}.json"

    def has_comparison(self, comparison_id: str) -> bool:
        return self.comparison_path(comparison_id).is_file()

    def write_comparison(self, data: dict[str, Any]) -> Path:
        """Validate a comparison record and write it atomically."""
        rec = ComparisonRecord.from_dict(data, source=f"comparison {data.get('comparison_id', '?')}")
        path = self.comparison_path(rec.comparison_id)
        atomic_write_bytes(path, rec.to_json())
        (self.root / "failed" / f"{rec.comparison_id}.json").unlink(missing_ok=True)
        return path

    def load_comparisons(self) -> list[ComparisonRecord]:
        """Every comparison record, validated (none when the store has no comparisons/ folder)."""
        return [ComparisonRecord.from_disk(p) for p in sorted((self.root / "comparisons").glob("*.json"))]

    def failures(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted((self.root / "failed").glob("*.json"))]

    def diagrams(self, job_id: str) -> dict[str, np.ndarray]:
        """The record's persistence diagrams by key; the archive is checked from its zip headers
        first (at most :data:`reptopo.limits.MAX_DIAGRAMS_BYTES` inflated, each member once)."""
        path = self.diagrams_path(job_id)
        if not path.is_file():
            return {}
        members = npz_members(
            path, max_inflated=MAX_DIAGRAMS_BYTES, max_members=100_000, what="a diagrams archive", error=StoreError
        )
        return load_npz_members(path, [m.name for m in members], StoreError)


def flatten_layer(measures: dict[str, Any]) -> dict[str, Any]:
    """The scalar columns of one layer's measures: its size and error, then each registered
    measure's own columns (:meth:`reptopo.measures.measure.Measure.columns`), in their order: a
    measure's when the layer has its field, and protocol v1-v3's always (their tables had them)."""
    row = {
        "n_points": measures.get("n_points"),
        "n_features": measures.get("n_features"),
        "duplicate_fraction": measures.get("duplicate_fraction"),
        "error": measures.get("error"),
    }
    for m in registered_measures():
        if m.always_tabled or m.name in measures:
            row.update(m.columns(measures.get(m.name)))
    return row


COMPARISON_COLUMNS = [
    "comparison_id",
    "task",
    "kind",
    "protocol_version",
    "left_job",
    "right_job",
    "left_model",
    "right_model",
    "left_seed",
    "right_seed",
    "left_status",
    "right_status",
    "left_layer",
    "left_pooling",
    "left_depth",
    "left_role",
    "right_layer",
    "right_pooling",
    "right_depth",
    "right_role",
    "cka",
    "cka_debiased",
    "rtd",
]


def collect_comparisons(store: ResultStore) -> pd.DataFrame:
    """One row per (comparison, left layer, right layer) (``reptopo analyze`` writes it to tables/)."""
    rows = []
    for c in store.load_comparisons():
        base = {
            "comparison_id": c.comparison_id,
            "task": c.task,
            "kind": c.kind,
            "protocol_version": c.protocol_version,
            "left_job": c.left.job_id,
            "right_job": c.right.job_id,
            "left_model": c.left.model,
            "right_model": c.right.model,
            "left_seed": c.left.seed,
            "right_seed": c.right.seed,
            "left_status": c.left.status,
            "right_status": c.right.status,
        }
        for i, a in enumerate(c.left_layers):
            for j, b in enumerate(c.right_layers):
                rows.append(
                    {
                        **base,
                        "left_layer": a.name,
                        "left_pooling": a.pooling,
                        "left_depth": a.depth,
                        "left_role": a.role,
                        "right_layer": b.name,
                        "right_pooling": b.pooling,
                        "right_depth": b.depth,
                        "right_role": b.role,
                        "cka": c.cka[i][j],
                        "cka_debiased": c.cka_debiased[i][j],
                        "rtd": c.rtd[i][j],
                    }
                )
    df = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    df["rtd"] = df["rtd"].astype(float)
    return df


MODEL_COLUMNS = [
    "job_id",
    "model",
    "task",
    "seed",
    "family",
    "modality",
    "status",
    "provenance",
    "protocol_version",
    "train_accuracy",
    "test_accuracy",
    "train_loss",
    "test_loss",
    "generalization_gap",
    "n_parameters",
    "weight_l2",
    "train_seconds",
    "measure_seconds",
    "peak_rss_mb",
]


def model_row(rec: Record) -> dict[str, Any]:
    """One record's row of the models table."""
    t = rec.train
    row = {
        "job_id": rec.job_id,
        "model": rec.model,
        "task": rec.task,
        "seed": rec.seed,
        "family": rec.family,
        "modality": rec.modality,
        "status": rec.status,
        "provenance": rec.provenance,
        "protocol_version": rec.protocol.version,
        "train_accuracy": t.train_accuracy,
        "test_accuracy": t.test_accuracy,
        "train_loss": t.train_loss,
        "test_loss": t.test_loss,
        "generalization_gap": rec.generalization_gap,
        "n_parameters": rec.n_parameters,
        "weight_l2": rec.weight_l2,
        "train_seconds": rec.times.train_seconds,
        "measure_seconds": rec.times.measure_seconds,
        "peak_rss_mb": rec.peak_rss_mb,
    }
    for axis, value in rec.axes.items():
        row[f"axis_{axis}"] = value
    return row


def collect(store: ResultStore) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(models, layers) tables from every record; also written to tables/*.parquet."""
    models, layers = [], []
    for rec in store.records():
        base = model_row(rec)
        models.append(base)
        for layer in rec.layers:
            layers.append(
                {
                    **{k: base[k] for k in ("job_id", "model", "task", "seed", "family", "status", "protocol_version")},
                    "layer": layer.name,
                    "pooling": layer.pooling,
                    "depth": layer.depth,
                    "role": layer.role,
                    "epoch": layer.epoch,
                    **flatten_layer(layer.measures.model_dump(mode="python", exclude_unset=True)),
                }
            )
    mdf, ldf = pd.DataFrame(models), pd.DataFrame(layers)
    out = store.tables_dir()
    out.mkdir(parents=True, exist_ok=True)
    mdf.to_parquet(out / "models.parquet", index=False)
    ldf.to_parquet(out / "layers.parquet", index=False)
    return mdf, ldf

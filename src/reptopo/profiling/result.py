"""The result of a profile: every profiled layer's measures, its table, figures, record and
comparison with another profile."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import ProfileError
from ..measures.measure import registered as registered_measures
from ..protocol import ProtocolConfig
from ..record import Layer, Record, pooling_rank, primary_pooling
from ..registry import LayerSpec


@dataclass
class Profile:
    """Every profiled layer's measures (the record's own :class:`reptopo.record.Layer` type),
    with the activations they were measured on.

    Attributes
    ----------
    model : str
        The model's name (its class, or the ``hf:``/``timm:`` name it was loaded by).
    layers : list of LayerSpec
        The layers profiled, with relative depth, role and layout.
    chosen : str
        How the layers were chosen ("given", or the default rule's account).
    measurements : list of reptopo.record.Layer
        One per (layer, pooling), in depth order.
    activations : dict
        (layer, pooling) to the float32 activations measured, one row per kept input.
    labels : ndarray or None
        The kept inputs' labels.
    positions : ndarray
        The kept inputs' positions in the data.
    n_inputs : int
        How many inputs the data held.
    inputs_hash : str
        sha256 of the kept inputs' shape and their own sha256s, in order: two profiles of the same
        inputs have the same one.
    protocol : ProtocolConfig
        The protocol whose measures and parameters were used.
    skipped : dict
        Measures not run, and why.
    device : str
        Where the forward passes ran.
    diagrams : dict
        The persistence diagrams, keyed as in a result store (``LAYER__POOLING__e0__hDIM``).
    """

    model: str
    layers: list[LayerSpec]
    chosen: str
    measurements: list[Layer]
    activations: dict[tuple[str, str], np.ndarray] = field(repr=False)
    labels: np.ndarray | None = field(repr=False)
    positions: np.ndarray = field(repr=False)
    n_inputs: int
    inputs_hash: str
    protocol: ProtocolConfig = field(repr=False)
    skipped: dict[str, str]
    device: str = "cpu"
    diagrams: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    def layer(self, name: str, pooling: str | None = None) -> Layer:
        """The measurement of layer ``name`` (its primary pooling unless ``pooling`` is given)."""
        found = [m for m in self.measurements if m.name == name and (pooling is None or m.pooling == pooling)]
        if not found:
            raise ProfileError(
                f"layer {name!r}" + (f" pooling {pooling!r}" if pooling else "") + " was not profiled; "
                f"profiled: {', '.join(dict.fromkeys(m.name for m in self.measurements))}"
            )
        return min(found, key=lambda m: pooling_rank(m.pooling))

    def to_pandas(self) -> pd.DataFrame:
        """One row per (layer, pooling): relative depth, role, the layer's scalar measures (the
        result store's columns), ``primary`` (the pooling the analysis reads) and ``flags``, in
        words, where a measure could not answer (censored, unresolved, scale drift, errors)."""
        from ..store import flatten_layer

        rows = []
        primary = {
            m.name: primary_pooling(n.pooling for n in self.measurements if n.name == m.name) for m in self.measurements
        }
        for m in self.measurements:
            measures = m.measures.model_dump(mode="python", exclude_unset=True)
            rows.append(
                {
                    "layer": m.name,
                    "pooling": m.pooling,
                    "depth": m.depth,
                    "role": m.role,
                    "primary": primary[m.name] == m.pooling,
                    **flatten_layer(measures),
                    "flags": _flags(measures),
                }
            )
        return pd.DataFrame(rows)

    def _curves(self) -> pd.DataFrame:
        """The analysis's curves table of this one model (primary poolings, one "seed")."""
        from ..analysis import curves

        df = self.to_pandas()
        df = df.assign(
            job_id=self.model,
            model=self.model,
            task="profile",
            seed=0,
            family=self.model,
            status="profiled",
            protocol_version=self.protocol.version,
            epoch=0,
        )
        return curves(df)

    def plot(self, backend: Literal["plotly", "matplotlib"] = "plotly", measures: Sequence[str] | None = None) -> Any:
        """The per-layer curves, drawn by the leaderboard's figure code: one figure, a panel per
        measure (PHdim with its interval; a censored layer an open triangle at its bound).

        ``backend="plotly"`` gives a ``plotly.graph_objects.Figure`` (shown inline in a
        notebook), ``"matplotlib"`` a ``matplotlib.figure.Figure``. ``measures`` names the
        panels (the curves' column names, e.g. ``("phdim", "twonn")``); default every panel the
        profile has values for."""
        from ..figures import CURVE_PANELS, colours_for, curve_figure, draw_curves

        table = self._curves()
        panels = [
            p
            for p in CURVE_PANELS
            if (measures is None or p[0] in measures)
            and f"{p[0]}_mean" in table
            and table[f"{p[0]}_mean"].notna().any()
        ]
        if not panels:
            raise ProfileError("plot: no measure to draw" + (f" among {list(measures)}" if measures else ""))
        colours = colours_for([self.model])
        if backend == "matplotlib":
            return draw_curves(table, colours, panels, title=self.model)
        if backend != "plotly":
            raise ProfileError(f"plot: backend {backend!r}; use 'plotly' or 'matplotlib'")
        return curve_figure(table, colours, panels, title=self.model)

    def to_record(
        self,
        *,
        model: str | None = None,
        task: str = "own_data",
        family: str = "custom",
        modality: str = "vision",
        train_accuracy: float = math.nan,
        test_accuracy: float = math.nan,
    ) -> Record:
        """A schema-valid record of this profile, provenance ``self_reported`` (nobody re-ran it):
        for ``reptopo submit --activations`` (with the task's probe set) or a local store.

        The probe is the kept inputs (their hash and positions); the entry hashes are of the
        profiled layers' specs and of the inputs. Accuracies are NaN unless given."""
        from ..pipeline.jobs import build_record, job_id
        from ..protocol import protocol
        from ..record import finalize

        name = model or _record_name(self.model)
        cfg = self.protocol
        if cfg != protocol(cfg.version):
            raise ProfileError(
                f"protocol: this profile measured PHdim on a pool of {cfg.phdim_pool} points, not protocol "
                f"v{cfg.version}'s {protocol(cfg.version).phdim_pool}; a record must be the protocol's own "
                f"measurement: profile again with probe_size={protocol(cfg.version).probe_size} to submit it"
            )
        layers_hash = hashlib.sha256(repr([s.model_dump(mode="json") for s in self.layers]).encode()).hexdigest()
        identity = {
            "model": name,
            "model_version": 1,
            "task": task,
            "task_version": 1,
            "family": family,
            "modality": modality,
            "entry_hash": {"model": layers_hash, "task": self.inputs_hash},
        }
        data = build_record(
            job_id=job_id(name, task, cfg.version, kind="profile"),
            identity=identity,
            cfg=cfg,
            seed=0,
            axes={},
            control=None,
            status="submitted_activations",
            probe=(len(self.positions), self.inputs_hash, self.positions),
            recipe=None,
            train={
                "train_accuracy": float(train_accuracy),
                "test_accuracy": float(test_accuracy),
                "train_loss": math.nan,
                "test_loss": math.nan,
                "epochs_run": 0,
                "history": [],
            },
            checkpoint_sha256=None,
            n_parameters=None,
            weight_l2=None,
            times={
                "train_seconds": 0.0,
                "measure_seconds": sum(m.measures.seconds or 0.0 for m in self.measurements),
            },
            peak_rss_mb=None,
            device=self.device,
            layers=[m.model_dump(mode="python", exclude_unset=True) for m in self.measurements],
        )
        return finalize(data, "self_reported")

    def compare(self, other: Profile, *, layers: int | None = None) -> ProfileComparison:
        """Linear CKA (plain and debiased) between every primary layer of this profile and of
        ``other``, and RTD between up to ``layers`` of each (the comparison stage's settings).

        Raises ProfileError unless both profiles kept the same inputs."""
        from ..pipeline.compare import comparison_config, similarity_maps

        if self.inputs_hash != other.inputs_hash:
            raise ProfileError(
                f"compare: {self.model} and {other.model} were profiled on different inputs "
                f"({self.inputs_hash[:12]}... against {other.inputs_hash[:12]}...); profile both on the same data"
            )
        left, right = self._primary(), other._primary()
        cfg = comparison_config()
        if layers is not None:
            cfg = cfg.model_copy(update={"rtd_max_layers": layers})
        cka, cka_debiased, rtd = similarity_maps(
            [a for _, a in left], [a for _, a in right], ([n for n, _ in left], [n for n, _ in right]), cfg
        )
        return ProfileComparison(
            self.model,
            other.model,
            [n for n, _ in left],
            [n for n, _ in right],
            cka,
            cka_debiased,
            np.array([[np.nan if v is None else v for v in row] for row in rtd]),
        )

    def _primary(self) -> list[tuple[str, np.ndarray]]:
        out = []
        for spec in sorted(self.layers, key=lambda s: s.depth):
            pooling = primary_pooling(p for name, p in self.activations if name == spec.name)
            if pooling is not None:
                out.append((spec.name, self.activations[(spec.name, pooling)]))
        return out

    def save(self, out: str | Path, **record_fields: Any) -> list[Path]:
        """The table (``profile.parquet``, ``profile.csv``), the figure (``profile.html``, with
        plotly.js inside it, and ``profile.png``) and the record (``record.json``) in ``out``."""

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        table = self.to_pandas()
        paths = [
            out / "profile.parquet",
            out / "profile.csv",
            out / "profile.html",
            out / "profile.png",
            out / "record.json",
        ]
        table.to_parquet(paths[0], index=False)
        table.to_csv(paths[1], index=False)
        self.plot().write_html(paths[2], include_plotlyjs=True, full_html=True)
        self.plot(backend="matplotlib").savefig(paths[3], dpi=120, bbox_inches="tight")
        paths[4].write_bytes(self.to_record(**record_fields).to_json())
        return paths


@dataclass
class ProfileComparison:
    """CKA and RTD maps between two profiles of the same inputs: rows ``left_layers``, columns
    ``right_layers``; RTD is NaN for a pair left out."""

    left: str
    right: str
    left_layers: list[str]
    right_layers: list[str]
    cka: np.ndarray
    cka_debiased: np.ndarray
    rtd: np.ndarray

    def to_pandas(self) -> pd.DataFrame:
        """One row per (left layer, right layer) with ``cka``, ``cka_debiased`` and ``rtd``."""
        rows = [
            {
                "left_layer": a,
                "right_layer": b,
                "cka": self.cka[i, j],
                "cka_debiased": self.cka_debiased[i, j],
                "rtd": self.rtd[i, j],
            }
            for i, a in enumerate(self.left_layers)
            for j, b in enumerate(self.right_layers)
        ]
        return pd.DataFrame(rows)


def _record_name(model: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", model).strip("-.")[:100] or "model"


def _flags(measures: dict[str, Any]) -> str:
    """What could not be answered in one layer's measures, in words ('' when nothing): each
    measure's own flags (a range, a bound), then the measures that failed."""
    if measures.get("error"):
        return str(measures["error"])
    flags: list[str] = []
    failed: list[str] = []
    for m in registered_measures():
        value = measures.get(m.name)
        if isinstance(value, dict) and "error" in value:
            failed.append(f"{m.name}: {value['error']}")
        elif value is not None:
            flags.extend(m.flags(value))
    return "; ".join(flags + failed)

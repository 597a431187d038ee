"""Profile any torch model on your own data: per-layer topology in a notebook, three lines.

    >>> prof = reptopo.profile(model, loader)          # doctest: +SKIP
    >>> prof.to_pandas()                               # doctest: +SKIP
    >>> prof.plot()                                    # doctest: +SKIP

The activations are captured with forward hooks (removed on exit, error or not), pooled by the
protocol's own rules (:mod:`reptopo.probe`), kept as float32 for the layers asked for only, each
subsampled to the probe size as it arrives, and measured with the protocol's measures and
parameters (:func:`reptopo.protocol.measure_layer`): the numbers are those the benchmark would
record for the same model and inputs. The model is never modified: its train/eval modes are
restored and nothing is moved between devices.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .errors import LayerError, ProfileError
from .measures.measure import registered as registered_measures
from .probe import capture, pooled_outputs
from .protocol import CURRENT_VERSION, MIN_POINTS, ProtocolConfig, measure_layer, protocol
from .record import Layer, Record, pooling_rank, primary_pooling
from .registry import LayerSpec

# modules that only hold others: never a "block" of the default choice
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
# a parameter-free module whose output the default choice prefers to the layer before it
_ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.Tanh,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.ELU,
    nn.LeakyReLU,
    nn.Softplus,
    nn.Mish,
    nn.Hardswish,
)
_WEIGHTED_LEAVES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


# short names of the measures a caller may ask for
def _has_parameters(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def _is_attention(module: nn.Module) -> bool:
    return any("attn" in n.lower() or "attention" in type(m).__name__.lower() for n, m in module.named_modules())


def _layout(module: nn.Module, attention_model: bool, head: bool) -> str | None:
    """The layout of a module's 3-D output: tokens in a Transformer (and of an embedding), a
    convolution's channels-first signal; None leaves 2-D and 4-D outputs to be inferred."""
    if head:
        return None
    if _is_attention(module) or attention_model or isinstance(module, nn.Embedding):
        return "tokens"
    if any(isinstance(m, nn.Conv1d) for m in module.modules()):
        return "conv1d"
    return None


def _weighted(module: nn.Module) -> bool:
    return any(isinstance(m, (*_WEIGHTED_LEAVES, nn.Embedding)) for m in module.modules())


def _units(children: list[tuple[str, nn.Module]]) -> list[tuple[str, nn.Module]]:
    """The parametrised ones of ``children`` (a module's, in order), a linear or convolution
    layer replaced by the activation that follows it, and a container of several parametrised
    modules (a VGG's features) opened into its own."""
    out = []
    for i, (n, m) in enumerate(children):
        if not _has_parameters(m):
            continue
        if isinstance(m, _CONTAINERS) and sum(_has_parameters(c) for c in m.children()) >= 2:
            out += [(f"{n}.{c}", cm) for c, cm in _units(list(m.named_children()))]
            continue
        nxt = children[i + 1] if i + 1 < len(children) else None
        if isinstance(m, _WEIGHTED_LEAVES) and nxt is not None and isinstance(nxt[1], _ACTIVATIONS):
            n, m = nxt
        out.append((n, m))
    return out


def default_layers(model: nn.Module) -> tuple[list[LayerSpec], str]:
    """The layers profiled when none are named, and how they were chosen.

    - The leaf blocks: the innermost modules with weights and submodules that sit in a
      ``Sequential`` or ``ModuleList`` (a ResNet's BasicBlocks, a MobileNet's inverted residuals,
      a ViT's or a BERT's encoder blocks, an MLP's linear-activation pairs), when there are two
      or more.
    - Otherwise, the parametrised children of the model (or of its single wrapped module), a
      linear or convolution layer replaced by the activation that follows it.
    - Then the head: the last linear layer outside those (or the last of them).

    Relative depth is the position in that list, the head at 1; a block holding attention has
    the role ``attention_block`` and a token layout for its 3-D output.
    """
    named = list(model.named_modules())
    modules = dict(named)
    candidates = [
        n
        for n, m in named[1:]
        if isinstance(modules[n.rsplit(".", 1)[0] if "." in n else ""], _CONTAINERS)
        and next(m.children(), None) is not None
        and _weighted(m)
    ]
    blocks = [(n, modules[n]) for n in candidates if not any(c.startswith(n + ".") for c in candidates)]
    if len(blocks) >= 2:
        kinds = ", ".join(sorted({type(m).__name__ for _, m in blocks}))
        how = f"the {len(blocks)} leaf blocks ({kinds})"
    else:
        root, prefix = model, ""
        while True:  # through wrappers of one module (an adapter around a network)
            children = [(n, m) for n, m in root.named_children() if _has_parameters(m)]
            if len(children) != 1 or isinstance(children[0][1], _WEIGHTED_LEAVES):
                break
            prefix += children[0][0] + "."
            root = children[0][1]
        blocks = [(prefix + n, m) for n, m in _units(list(root.named_children()))]
        how = f"the {len(blocks)} parametrised parts of {prefix.rstrip('.') or 'the model'}"
    names = [n for n, _ in blocks]
    linears = [n for n, m in named[1:] if isinstance(m, nn.Linear)]
    if linears and linears[-1] not in names and not any(linears[-1].startswith(b + ".") for b in names):
        names.append(linears[-1])
        how += f" and the head ({linears[-1]})"
    elif names:
        how += f" (the last, {names[-1]}, as the head)"
    attention_model = _is_attention(model)
    specs = []
    for i, n in enumerate(names):
        head = i == len(names) - 1
        role = "head" if head else "attention_block" if _is_attention(modules[n]) else "block"
        specs.append(
            LayerSpec(
                name=n,
                depth=round((i + 1) / len(names), 4),
                role=role,
                layout=_layout(modules[n], attention_model, head),
            )
        )
    return specs, how


def _given_layers(model: nn.Module, layers: Sequence[str | LayerSpec]) -> list[LayerSpec]:
    """LayerSpecs of the named layers; a name the model lacks is an error naming the nearest."""
    modules = dict(model.named_modules())
    attention_model = _is_attention(model)
    names = [s.name if isinstance(s, LayerSpec) else s for s in layers]
    for name in names:
        if not isinstance(name, str) or (name != "input" and name not in modules):
            near = difflib.get_close_matches(str(name), [n for n in modules if n], n=3, cutoff=0.5)
            raise ProfileError(
                f"layers: {name!r} is not a module of the model"
                + (f"; nearest: {', '.join(near)}" if near else "; model.named_modules() lists them")
            )
    has_input = names[0] == "input" if names else False
    specs = []
    for i, spec in enumerate(layers):
        if isinstance(spec, LayerSpec):
            specs.append(spec)
            continue
        span = max(len(names) - 1, 1) if has_input else len(names)
        depth = round((i if has_input else i + 1) / span, 4)
        head = i == len(names) - 1
        role = (
            "input"
            if spec == "input"
            else "head"
            if head
            else "attention_block"
            if _is_attention(modules[spec])
            else "block"
        )
        layout = None if spec == "input" else _layout(modules[spec], attention_model, head)
        specs.append(LayerSpec(name=spec, depth=depth, role=role, layout=layout))
    return specs


def _measures_asked(
    measures: Iterable[str] | None, have_labels: bool, cfg: ProtocolConfig
) -> tuple[tuple[str, ...], dict[str, str]]:
    """(the measures to run, in the protocol's order; the ones left out and why)."""
    known = cfg.measures()
    names = [m.name for m in known]
    alias = {a: m.name for m in known for a in m.aliases}
    asked = names if measures is None else [alias.get(m, m) for m in measures]
    unknown = sorted(set(asked) - set(names))
    if unknown:
        raise ProfileError(
            f"measures: {unknown} are not measures of protocol {cfg.version}; known: {', '.join(names + sorted(alias))}"
        )
    skipped = {m: "not asked for" for m in names if m not in asked}
    if not have_labels:
        for m in known:
            if m.needs_labels and m.name in asked:
                skipped[m.name] = "needs labels (pass labels=, or a loader that yields (inputs, labels))"
        asked = [name for name, m in zip(names, known) if name in asked and not m.needs_labels]
    return tuple(m for m in names if m in asked), skipped


# --- the inputs ----------------------------------------------------------------------------


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    raise ProfileError(f"{what}: expected a tensor or an array, got {type(value).__name__}")


def _labels_array(labels: Any, n: int | None, what: str = "labels") -> np.ndarray:
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if y.ndim != 1 or (n is not None and len(y) != n):
        raise ProfileError(f"{what}: shape {y.shape}; expected one label per input ({n})")
    return y


def _tensor_inputs(data: Any, labels: Any) -> tuple[torch.Tensor, np.ndarray | None] | None:
    """(inputs, labels or None) of data given whole (a tensor, an array or a tuple of them);
    None for a loader or any other iterable of batches."""
    if isinstance(data, tuple) and data and isinstance(data[0], (torch.Tensor, np.ndarray)):
        if len(data) > 2:
            raise ProfileError(f"data: a tuple of {len(data)} tensors; expected (inputs,) or (inputs, labels)")
        if len(data) == 2:
            if labels is not None:
                raise ProfileError("labels: given twice, as data's second tensor and as labels=")
            labels = data[1]
        data = data[0]
    if not isinstance(data, (torch.Tensor, np.ndarray)):
        return None
    x = _as_tensor(data, "data")
    if x.dim() < 2:
        raise ProfileError(f"data: shape {tuple(x.shape)}; expected a batch (inputs first)")
    return x, None if labels is None else _labels_array(labels, len(x))


def _tensor_batches(x: torch.Tensor, y: np.ndarray | None, batch_size: int):
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size], None if y is None else y[start : start + batch_size]


def _loader_batches(data: Any) -> Iterator[tuple[torch.Tensor, np.ndarray | None]]:
    """(inputs, labels or None) of each batch of a loader (tensors, or tuples whose first element is one)."""
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise ProfileError(
            f"data: a {type(data).__name__}; expected a tensor, an array, a tuple (inputs, labels) or a DataLoader"
        )
    for b, batch in enumerate(data):
        if isinstance(batch, (list, tuple)) and batch and isinstance(batch[0], (torch.Tensor, np.ndarray)):
            xb = _as_tensor(batch[0], f"data: batch {b}")
            yb = _labels_array(batch[1], len(xb), f"data: batch {b}'s labels") if len(batch) > 1 else None
        elif isinstance(batch, (torch.Tensor, np.ndarray)):
            xb, yb = _as_tensor(batch, f"data: batch {b}"), None
        else:
            raise ProfileError(
                f"data: batch {b} is a {type(batch).__name__}, not a tensor or a tuple whose first "
                "element is one; make the loader yield (inputs, labels) tensors"
            )
        yield xb, yb


class _Reservoir:
    """Which of a stream's inputs are kept: all while they fit, then a seeded uniform sample of
    ``size`` (Vitter's algorithm R), the same rows for every layer."""

    def __init__(self, size: int, seed: int):
        self.size, self.seen = size, 0
        self.rng = np.random.default_rng([seed, 29])
        self.positions = np.full(size, -1, dtype=np.int64)

    def slots(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows of the next batch of ``n`` to keep, the slot each goes to)."""
        rows, slots = [], []
        for i in range(n):
            pos = self.seen + i
            slot = pos if pos < self.size else int(self.rng.integers(0, pos + 1))
            if slot < self.size:
                rows.append(i)
                slots.append(slot)
                self.positions[slot] = pos
        self.seen += n
        return np.asarray(rows, dtype=np.int64), np.asarray(slots, dtype=np.int64)

    def order(self) -> np.ndarray:
        """The kept slots in the order of their inputs' positions."""
        filled = min(self.seen, self.size)
        return np.argsort(self.positions[:filled], kind="stable")


# --- the result ----------------------------------------------------------------------------


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
        sha256 of the kept inputs, in order: two profiles of the same inputs have the same one.
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
        from .store import flatten_layer

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
        from .analysis import curves

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

    def plot(self, backend: str = "plotly", measures: Sequence[str] | None = None):
        """The per-layer curves, drawn by the leaderboard's figure code: one figure, a panel per
        measure (PHdim with its interval; a censored layer an open triangle at its bound).

        ``backend="plotly"`` gives a ``plotly.graph_objects.Figure`` (shown inline in a
        notebook), ``"matplotlib"`` a ``matplotlib.figure.Figure``. ``measures`` names the
        panels (the curves' column names, e.g. ``("phdim", "twonn")``); default every panel the
        profile has values for."""
        from .figures import CURVE_PANELS, colours_for, curve_figure, draw_curves

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
        from .jobs import job_id, library_versions, where_this_runs
        from .record import SCHEMA_VERSION, finalize

        name = model or _record_name(self.model)
        cfg = self.protocol
        layers_hash = hashlib.sha256(repr([s.model_dump(mode="json") for s in self.layers]).encode()).hexdigest()
        data = {
            "schema": SCHEMA_VERSION,
            "job_id": job_id(name, task, cfg.version, kind="profile"),
            "model": name,
            "model_version": 1,
            "task": task,
            "task_version": 1,
            "seed": 0,
            "axes": {},
            "control": None,
            "status": "submitted_activations",
            "family": family,
            "modality": modality,
            "protocol": {"version": cfg.version, "digest": cfg.digest(), "config": cfg.model_dump(mode="json")},
            "entry_hash": {"model": layers_hash, "task": self.inputs_hash},
            "probe": {"size": len(self.positions), "hash": self.inputs_hash, "ids": self.positions.tolist()},
            "recipe": None,
            "train": {
                "train_accuracy": float(train_accuracy),
                "test_accuracy": float(test_accuracy),
                "train_loss": math.nan,
                "test_loss": math.nan,
                "epochs_run": 0,
                "history": [],
            },
            "checkpoint_sha256": None,
            "n_parameters": None,
            "weight_l2": None,
            "times": {
                "train_seconds": 0.0,
                "measure_seconds": sum(m.measures.seconds or 0.0 for m in self.measurements),
            },
            "peak_rss_mb": None,
            "versions": library_versions(),
            "device": self.device,
            "ran_on": where_this_runs(),
            "layers": [m.model_dump(mode="python", exclude_unset=True) for m in self.measurements],
        }
        return finalize(data, "self_reported")

    def compare(self, other: Profile, *, layers: int | None = None) -> ProfileComparison:
        """Linear CKA (plain and debiased) between every primary layer of this profile and of
        ``other``, and RTD between up to ``layers`` of each (the comparison stage's settings).

        Raises ProfileError unless both profiles kept the same inputs."""
        from .compare import comparison_config, similarity_maps

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

    def save(self, out: str | Path, **record_fields) -> list[Path]:
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


def _flags(measures: dict) -> str:
    """What could not be answered in one layer's measures, in words ('' when nothing): each
    measure's own flags (a range, a bound), then the measures that failed."""
    if measures.get("error"):
        return measures["error"]
    flags, failed = [], []
    for m in registered_measures():
        value = measures.get(m.name)
        if isinstance(value, dict) and "error" in value:
            failed.append(f"{m.name}: {value['error']}")
        elif value is not None:
            flags.extend(m.flags(value))
    return "; ".join(flags + failed)


# --- the entry point -----------------------------------------------------------------------


def _calibrated_size(n: int, cfg: ProtocolConfig) -> int:
    """How many of ``n`` inputs to keep so that PHdim's pool (``min(phdim_pool, n)``) has a
    calibration table: the largest table's pool that ``n`` fills; ``n`` itself when the protocol
    does not calibrate, when the pool is the protocol's own, or when no table is that small."""
    from .measures import calibrated_pools

    if cfg.phdim_ceiling != "calibrated" or n >= cfg.phdim_pool:
        return n
    fits = [p for p in calibrated_pools(cfg.phdim_repeats, cfg.phdim_alpha) if p <= n]
    return max(fits) if fits else n


def _interactive() -> bool:
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def _model_device(model: nn.Module, device: str) -> torch.device:
    want = torch.device(device)
    param = next(model.parameters(), None)
    if param is not None and (
        param.device.type != want.type or (want.index is not None and param.device.index != want.index)
    ):
        raise ProfileError(
            f"device: the model's parameters are on {param.device}, not {want}; pass "
            f"device={str(param.device)!r} or move the model (model.to({device!r}))"
        )
    return want


def profile(
    model: nn.Module | str,
    data: Any,
    *,
    layers: Sequence[str | LayerSpec] | None = None,
    labels: Any = None,
    probe_size: int | None = None,
    protocol_version: int = CURRENT_VERSION,
    measures: Iterable[str] | None = None,
    device: str = "cpu",
    batch_size: int = 128,
    seed: int | None = None,
    progress: bool | None = None,
) -> Profile:
    """Per-layer topology and geometry of ``model``'s representations of ``data``.

    Parameters
    ----------
    model : torch.nn.Module or str
        The model (left as it is: modes restored, hooks removed), or ``"hf:ORG/NAME"`` (a
        transformers encoder; ``data`` may then be a list of strings) or ``"timm:NAME"``.
    data : tensor, array, tuple (inputs, labels) or DataLoader
        The inputs, first dimension the batch; a loader may yield tensors or (inputs, labels).
    layers : list of str or LayerSpec, default=None
        Module names (``"input"`` for the inputs themselves); None: :func:`default_layers`.
    labels : tensor or array, default=None
        One class label per input; without labels the class measures are skipped (said so).
    probe_size : int, default=None
        Inputs kept: class-balanced with labels given up front (the benchmark's rule), else a
        seeded uniform sample as they arrive; None: the protocol's probe size.
    protocol_version : int, default=CURRENT_VERSION
        The protocol whose measures and parameters are used.
    measures : iterable of str, default=None
        A subset of the protocol's measures (``ProtocolConfig.measure_names()``; also an alias such
        as ``"linear_probe"`` or ``"betti"``); None: all.
    device : str, default="cpu"
        Where the inputs are sent; the model must already be there.
    batch_size : int, default=128
        The forward pass's batch (for tensors; a loader's own batches are used as they come).
    seed : int, default=None
        Seed of the subsample; None: the protocol's probe seed.
    progress : bool, default=None
        A progress bar over layers; None: only when interactive (a terminal or a notebook).

    Returns
    -------
    Profile

    Raises
    ------
    ProfileError
        A layer the model lacks (the nearest names listed), a loader that yields no tensors,
        non-finite activations (the layer and batch named), a model on another device, fewer
        inputs than the measures need, an unknown measure.
    ModelBuildError
        An ``hf:``/``timm:`` model that is neither shipped, on a reachable hub nor cached.
    """
    from rich.progress import track

    from .tasks import probe_positions

    cfg = protocol(protocol_version)
    size = cfg.probe_size if probe_size is None else int(probe_size)
    if size < MIN_POINTS:
        raise ProfileError(f"probe_size: {size}; the measures need at least {MIN_POINTS} inputs")
    seed = cfg.probe_seed if seed is None else seed
    measures = None if measures is None else tuple(measures)
    _measures_asked(measures, True, cfg)  # an unknown measure is named before any forward pass
    is_text, pad_id, name = False, 0, type(model).__name__
    if isinstance(model, str):
        from .models import load_named

        named = load_named(model)
        model, name, pad_id, is_text = named.module, named.name, named.pad_id, named.tokenizer is not None
        if is_text and isinstance(data, (list, tuple)) and data and all(isinstance(t, str) for t in data):
            data = named.tokenizer(list(data), padding=True, truncation=True, max_length=128, return_tensors="pt")[
                "input_ids"
            ]
    elif not isinstance(model, nn.Module):
        raise ProfileError(f"model: a {type(model).__name__}; expected a torch.nn.Module, 'hf:ORG/NAME' or 'timm:NAME'")
    if isinstance(data, (list, tuple)) and data and all(isinstance(t, str) for t in data):
        raise ProfileError(
            "data: a list of strings needs a model given as 'hf:ORG/NAME' (its tokenizer); for a module, pass token ids"
        )
    dev = _model_device(model, device)
    specs, chosen = default_layers(model) if layers is None else (_given_layers(model, layers), "given")
    if not specs:
        raise ProfileError("layers: the model has no layer to profile; name them with layers=[...]")
    whole = _tensor_inputs(data, labels)
    if whole is not None:
        # inputs known up front: the kept ones are chosen before the forward pass, class-balanced
        # with labels (the benchmark's probe rule), and only they are run through the model
        x_all, y_all = whole
        if len(x_all) < MIN_POINTS:
            raise ProfileError(f"data: {len(x_all)} inputs; the measures need at least {MIN_POINTS}")
        n_inputs = len(x_all)
        positions = np.arange(n_inputs, dtype=np.int64)
        if n_inputs > size:
            positions = (
                probe_positions(y_all, size, seed)
                if y_all is not None
                else np.sort(np.random.default_rng([seed, 29]).choice(n_inputs, size, replace=False))
            )
            x_all, y_all = x_all[torch.as_tensor(positions)], None if y_all is None else y_all[positions]
        batches = _tensor_batches(x_all, y_all, batch_size)
        capacity = len(positions)
    else:
        if labels is not None:
            raise ProfileError("labels: a loader brings its own labels as the second element of each batch")
        batches, capacity = _loader_batches(data), size
    stream = whole is None
    reservoir = _Reservoir(capacity, seed)  # keeps every input of data given whole: they fit
    buffers: dict[tuple[str, str], np.ndarray] = {}
    kept_inputs: np.ndarray | None = None
    kept_labels: np.ndarray | None = None
    have_labels: bool | None = None
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.inference_mode(), capture(model, [s.name for s in specs if s.name != "input"]) as captured:
            for b, (xb, yb) in enumerate(batches):
                if have_labels is None:
                    have_labels = yb is not None
                elif have_labels != (yb is not None):
                    raise ProfileError(
                        f"data: batch {b} {'has' if yb is not None else 'lacks'} labels, unlike the first"
                    )
                if len(xb) == 0:
                    continue
                rows, slots = reservoir.slots(len(xb))
                if not len(rows):
                    continue
                captured.clear()
                model(xb.to(dev))
                if layers is None and not buffers:  # the default choice keeps the modules the forward pass called
                    uncalled = [s.name for s in specs if s.name != "input" and s.name not in captured]
                    if uncalled:
                        specs = [s for s in specs if s.name not in uncalled]
                        chosen += f"; not called in the forward pass, so left out: {', '.join(uncalled)}"
                x_np = xb.cpu().numpy()
                if kept_inputs is None:
                    kept_inputs = np.zeros((capacity, *x_np.shape[1:]), dtype=x_np.dtype)
                kept_inputs[slots] = x_np[rows]
                if yb is not None:
                    if kept_labels is None:
                        kept_labels = np.zeros(capacity, dtype=yb.dtype)
                    kept_labels[slots] = yb[rows]
                for spec in specs:
                    try:
                        pooled = pooled_outputs(spec, xb, captured, is_text=is_text, pad_id=pad_id)
                    except LayerError as exc:
                        raise ProfileError(str(exc)) from None
                    for kind, arr in pooled.items():
                        if not torch.isfinite(arr).all():
                            raise ProfileError(
                                f"layer {spec.name!r} ({kind}), batch {b}: non-finite activations (NaN "
                                "or inf); check the model and the inputs of that batch"
                            )
                        key = (spec.name, kind)
                        if key not in buffers:
                            buffers[key] = np.zeros((capacity, arr.shape[1]), dtype=np.float32)
                        buffers[key][slots] = arr.numpy()[rows]
    finally:
        for module, training in modes.items():
            module.train(training)
    if have_labels is None:
        raise ProfileError("data: no batch came from the data; check the loader")
    n_kept = min(reservoir.seen, capacity)
    if n_kept < MIN_POINTS:
        raise ProfileError(f"data: {n_kept} inputs; the measures need at least {MIN_POINTS}")
    order = reservoir.order()  # indices into the buffers, in the inputs' order
    if stream:
        n_inputs, positions = reservoir.seen, reservoir.positions[:n_kept][order]
    y = None if kept_labels is None else kept_labels[:n_kept][order]
    if probe_size is None:
        # PHdim is read through calibration tables built for a few pool sizes: by default the kept
        # inputs are cut to the largest of them that they fill (class-balanced with labels), so
        # that the profile's PHdim has a calibrated value and interval
        cut = _calibrated_size(n_kept, cfg)
        if cut < n_kept:
            sub = (
                probe_positions(y, cut, seed)
                if y is not None
                else np.sort(np.random.default_rng([seed, 31]).choice(n_kept, cut, replace=False))
            )
            order, positions, y = order[sub], positions[sub], None if y is None else y[sub]
            n_kept = cut
    assert kept_inputs is not None  # at least one batch was kept (checked above)
    identity = len(order) == len(kept_inputs) and bool(np.all(order == np.arange(len(order))))
    if not identity:  # one layer at a time, so that at most one extra layer is held
        for key in list(buffers):
            buffers[key] = buffers[key][order]
        kept_inputs = kept_inputs[order]
    acts = buffers
    inputs_hash = hashlib.sha256(np.ascontiguousarray(kept_inputs).tobytes()).hexdigest()
    del kept_inputs
    asked, skipped = _measures_asked(measures, y is not None, cfg)
    measurements, diagrams = [], {}
    depth_of = {s.name: s for s in specs}
    keys = sorted(acts, key=lambda k: (depth_of[k[0]].depth, pooling_rank(k[1])))
    show = _interactive() if progress is None else progress
    for key in track(keys, description="measuring layers", transient=True) if show else keys:
        lname, pooling = key
        result, dgms = measure_layer(
            acts[key], y if y is not None else np.zeros(n_kept, dtype=np.int64), cfg, lname, measures=asked
        )
        spec = depth_of[lname]
        measurements.append(
            Layer.model_validate(
                {
                    "name": lname,
                    "pooling": pooling,
                    "depth": spec.depth,
                    "role": spec.role,
                    "epoch": 0,
                    "measures": result,
                }
            )
        )
        diagrams.update({f"{lname}__{pooling}__e0__h{d}": v for d, v in enumerate(dgms)})
    return Profile(
        model=name,
        layers=specs,
        chosen=chosen,
        measurements=measurements,
        activations=acts,
        labels=y,
        positions=positions,
        n_inputs=n_inputs,
        inputs_hash=inputs_hash,
        protocol=cfg,
        skipped=skipped,
        device=str(dev),
        diagrams=diagrams,
    )

"""Profile any torch model on your own data: per-layer topology in a notebook, three lines.

    >>> prof = reptopo.profile(model, loader)          # doctest: +SKIP
    >>> prof.to_pandas()                               # doctest: +SKIP
    >>> prof.plot()                                    # doctest: +SKIP

The activations are captured with forward hooks (removed on exit, error or not), pooled by the
protocol's own rules (:mod:`reptopo.pipeline.probe`), kept as float32 for the layers asked for only, each
subsampled to the probe size as it arrives, and measured with the protocol's measures and
parameters (:func:`reptopo.protocol.measure_layer`): the numbers are those the benchmark would
record for the same model and inputs. The model is never modified: its train/eval modes are
restored and nothing is moved between devices.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ProfileError
from ..measures import products_on
from ..measures.results import CALIBRATED_CEILINGS
from ..protocol import CURRENT_VERSION, MIN_POINTS, ProtocolConfig, measure_layer, protocol
from ..record import Layer, pooling_rank
from ..registry import LayerSpec
from .inputs import Kept, keep_activations, plan_inputs
from .layers import default_layers, given_layers, measures_asked
from .result import Profile


def _calibrated_size(n: int, cfg: ProtocolConfig) -> int:
    """How many of ``n`` inputs to keep so that PHdim's pool (``min(phdim_pool, n)``) has a
    calibration table: the largest table's pool that ``n`` fills; ``n`` itself when the protocol
    does not calibrate, when the pool is the protocol's own, or when no table is that small."""
    from ..measures import calibrated_pools

    if cfg.phdim_ceiling not in CALIBRATED_CEILINGS or n >= cfg.phdim_pool:
        return n
    fits = [p for p in calibrated_pools(cfg.phdim_repeats, cfg.phdim_alpha) if p <= n]
    return max(fits) if fits else n


def _larger_pool(n: int, cfg: ProtocolConfig) -> ProtocolConfig:
    """The protocol with PHdim's pool raised to the largest calibrated pool that ``n`` kept
    inputs fill, where that is above the protocol's own (a foundation model profiled on 10,000
    inputs is measured on a pool of 10,000, whose resolution reaches higher dimensions); the
    protocol itself otherwise."""
    from ..measures import calibrated_pools

    if cfg.phdim_ceiling not in CALIBRATED_CEILINGS or n <= cfg.phdim_pool:
        return cfg
    larger = [p for p in calibrated_pools(cfg.phdim_repeats, cfg.phdim_alpha) if cfg.phdim_pool < p <= n]
    return cfg.model_copy(update={"phdim_pool": max(larger)}) if larger else cfg


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


@dataclass
class _Model:
    module: nn.Module
    name: str
    pad_id: int
    is_text: bool
    data: Any


def _resolve_model(model: nn.Module | str, data: Any) -> _Model:
    """The module to profile and how its inputs read: a named ``hf:``/``timm:`` model is loaded
    (a list of strings tokenised by its tokenizer); anything else must be an ``nn.Module``."""
    if isinstance(model, str):
        from ..pipeline.models import load_named

        named = load_named(model)
        is_text = named.tokenizer is not None
        if is_text and isinstance(data, (list, tuple)) and data and all(isinstance(t, str) for t in data):
            data = named.tokenizer(list(data), padding=True, truncation=True, max_length=128, return_tensors="pt")[
                "input_ids"
            ]
        return _Model(named.module, named.name, named.pad_id, is_text, data)
    if not isinstance(model, nn.Module):
        raise ProfileError(f"model: a {type(model).__name__}; expected a torch.nn.Module, 'hf:ORG/NAME' or 'timm:NAME'")
    if isinstance(data, (list, tuple)) and data and all(isinstance(t, str) for t in data):
        raise ProfileError(
            "data: a list of strings needs a model given as 'hf:ORG/NAME' (its tokenizer); for a module, pass token ids"
        )
    return _Model(model, type(model).__name__, 0, False, data)


def _cut_to_calibrated(kept: Kept, cfg: ProtocolConfig, seed: int) -> None:
    """PHdim is read through calibration tables built for a few pool sizes: by default the kept
    inputs are cut to the largest of them that they fill (class-balanced with labels), so that
    the profile's PHdim has a calibrated value and interval."""
    from ..pipeline.tasks import probe_positions

    cut = _calibrated_size(kept.n_kept, cfg)
    if cut >= kept.n_kept:
        return
    sub = (
        probe_positions(kept.labels, cut, seed)
        if kept.labels is not None
        else np.sort(np.random.default_rng([seed, 31]).choice(kept.n_kept, cut, replace=False))
    )
    kept.order, kept.positions = kept.order[sub], kept.positions[sub]
    kept.labels = None if kept.labels is None else kept.labels[sub]
    kept.n_kept = cut


def _measure_layers(
    acts: dict[tuple[str, str], np.ndarray],
    specs: list[LayerSpec],
    y: np.ndarray | None,
    cfg: ProtocolConfig,
    asked: tuple[str, ...],
    show: bool,
) -> tuple[list[Layer], dict[str, np.ndarray]]:
    """Each (layer, pooling) measured by the protocol, in depth order: the record's layers and
    the persistence diagrams keyed as in a result store."""
    from rich.progress import track

    measurements, diagrams = [], {}
    depth_of = {s.name: s for s in specs}
    keys = sorted(acts, key=lambda k: (depth_of[k[0]].depth, pooling_rank(k[1])))
    n = len(next(iter(acts.values())))
    for key in track(keys, description="measuring layers", transient=True) if show else keys:
        lname, pooling = key
        labels = y if y is not None else np.zeros(n, dtype=np.int64)
        result, dgms = measure_layer(acts[key], labels, cfg, lname, measures=asked)
        spec = depth_of[lname]
        layer = {"name": lname, "pooling": pooling, "depth": spec.depth, "role": spec.role, "epoch": 0}
        measurements.append(Layer.model_validate({**layer, "measures": result}))
        diagrams.update({f"{lname}__{pooling}__e0__h{d}": v for d, v in enumerate(dgms)})
    return measurements, diagrams


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
        seeded uniform sample as they arrive; None: the protocol's probe size. Above the
        protocol's PHdim pool, PHdim is measured on the largest calibrated pool the inputs fill
        (5,000 or 10,000 points: ``prof.protocol.phdim_pool`` says which); such a profile is not
        the protocol's own measurement, and ``to_record`` refuses it.
    protocol_version : int, default=CURRENT_VERSION
        The protocol whose measures and parameters are used.
    measures : iterable of str, default=None
        A subset of the protocol's measures (``ProtocolConfig.measure_names()``; also an alias such
        as ``"linear_probe"`` or ``"betti"``); None: all.
    device : str, default="cpu"
        Where the inputs are sent; the model must already be there. On a CUDA device the
        measures' distance products run there too (:func:`reptopo.measures.products_on`); the
        rest of each measure, and its numbers within the measurement tolerances, stay the CPU's.
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
    cfg = protocol(protocol_version)
    size = cfg.probe_size if probe_size is None else int(probe_size)
    if size < MIN_POINTS:
        raise ProfileError(f"probe_size: {size}; the measures need at least {MIN_POINTS} inputs")
    seed = cfg.probe_seed if seed is None else seed
    measures = None if measures is None else tuple(measures)
    measures_asked(measures, True, cfg)  # an unknown measure is named before any forward pass
    resolved = _resolve_model(model, data)
    dev = _model_device(resolved.module, device)
    specs, chosen = (
        default_layers(resolved.module) if layers is None else (given_layers(resolved.module, layers), "given")
    )
    if not specs:
        raise ProfileError("layers: the model has no layer to profile; name them with layers=[...]")
    plan = plan_inputs(resolved.data, labels, size, seed, batch_size)
    kept = keep_activations(
        resolved.module,
        specs,
        plan,
        dev,
        drop_uncalled=layers is None,
        is_text=resolved.is_text,
        pad_id=resolved.pad_id,
    )
    if kept.dropped:
        specs = [s for s in specs if s.name not in kept.dropped]
        chosen += f"; not called in the forward pass, so left out: {', '.join(kept.dropped)}"
    if probe_size is None:
        _cut_to_calibrated(kept, cfg, seed)
    else:
        cfg = _larger_pool(kept.n_kept, cfg)
    acts, inputs_hash = kept.in_input_order()
    asked, skipped = measures_asked(measures, kept.labels is not None, cfg)
    show = _interactive() if progress is None else progress
    with products_on(str(dev) if dev.type == "cuda" else None):
        measurements, diagrams = _measure_layers(acts, specs, kept.labels, cfg, asked, show)
    return Profile(
        model=resolved.name,
        layers=specs,
        chosen=chosen,
        measurements=measurements,
        activations=acts,
        labels=kept.labels,
        positions=kept.positions,
        n_inputs=kept.n_inputs,
        inputs_hash=inputs_hash,
        protocol=cfg,
        skipped=skipped,
        device=str(dev),
        diagrams=diagrams,
    )

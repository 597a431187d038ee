"""The profiled inputs: tensors, arrays or a loader, streamed in batches; the kept inputs chosen
(class-balanced up front, or a reservoir sample as they arrive); the forward passes that keep
their pooled activations."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import LayerError, ProfileError
from ..pipeline.probe import capture, pooled_outputs
from ..protocol import MIN_POINTS
from ..registry import LayerSpec


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


def tensor_inputs(data: Any, labels: Any) -> tuple[torch.Tensor, np.ndarray | None] | None:
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


def tensor_batches(
    x: torch.Tensor, y: np.ndarray | None, batch_size: int
) -> Iterator[tuple[torch.Tensor, np.ndarray | None]]:
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size], None if y is None else y[start : start + batch_size]


def loader_batches(data: Any) -> Iterator[tuple[torch.Tensor, np.ndarray | None]]:
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


class Reservoir:
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


@dataclass
class InputPlan:
    """How the inputs arrive: batches, how many are kept (``capacity``), and for data given
    whole, which of its inputs those are (``positions``, chosen before the forward pass)."""

    batches: Iterator[tuple[torch.Tensor, np.ndarray | None]]
    capacity: int
    seed: int
    positions: np.ndarray | None = None
    n_inputs: int | None = None


def plan_inputs(data: Any, labels: Any, size: int, seed: int, batch_size: int) -> InputPlan:
    """Data given whole (a tensor, an array, (inputs, labels)): the kept inputs are chosen up
    front, class-balanced with labels (the benchmark's probe rule), and only they are run through
    the model. A loader: a seeded uniform sample of ``size`` is kept as its batches arrive."""
    from ..pipeline.tasks import probe_positions

    whole = tensor_inputs(data, labels)
    if whole is None:
        if labels is not None:
            raise ProfileError("labels: a loader brings its own labels as the second element of each batch")
        return InputPlan(loader_batches(data), size, seed)
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
    return InputPlan(tensor_batches(x_all, y_all, batch_size), len(positions), seed, positions, n_inputs)


@dataclass
class Kept:
    """The kept inputs' activations per (layer, pooling), in the order they were kept (``order``
    puts them in the inputs' order; the buffers have a row per slot, kept or not), with each
    kept input's sha256 (``digests``, 32 bytes per slot: the inputs themselves are not held,
    which at 10,000 images of 224 x 224 would be 6 GB), their labels and positions."""

    buffers: dict[tuple[str, str], np.ndarray]
    digests: np.ndarray
    input_shape: str
    labels: np.ndarray | None
    order: np.ndarray
    positions: np.ndarray
    n_inputs: int
    n_kept: int
    dropped: list[str]

    def in_input_order(self) -> tuple[dict[tuple[str, str], np.ndarray], str]:
        """(the activations in the inputs' order, sha256 of the kept inputs' shape and dtype and
        of their own sha256s in that order); one layer reordered at a time, so that at most one
        extra layer is held."""
        identity = len(self.order) == len(self.digests) and bool(np.all(self.order == np.arange(len(self.order))))
        if not identity:
            for key in list(self.buffers):
                self.buffers[key] = self.buffers[key][self.order]
            self.digests = self.digests[self.order]
        digest = hashlib.sha256(self.input_shape.encode() + np.ascontiguousarray(self.digests).tobytes())
        return self.buffers, digest.hexdigest()


class _Keeper:
    """Fills the kept inputs' rows batch by batch (a reservoir sample when streaming)."""

    def __init__(self, plan: InputPlan):
        self.capacity = plan.capacity
        self.reservoir = Reservoir(plan.capacity, plan.seed)  # keeps every input of data given whole
        self.buffers: dict[tuple[str, str], np.ndarray] = {}
        self.digests: np.ndarray | None = None
        self.input_shape = ""
        self.labels: np.ndarray | None = None
        self.have_labels: bool | None = None

    def keep_batch(
        self,
        b: int,
        xb: torch.Tensor,
        yb: np.ndarray | None,
        rows: np.ndarray,
        slots: np.ndarray,
        pooled_of: Callable[[], Iterator[tuple[tuple[str, str], torch.Tensor]]],
    ) -> None:
        """Batch ``b``'s ``rows`` into the kept ``slots``: its inputs, labels and each layer's
        pooled activations (``pooled_of()``), refused when not finite."""
        x_np = xb.cpu().numpy()
        if self.digests is None:
            self.digests = np.zeros((self.capacity, 32), dtype=np.uint8)
            self.input_shape = f"{x_np.dtype.str}{x_np.shape[1:]}"
        for slot, row in zip(slots, rows, strict=True):
            self.digests[slot] = np.frombuffer(hashlib.sha256(np.ascontiguousarray(x_np[row]).data).digest(), np.uint8)
        if yb is not None:
            if self.labels is None:
                self.labels = np.zeros(self.capacity, dtype=yb.dtype)
            self.labels[slots] = yb[rows]
        for key, arr in pooled_of():
            if not torch.isfinite(arr).all():
                raise ProfileError(
                    f"layer {key[0]!r} ({key[1]}), batch {b}: non-finite activations (NaN "
                    "or inf); check the model and the inputs of that batch"
                )
            if key not in self.buffers:
                self.buffers[key] = np.zeros((self.capacity, arr.shape[1]), dtype=np.float32)
            self.buffers[key][slots] = arr.numpy()[rows]


def keep_activations(
    model: nn.Module,
    specs: list[LayerSpec],
    plan: InputPlan,
    dev: torch.device,
    *,
    drop_uncalled: bool,
    is_text: bool,
    pad_id: int,
) -> Kept:
    """The forward passes, with hooks on the layers (removed on exit) and the model's modes
    restored: each kept input's pooled activations. ``drop_uncalled``: layers of the default
    choice that the first forward pass never called are left out (named in ``Kept.dropped``)."""
    keeper, dropped = _Keeper(plan), []
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.inference_mode(), capture(model, [s.name for s in specs if s.name != "input"]) as captured:
            for b, (xb, yb) in enumerate(plan.batches):
                if keeper.have_labels is None:
                    keeper.have_labels = yb is not None
                elif keeper.have_labels != (yb is not None):
                    raise ProfileError(
                        f"data: batch {b} {'has' if yb is not None else 'lacks'} labels, unlike the first"
                    )
                if len(xb) == 0:
                    continue
                rows, slots = keeper.reservoir.slots(len(xb))
                if not len(rows):
                    continue
                captured.clear()
                model(xb.to(dev))
                if drop_uncalled and not keeper.buffers:
                    dropped = [s.name for s in specs if s.name != "input" and s.name not in captured]
                    specs = [s for s in specs if s.name not in dropped]

                def pooled_of(
                    xb: torch.Tensor = xb, specs: list[LayerSpec] = specs
                ) -> Iterator[tuple[tuple[str, str], torch.Tensor]]:
                    for spec in specs:
                        try:
                            pooled = pooled_outputs(spec, xb, captured, is_text=is_text, pad_id=pad_id)
                        except LayerError as exc:
                            raise ProfileError(str(exc)) from None
                        for kind, arr in pooled.items():
                            yield (spec.name, kind), arr

                keeper.keep_batch(b, xb, yb, rows, slots, pooled_of)
    finally:
        for module, training in modes.items():
            module.train(training)
    return _kept(keeper, plan, dropped)


def _kept(keeper: _Keeper, plan: InputPlan, dropped: list[str]) -> Kept:
    if keeper.have_labels is None:
        raise ProfileError("data: no batch came from the data; check the loader")
    reservoir = keeper.reservoir
    n_kept = min(reservoir.seen, plan.capacity)
    if n_kept < MIN_POINTS:
        raise ProfileError(f"data: {n_kept} inputs; the measures need at least {MIN_POINTS}")
    assert keeper.digests is not None  # at least one batch was kept (checked above)
    order = reservoir.order()  # indices into the buffers, in the inputs' order
    if plan.positions is None:  # streamed: the positions the reservoir kept
        n_inputs, positions = reservoir.seen, reservoir.positions[:n_kept][order]
    else:
        n_inputs, positions = plan.n_inputs or len(plan.positions), plan.positions
    labels = None if keeper.labels is None else keeper.labels[:n_kept][order]
    return Kept(keeper.buffers, keeper.digests, keeper.input_shape, labels, order, positions, n_inputs, n_kept, dropped)

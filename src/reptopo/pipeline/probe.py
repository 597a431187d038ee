"""Per-layer activations on the probe set, through forward hooks, streamed to disk per layer.

Pooling, recorded with every result:
- vector (N, C): as is ('raw').
- conv2d (N, C, H, W) and conv1d (N, C, L): flattened ('flat') and globally average-pooled ('gap').
- tokens (N, L, C): mean over real tokens ('mean'; padding id 0 masked) and the first token ('cls').
- the input layer: the flattened input ('flat'); text tasks have no input layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import LayerError
from ..limits import MAX_LAYER_BYTES, human
from ..registry import LayerSpec

POOLINGS = {"vector": ("raw",), "conv2d": ("flat", "gap"), "conv1d": ("flat", "gap"), "tokens": ("mean", "cls")}


def output_tensor(out, layer: str) -> torch.Tensor:
    """The tensor a module's output holds (itself, a tuple's first, a transformers output's last
    hidden state); LayerError naming the layer otherwise."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    if hasattr(out, "last_hidden_state"):
        return out.last_hidden_state
    raise LayerError(f"layer {layer!r}: output of type {type(out).__name__} is not a tensor")


def layout_of(spec: LayerSpec, t: torch.Tensor) -> str:
    if spec.layout:
        return spec.layout
    if t.dim() == 2:
        return "vector"
    if t.dim() == 4:
        return "conv2d"
    raise LayerError(f"layer {spec.name!r}: a {t.dim()}-D output needs 'layout' (conv1d or tokens) in its entry")


def pool(t: torch.Tensor, layout: str, mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
    t = t.detach().float().cpu()
    mask = mask.cpu() if mask is not None else None
    if layout == "vector":
        return {"raw": t.reshape(len(t), -1)}
    if layout in ("conv2d", "conv1d"):
        return {"flat": t.reshape(len(t), -1), "gap": t.reshape(t.shape[0], t.shape[1], -1).mean(-1)}
    if layout == "tokens":
        m = (mask if mask is not None and mask.shape == t.shape[:2] else torch.ones(t.shape[:2])).unsqueeze(-1).float()
        return {"mean": (t * m).sum(1) / m.sum(1).clamp(min=1), "cls": t[:, 0]}
    raise LayerError(f"unknown layout {layout!r}")


@contextmanager
def capture(model: nn.Module, names: Iterable[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Forward hooks on the modules ``names`` of ``model``: inside the block, each forward pass
    fills the yielded dict with every named module's output tensor (its last call's). The hooks
    are removed on exit, error or not.

    Raises ``LayerError`` naming a module the model does not have."""
    modules = dict(model.named_modules())
    captured: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name in names:
            if name not in modules:
                raise LayerError(f"layer {name!r}: the model has no module of that name")
            handles.append(
                modules[name].register_forward_hook(
                    lambda _m, _i, o, name=name: captured.__setitem__(name, output_tensor(o, name))
                )
            )
        yield captured
    finally:
        for h in handles:
            h.remove()


def pooled_outputs(
    spec: LayerSpec, xb: torch.Tensor, captured: dict[str, torch.Tensor], *, is_text: bool, pad_id: int = 0
) -> dict[str, torch.Tensor]:
    """One batch's activations of the layer ``spec``, by pooling, from the hooks' ``captured``
    outputs (or the batch ``xb`` itself for the input layer); text padding is ``pad_id``."""
    if spec.name == "input":
        if is_text:
            raise LayerError("layer 'input': text tasks have no input geometry; declare the embedding layer")
        return {"flat": xb.reshape(len(xb), -1).float().cpu()}
    if spec.name not in captured:
        raise LayerError(f"layer {spec.name!r}: the module was not called in the forward pass")
    t = captured[spec.name]
    pooled = pool(t, layout_of(spec, t), (xb != pad_id) if is_text else None)
    if spec.poolings:
        unknown = set(spec.poolings) - set(pooled)
        if unknown:
            raise LayerError(
                f"layer {spec.name!r}: poolings {sorted(unknown)} do not apply to a {layout_of(spec, t)} output"
            )
        pooled = {k: v for k, v in pooled.items() if k in spec.poolings}
    return pooled


@torch.no_grad()
def extract(
    model: nn.Module,
    x: torch.Tensor,
    layers: list[LayerSpec],
    out_dir: Path,
    *,
    is_text: bool,
    batch_size: int = 128,
) -> dict[tuple[str, str], Path]:
    """Write each (layer, pooling) activation matrix of the probe inputs ``x`` to ``out_dir``
    as float32 .npy, filled batch by batch (memory-mapped), and return their paths. A layer
    larger than :data:`reptopo.limits.MAX_LAYER_BYTES` on the probe set is refused (LayerError)
    on the first batch, before its file is made."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    files: dict[tuple[str, str], np.memmap] = {}
    paths: dict[tuple[str, str], Path] = {}
    try:
        with capture(model, [s.name for s in layers if s.name != "input"]) as captured:
            for start in range(0, len(x), batch_size):
                xb = x[start : start + batch_size]
                captured.clear()
                model(xb)
                for spec in layers:
                    for kind, arr in pooled_outputs(spec, xb, captured, is_text=is_text).items():
                        key = (spec.name, kind)
                        if key not in files:
                            if (size := 4 * len(x) * arr.shape[1]) > MAX_LAYER_BYTES:
                                raise LayerError(
                                    f"layer {spec.name!r} ({kind}): {arr.shape[1]:,} features on {len(x)} inputs "
                                    f"take {human(size)}; a layer takes at most {human(MAX_LAYER_BYTES)}"
                                )
                            paths[key] = out_dir / f"{spec.name.replace('.', '_')}__{kind}.npy"
                            files[key] = np.lib.format.open_memmap(
                                paths[key], mode="w+", dtype=np.float32, shape=(len(x), arr.shape[1])
                            )
                        files[key][start : start + len(xb)] = arr.numpy()
    finally:
        for f in files.values():
            f.flush()
        files.clear()
    return paths


@torch.no_grad()
def token_cloud(model: nn.Module, ids: torch.Tensor, layer: str) -> np.ndarray:
    """The per-token cloud of one text at ``layer`` (real tokens only, special tokens included),
    as Tulchinskii et al. 2023 measure it."""
    module = dict(model.named_modules())[layer]
    box: dict[str, torch.Tensor] = {}
    h = module.register_forward_hook(lambda _m, _i, o: box.__setitem__("t", output_tensor(o, layer)))
    try:
        model.eval()
        model(ids[None])
    finally:
        h.remove()
    t = box["t"][0]
    if t.dim() != 2:
        raise LayerError(f"layer {layer!r}: expected a (tokens, features) output, got shape {tuple(box['t'].shape)}")
    return t[: int((ids != 0).sum())].float().cpu().numpy()

"""Per-layer activations on the probe set, through forward hooks, streamed to disk per layer.

Pooling, recorded with every result:
- vector (N, C): as is ('raw').
- conv2d (N, C, H, W) and conv1d (N, C, L): flattened ('flat') and globally average-pooled ('gap').
- channels_last (N, H, W, C), as Swin's stages give it: flattened ('flat') and averaged over the
  positions ('gap').
- tokens (N, L, C): mean over real tokens ('mean'; the padding id masked: 0, or the model's
  ``pad_id``) and the first token ('cls'); a decoder's last real token ('last') where its entry
  asks for it (text is padded on the right).
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

# each layout's poolings, the defaults first: a layer whose entry names no poolings gets the defaults
POOLINGS = {
    "vector": ("raw",),
    "conv2d": ("flat", "gap"),
    "conv1d": ("flat", "gap"),
    "channels_last": ("flat", "gap"),
    "tokens": ("mean", "cls", "last"),
}
DEFAULT_POOLINGS = {**POOLINGS, "tokens": ("mean", "cls")}


def pad_id_of(model: nn.Module) -> int:
    """The padding id of a text model's inputs: its ``pad_id`` (a model with its own tokenizer), else 0."""
    pad = getattr(model, "pad_id", 0)
    return pad if isinstance(pad, int) else 0


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
    raise LayerError(
        f"layer {spec.name!r}: a {t.dim()}-D output needs 'layout' (conv1d, channels_last or tokens) in its entry"
    )


def pooled_width(spec: LayerSpec, shape: tuple[int, ...]) -> int:
    """The features per input that the layer ``spec`` stores, all its poolings together, for one
    output of ``shape`` (without the batch axis): what the probe writes, counted before it is."""
    layout = spec.layout or ("vector" if len(shape) == 1 else "conv2d" if len(shape) == 3 else "")
    if layout not in POOLINGS:
        return int(torch.Size(shape).numel())
    total = int(torch.Size(shape).numel())
    channels = {"conv2d": shape[0], "conv1d": shape[0], "channels_last": shape[-1], "tokens": shape[-1]}.get(layout)
    width = {"raw": total, "flat": total, "gap": channels, "mean": channels, "cls": channels, "last": channels}
    return sum(int(width[p] or total) for p in (spec.poolings or DEFAULT_POOLINGS[layout]))


def token_poolings(t: torch.Tensor, mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """A (N, L, C) token sequence's poolings, on its own device and in its graph (a model's head
    reads them too): the mean over real tokens (``mask``; all tokens when None), the first
    token, and the last real one (text is padded on the right)."""
    m = (torch.ones(t.shape[:2], device=t.device) if mask is None else mask).unsqueeze(-1).to(t.dtype)
    last = (m[:, :, 0].sum(1).long() - 1).clamp(min=0)
    return {
        "mean": (t * m).sum(1) / m.sum(1).clamp(min=1),
        "cls": t[:, 0],
        "last": t[torch.arange(len(t), device=t.device), last],
    }


def pool(t: torch.Tensor, layout: str, mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
    t = t.detach().float().cpu()
    mask = mask.cpu() if mask is not None else None
    if layout == "vector":
        return {"raw": t.reshape(len(t), -1)}
    if layout in ("conv2d", "conv1d"):
        return {"flat": t.reshape(len(t), -1), "gap": t.reshape(t.shape[0], t.shape[1], -1).mean(-1)}
    if layout == "channels_last":
        return {"flat": t.reshape(len(t), -1), "gap": t.reshape(t.shape[0], -1, t.shape[-1]).mean(1)}
    if layout == "tokens":
        return token_poolings(t, mask if mask is not None and mask.shape == t.shape[:2] else None)
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
        return {k: v for k, v in pooled.items() if k in spec.poolings}
    return {k: v for k, v in pooled.items() if k in DEFAULT_POOLINGS[layout_of(spec, t)]}


@torch.no_grad()
def extract(
    model: nn.Module,
    x: torch.Tensor,
    layers: list[LayerSpec],
    out_dir: Path,
    *,
    is_text: bool,
    batch_size: int = 128,
    pad_id: int | None = None,
) -> dict[tuple[str, str], Path]:
    """Write each (layer, pooling) activation matrix of the probe inputs ``x`` to ``out_dir``
    as float32 .npy, filled batch by batch (memory-mapped), and return their paths. A layer
    larger than :data:`reptopo.limits.MAX_LAYER_BYTES` on the probe set is refused (LayerError)
    on the first batch, before its file is made. Text padding is ``pad_id`` (the model's own,
    :func:`pad_id_of`, when not given)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pad = pad_id_of(model) if pad_id is None else pad_id
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
                    for kind, arr in pooled_outputs(spec, xb, captured, is_text=is_text, pad_id=pad).items():
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

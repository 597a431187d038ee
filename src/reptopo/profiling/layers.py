"""Which layers of a model are profiled: the default choice (the model's blocks, found by
walking its modules) or the names given, and which of the protocol's measures run."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from torch import nn

from ..errors import ProfileError
from ..protocol import ProtocolConfig
from ..registry import LayerSpec

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


def given_layers(model: nn.Module, layers: Sequence[str | LayerSpec]) -> list[LayerSpec]:
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


def measures_asked(
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

"""The pretrained zoo: frozen timm and transformers models from the Hugging Face hub.

A zoo entry is a model entry whose builder is ``timm_hub`` (an image model by its timm name) or
``hf_hub`` (a text model by its transformers ``model_type``), with ``pretrained: {source: hub,
path: HUB_ID, parameters: N}``. Running one needs the hub (or its local cache); the ``zoo``
suite runs every one on the probes of its modality.

Without a hub, :func:`reduced_model` builds any zoo entry with random weights at a reduced width
under the same module names (timm with ``pretrained=False`` and narrower keyword arguments,
transformers from a small config of the entry's ``model_type`` with the entry's number of
layers), so that the offline tests check every declared layer exists and fires.
"""

from __future__ import annotations

import re
from typing import Any

from torch import nn

from ..errors import ModelBuildError
from ..registry import ModelEntry, Registry, TaskEntry
from .models import (
    HubTextModel,
    TaskFacts,
    builder_params,
    timm_zoo_net,
    tokenizer,
    zoo_image_model,
)

ZOO_BUILDERS = ("timm_hub", "hf_hub")
# the widths of a reduced build: narrow enough for a test, every layer kept
REDUCED_WIDTH, REDUCED_HEADS = 32, 2


def is_zoo(entry: ModelEntry) -> bool:
    """Whether ``entry`` is a zoo entry (a frozen hub model of a zoo builder)."""
    return entry.builder in ZOO_BUILDERS and entry.pretrained is not None and entry.pretrained.source == "hub"


def zoo_entries(registry: Registry | None = None) -> list[ModelEntry]:
    """The zoo entries of ``registry`` (the shipped one by default), by name."""
    registry = registry or Registry()
    return [registry.models[n] for n in sorted(registry.models) if is_zoo(registry.models[n])]


def reduced_timm_arch(model_name: str) -> tuple[dict[str, Any], int]:
    """(timm keyword arguments, input size) that narrow ``model_name`` while keeping its module
    names: ViTs narrower and on a 2 x 2 grid of patches, ResNets and ConvNeXts with narrow
    stages, Swin narrow on a small image with 2 x 2 windows. Other families (EfficientNet,
    RegNet, MobileNet: at most a few million parameters) are built at full width."""
    arch = model_name.split(".", 1)[0]
    patch = re.search(r"patch(\d+)", arch)
    if arch.startswith("swin"):
        return {"embed_dim": 16, "num_heads": (1, 1, 1, 1), "window_size": 2, "img_size": 64}, 64
    if arch.startswith(("vit", "deit")) and patch:
        side = 2 * int(patch.group(1))
        return {"embed_dim": REDUCED_WIDTH, "num_heads": REDUCED_HEADS, "img_size": side}, side
    if arch.startswith("resnet"):
        return {"channels": (8, 16, 32, 64), "stem_width": 8}, 64
    if arch.startswith("convnext"):
        return {"dims": (8, 16, 32, 64)}, 64
    return {}, 64


def reduced_hf_config(model_type: str, num_layers: int, max_length: int):
    """A small transformers config of ``model_type`` with ``num_layers`` layers, for the MiniLM
    WordPiece vocabulary that the offline tests tokenize with."""
    from transformers import AutoConfig

    positions = max_length + 2  # RoBERTa and MPNet offset positions by the padding id
    small: dict[str, Any] = {
        "hidden_size": REDUCED_WIDTH,
        "num_attention_heads": REDUCED_HEADS,
        "intermediate_size": 2 * REDUCED_WIDTH,
        "num_hidden_layers": num_layers,
        "max_position_embeddings": positions,
    }
    special = {
        "gpt2": {"n_embd": REDUCED_WIDTH, "n_head": REDUCED_HEADS, "n_inner": 2 * REDUCED_WIDTH, "n_layer": num_layers},
        "distilbert": {
            "dim": REDUCED_WIDTH,
            "n_heads": REDUCED_HEADS,
            "hidden_dim": 2 * REDUCED_WIDTH,
            "n_layers": num_layers,
        },
        "llama": {**small, "num_key_value_heads": 1},
        "qwen2": {**small, "num_key_value_heads": 1},
    }
    kwargs = {
        **special.get(model_type, small),
        "vocab_size": 30522,
        "pad_token_id": 0,
        "bos_token_id": 101,
        "eos_token_id": 102,
    }
    if model_type == "gpt2":
        kwargs["n_positions"] = positions
    return AutoConfig.for_model(model_type, **kwargs)


def reduced_model(entry: ModelEntry, task: TaskEntry) -> nn.Module:
    """``entry`` (a zoo entry) for ``task`` with random weights at a reduced width, under the
    module names of the real one; text models read MiniLM's WordPiece ids (no hub needed)."""
    if not is_zoo(entry):
        raise ModelBuildError(f"model {entry.name!r} is not a zoo entry (builder {list(ZOO_BUILDERS)}, hub weights)")
    params = builder_params(entry)
    facts = TaskFacts.of(task)
    if entry.builder == "timm_hub":
        arch, size = reduced_timm_arch(params["model_name"])
        net = timm_zoo_net(params["model_name"], params["hub_id"], weights=False, **arch)
        return zoo_image_model(net, facts, size)
    from transformers import AutoModel

    config = reduced_hf_config(params["model_type"], params["num_layers"], facts.max_length)
    backbone = AutoModel.from_config(config)
    return HubTextModel(backbone, tokenizer(), params["pooling"], facts.num_classes, facts.max_length)

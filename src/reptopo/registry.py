"""Registry entries: declarative YAML files for tasks, models and suites, validated by pydantic.

Every entry carries a version; unknown fields are refused. Errors name the file, the line and
the field (``registry/models/mlp.yaml:12: layers.0.depth: Input should be ...``).

The entries that ship with reptopo live inside the package (``reptopo/entries``, found with
``importlib.resources``; the checkout's ``registry/`` points there). A user's own folders
(``--registry`` or ``$REPTOPO_REGISTRY``, several joined by ``os.pathsep``) are read after them:
an entry of the same kind and name there replaces the shipped one, and every entry keeps the
folder it came from (``Registry.sources``).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import RegistryError, UnknownName
from .limits import (
    MAX_BATCH_SIZE,
    MAX_ENTRY_BYTES,
    MAX_EPOCHS,
    MAX_PARAMETERS,
    MAX_TRAIN_SECONDS,
    MAX_YAML_DEPTH,
    LimitError,
    clip,
    read_text,
    short,
)
from .names import LAYER_NAME, Name, Pooling, Role, nearest

BUILTIN = "builtin"
# who published an entry (publish's --submitter): a handle without '.', so that a published name
# SUBMITTER.NAME can never be a shipped entry's name or another submitter's
SUBMITTER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,38}")
# the control runs a suite may add beside each trained model (the record's status says which)
Control = Literal["random_init", "shuffled_labels"]
CONTROLS: tuple[str, ...] = get_args(Control)


def builtin_registry_root() -> Path:
    """The folder of the entries shipped inside the package."""
    return Path(str(importlib.resources.files("reptopo") / "entries"))


def registry_roots(extra: str | Path | None = None) -> list[Path]:
    """The shipped entries, then ``$REPTOPO_REGISTRY``, then ``extra`` (each may join several
    folders with ``os.pathsep``); a folder named twice is read once, where it first appears."""
    roots = [builtin_registry_root()]
    for spec in (os.environ.get("REPTOPO_REGISTRY"), extra):
        if spec:
            roots += [Path(p) for p in str(spec).split(os.pathsep) if p]
    seen, out = set(), []
    for root in roots:
        key = root.resolve()
        if key not in seen:
            seen.add(key)
            out.append(root)
    return out


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # validators built on first use


class TrainRecipe(Strict):
    """The standard, seeded training recipe; tasks set it, entries and suites override fields."""

    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(0.0, ge=0, le=10)
    epochs: int = Field(5, ge=0, le=MAX_EPOCHS)
    batch_size: int = Field(64, ge=1, le=MAX_BATCH_SIZE)
    schedule: Literal["constant", "cosine"] = "cosine"
    augmentation: bool = False
    max_seconds: float = Field(120.0, gt=0, le=MAX_TRAIN_SECONDS, description="abort training past this wall time")


class SourceSpec(Strict):
    loader: str = Field(description="name of a data loader in reptopo.pipeline.tasks")
    params: dict[str, Any] = {}
    hub_id: str | None = Field(None, description="Hugging Face data set id, for users with a hub")
    local_alternative: str | None = Field(None, description="offline task to use instead of a hub task")


class SplitSpec(Strict):
    train_size: int = Field(ge=1)
    test_size: int = Field(ge=1)
    seed: int = 0
    stratified: bool = True


class ProbeSpec(Strict):
    size: int = Field(1000, ge=10, description="class-balanced, drawn by seed from the test split")
    seed: int = 0


class TaskEntry(Strict):
    kind: Literal["task"]
    name: Name
    version: int = Field(ge=1)
    modality: Literal["vision", "text", "synthetic"]
    description: str
    source: SourceSpec
    splits: SplitSpec
    probe: ProbeSpec = ProbeSpec()
    input_shape: list[int] = Field(description="shape of one example: (C, H, W), (L,) for signals or token ids")
    num_classes: int = Field(
        ge=0,
        description="0: unlabelled (text for decoders): no head is fitted, no accuracy is recorded, and the "
        "measures that need classes are skipped, each saying so",
    )
    training: TrainRecipe = TrainRecipe()
    license: str
    citation: str | None = None
    ground_truth: dict[str, Any] | None = Field(None, description="known Betti numbers / dimension")

    @property
    def labelled(self) -> bool:
        """Whether the task's examples have classes (``num_classes`` > 0)."""
        return self.num_classes > 0


class LayerSpec(Strict):
    name: str = Field(pattern=LAYER_NAME, description="module name in the built model (named_modules), or 'input'")
    depth: float = Field(ge=0, le=1, description="relative depth in [0, 1]")
    role: Role
    layout: Literal["vector", "conv1d", "conv2d", "channels_last", "tokens"] | None = Field(
        None,
        description="how the output is pooled; inferred for 2-D (vector) and 4-D (conv2d) outputs; "
        "channels_last: a (N, H, W, C) map (Swin's stages)",
    )
    poolings: list[Pooling] | None = Field(
        None, description="measure only these poolings of the layer (default: every pooling of its layout)"
    )


class PretrainedSpec(Strict):
    source: Literal["package", "hub", "checkpoint"]
    path: str = Field(description="package resource 'pkg:relative/path', hub id, or local safetensors file")
    mode: Literal["frozen", "finetune"] = "frozen"
    parameters: int | None = Field(
        None,
        ge=1,
        le=MAX_PARAMETERS,
        description="the published model's parameter count (timm's with its ImageNet head, transformers' "
        "AutoModel without one), as the leaderboard lists it; a record counts its own from the weights it ran",
    )


class ModelEntry(Strict):
    kind: Literal["model"]
    name: Name
    version: int = Field(ge=1)
    family: Name
    modality: Literal["vision", "text", "any"]
    description: str
    builder: str = Field(description="a builder in reptopo.pipeline.models, or 'module:function'")
    params: dict[str, Any] = {}
    pretrained: PretrainedSpec | None = None
    layers: list[LayerSpec] = Field(min_length=1)
    training: dict[str, Any] = Field({}, description="overrides of the task's training recipe")
    license: str
    citation: str | None = None
    submitted_by: str | None = Field(
        None,
        pattern=SUBMITTER_PATTERN.pattern,
        description="set by `reptopo publish` (never by a submitter): the entry is a stranger's, stored as data; "
        "its 'module:function' builder runs only under --trust-builder",
    )

    @field_validator("training")
    @classmethod
    def _known_recipe_fields(cls, v):
        unknown = set(v) - set(TrainRecipe.model_fields)
        if unknown:
            raise ValueError(
                f"unknown training field(s) {short(sorted(unknown))}; known: {sorted(TrainRecipe.model_fields)}"
            )
        try:  # the overrides are held to the recipe's own types and ceilings
            TrainRecipe.model_validate(v)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ValueError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        return v

    @model_validator(mode="after")
    def _depths_increase(self):
        depths = [layer.depth for layer in self.layers]
        if depths != sorted(depths):
            raise ValueError("layers must be listed from input to output (relative depths increasing)")
        return self


class GridSpec(Strict):
    models: list[str] = Field(min_length=1)
    tasks: list[str] = Field(min_length=1)
    seeds: list[int] = Field([0], min_length=1)
    axes: dict[Literal["width", "depth", "train_size", "label_noise", "weight_decay", "lr"], list[Any]] = {}
    controls: list[Control] = []
    trained: bool = Field(True, description="false: only the controls of this grid are run")


class SuiteEntry(Strict):
    kind: Literal["suite"]
    name: Name
    version: int = Field(ge=1)
    description: str
    grids: list[GridSpec] = Field(min_length=1)


ENTRY_TYPES = {"task": TaskEntry, "model": ModelEntry, "suite": SuiteEntry}


def _node_line(node, loc: tuple) -> int:
    """Line (1-based) of the YAML node at pydantic location ``loc``, or the deepest found."""
    line = node.start_mark.line + 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if k.value == key]
            if not match:
                break
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


class EntryLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors and aliases (an alias bomb of a few hundred bytes
    expands to gigabytes), nesting at most :data:`MAX_YAML_DEPTH` levels deep."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted in an entry", event.start_mark
            )
        if getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors (&name) are not accepted in an entry", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_entry(path: str | Path):
    """Parse and validate one YAML entry (safe loader, no anchors or aliases, at most
    :data:`MAX_ENTRY_BYTES`). Raises RegistryError."""
    path = Path(path)
    try:
        text = read_text(path, MAX_ENTRY_BYTES, "an entry")
    except LimitError as exc:
        raise RegistryError([str(exc)]) from None
    loader = EntryLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise RegistryError(
            [f"{path}:{line}: not valid YAML: {clip(str(getattr(exc, 'problem', None) or exc))}"]
        ) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise RegistryError([f"{path}:1: an entry is a mapping with a 'kind' field"])
    kind = data.get("kind")
    if kind not in ENTRY_TYPES:
        raise RegistryError(
            [f"{path}:{_node_line(node, ('kind',))}: kind: expected one of {sorted(ENTRY_TYPES)}, got {short(kind)}"]
        )
    try:
        return ENTRY_TYPES[kind].model_validate(data)  # type: ignore[attr-defined]  # each is a pydantic model
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(short(p) if not isinstance(p, (str, int)) else str(p)[:60] for p in loc) or "(entry)"
            problems.append(f"{path}:{_node_line(node, loc)}: {field}: {clip(err['msg'])}")
        raise RegistryError(problems) from None


def entry_hash(entry: BaseModel) -> str:
    """Content hash of an entry's validated fields (key order and YAML formatting do not matter)."""
    blob = json.dumps(entry.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


class Registry:
    """The shipped entries and a user's folders (see the module docstring), by kind and name.

    ``root``: a folder, or several joined by ``os.pathsep``, read after the shipped entries.
    ``spec`` names every folder read, in order, and rebuilds the same registry elsewhere (the
    runner's workers). ``sources[(kind, name)]`` is ``"builtin"`` or the folder of the entry.
    """

    def __init__(self, root: str | Path | None = None):
        self.roots = registry_roots(root)
        self.spec = os.pathsep.join(str(r) for r in self.roots)
        self.tasks: dict[str, TaskEntry] = {}
        self.models: dict[str, ModelEntry] = {}
        self.suites: dict[str, SuiteEntry] = {}
        self.paths: dict[tuple[str, str], Path] = {}
        self.sources: dict[tuple[str, str], str] = {}
        problems: list[str] = []
        for n, folder in enumerate(self.roots):
            if not folder.is_dir():
                problems.append(f"{folder}: no such registry folder")
                continue
            here: dict[tuple[str, str], Path] = {}
            for path in sorted(folder.rglob("*.yaml")):
                try:
                    entry = load_entry(path)
                except RegistryError as exc:
                    problems.extend(exc.problems)
                    continue
                key = (entry.kind, entry.name)
                if key in here:
                    problems.append(f"{path}:1: name: {entry.kind} {entry.name!r} is also defined in {here[key]}")
                here[key] = path
                getattr(self, entry.kind + "s")[entry.name] = entry
                self.paths[key] = path
                self.sources[key] = BUILTIN if n == 0 else str(folder)
        problems.extend(self._cross_references())
        if problems:
            raise RegistryError(problems)

    def _cross_references(self) -> list[str]:
        problems = []
        for suite in self.suites.values():
            path = self.paths[("suite", suite.name)]
            for g, grid in enumerate(suite.grids):
                for kind, names, table in (("models", grid.models, self.models), ("tasks", grid.tasks, self.tasks)):
                    for i, name in enumerate(names):
                        if name not in table:
                            problems.append(f"{path}: grids.{g}.{kind}.{i}: no {kind[:-1]} entry named {name!r}")
                problems += self._unlabelled_problems(f"{path}: grids.{g}", grid)
        return problems

    def _unlabelled_problems(self, where: str, grid: GridSpec) -> list[str]:
        """An unlabelled task measures frozen pretrained models only: nothing can be fitted on it."""
        unlabelled = [t for t in grid.tasks if t in self.tasks and not self.tasks[t].labelled]
        if not unlabelled:
            return []
        problems = []
        for i, name in enumerate(grid.models):
            entry = self.models.get(name)
            if entry is not None and (entry.pretrained is None or entry.pretrained.mode != "frozen"):
                problems.append(
                    f"{where}.models.{i}: {name!r} is not a frozen pretrained model, and task {unlabelled[0]!r} is "
                    "unlabelled (num_classes 0): nothing can be fitted on it; put the task in a grid of its own"
                )
        if "shuffled_labels" in grid.controls:
            problems.append(
                f"{where}.controls: shuffled_labels on unlabelled task {unlabelled[0]!r}: it has no labels to shuffle"
            )
        return problems

    def task(self, name: str) -> TaskEntry:
        if name not in self.tasks:
            raise UnknownName(
                f"no task named {name!r} in {self.spec}; nearest: {', '.join(nearest(name, self.tasks))} "
                f"({len(self.tasks)} tasks: `reptopo list tasks`)"
            )
        return self.tasks[name]

    def model(self, name: str) -> ModelEntry:
        if name not in self.models:
            raise UnknownName(
                f"no model named {name!r} in {self.spec}; nearest: {', '.join(nearest(name, self.models))} "
                f"({len(self.models)} models: `reptopo list models`)"
            )
        return self.models[name]

    def suite(self, name: str) -> SuiteEntry:
        if name not in self.suites:
            raise UnknownName(
                f"no suite named {name!r} in {self.spec}; nearest: {', '.join(nearest(name, self.suites))} "
                f"({len(self.suites)} suites: `reptopo list suites`)"
            )
        return self.suites[name]


def validate_paths(paths) -> list[str]:
    """Every problem of the entries under ``paths`` (files or folders); empty when all are valid.

    A folder is read on top of the shipped entries, so its suites may name shipped models."""
    problems = []
    for p in map(Path, paths):
        if p.is_dir():
            try:
                Registry(p)
            except RegistryError as exc:
                problems.extend(exc.problems)
        else:
            try:
                load_entry(p)
            except RegistryError as exc:
                problems.extend(exc.problems)
            except OSError as exc:
                problems.append(f"{p}: cannot read: {exc.strerror}")
    return problems

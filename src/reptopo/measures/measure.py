"""A measure as one object: its name, its parameters (the protocol's section for it), how it runs,
the record's shape of its result, its columns in the store, its flags in words and the kind of
each leaf of its result. Each is registered by name, as timm registers models.

The measures live one per file in :mod:`reptopo.measures.catalog`, which is read on first use:
adding a measure is adding a file there (a :class:`Measure` subclass decorated with
:func:`register`) and a protocol version that lists it in ``measure_params``. The record's layer
model, the store's columns, a profile's flags and verify's tolerances all read this registry.

This module is light (pydantic and numpy): the record imports it. A measure's file imports its
estimator's libraries (ripser, scikit-learn, numba) inside :meth:`Measure.run` only.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_type_hints

import numpy as np
from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model

# what a leaf of a result is: a score (compared by verify within its tolerance), a parameter or
# bookkeeping (never compared), or a count (compared by the sensitivity rule alone: it moves in steps)
LeafKind = Literal["score", "parameter", "count"]


class Strict(BaseModel):
    """The base of the record's models: unknown fields refused, values frozen."""

    # defer_build: the validators are built on first use, not at import (the record loads fast)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class MeasureError(Strict):
    """A measure that could not answer for this layer; the message names the layer."""

    error: str


class NoParams(Strict):
    """The section of a measure without parameters of its own."""


def model_of(result: type, *, exclude: tuple[str, ...] = (), defaults: bool = True, **types: Any) -> Any:
    """The strict record model of a result dataclass: one definition of its fields (the
    dataclass's, with their types and, unless ``defaults`` is False, their defaults),
    ``exclude``-d fields left out and ``types`` replacing a field's type where the record nests a
    model of its own or names a literal. Typed Any: mypy cannot see a base made at import."""
    hints = get_type_hints(result)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(result):
        if f.name in exclude:
            continue
        default = f.default if defaults and f.default is not dataclasses.MISSING else ...
        fields[f.name] = (types.get(f.name, hints[f.name]), default)
    return create_model(f"{result.__name__}Fields", __base__=Strict, __module__="reptopo.record", **fields)


@dataclass
class Context:
    """What a measure gets besides the cloud: the protocol (for the measures of versions 1-3,
    whose parameters are its top-level fields), the layer it names in its errors, the results of
    the measures that ran before it on this layer, and the persistence diagrams the layer keeps."""

    cfg: Any
    layer: str
    earlier: dict[str, Any] = field(default_factory=dict)
    diagrams: list[np.ndarray] = field(default_factory=list)


class Measure:
    """One measure of a layer's cloud. Subclass it, set the class attributes, implement
    :meth:`run` and :meth:`columns`, and decorate the class with :func:`register`.

    ``leaves`` names the parameters and counts among the result's keys, at any depth (a key not
    named is a score); ``order`` places the measure among the others (the order they run in, and
    the order of the record's fields and of the store's columns)."""

    name: ClassVar[str]
    order: ClassVar[int]
    needs_labels: ClassVar[bool] = False
    aliases: ClassVar[tuple[str, ...]] = ()
    Params: ClassVar[type[BaseModel]] = NoParams
    Result: ClassVar[Any]
    leaves: ClassVar[Mapping[str, LeafKind]] = {}
    column_names: ClassVar[tuple[str, ...]] = ()
    # the store's tables hold this measure's columns (empty) for a layer without it: True for the
    # measures of protocols 1-3, whose tables always had them; a later measure's columns appear
    # where it was measured
    always_tabled: ClassVar[bool] = False

    def params(self, cfg: Any) -> BaseModel:
        """This measure's section of the protocol ``cfg`` (validated when the protocol was made)."""
        return self.Params.model_validate((cfg.measure_params or {})[self.name])

    def in_protocol(self, cfg: Any) -> bool:
        """Whether the protocol ``cfg`` measures this."""
        return self.name in (cfg.measure_params or {})

    def run(self, x: np.ndarray, y: np.ndarray, params: Any, ctx: Context) -> Any:
        """The result for the cloud ``x`` (labels ``y``), JSON-ready and of the shape of ``Result``.

        An estimator that cannot answer raises :class:`reptopo.errors.CloudError` or ``ValueError``
        naming the layer; the layer then records the error in this measure's field."""
        raise NotImplementedError

    def columns(self, value: Any) -> dict[str, Any]:
        """The store's scalar columns of a result (``value`` as the record holds it: a dict, or a
        ``{"error": ...}``, or None when not measured). Default: every column empty."""
        return dict.fromkeys(self.column_names)

    def flags(self, value: Any) -> list[str]:
        """What a reader must know of a result that answered (a range, a bound), in words."""
        return []

    def describe(self, params: Any) -> str:
        """The measure and its parameters in one clause, for the protocol's description."""
        return self.name

    def leaf_kind(self, path: tuple[str, ...]) -> LeafKind:
        """The kind of the leaf at ``path`` (the keys below this measure's field; list indices and
        class names left out): the kind of its deepest named key, parameters first."""
        kinds = [self.leaves[key] for key in path if key in self.leaves]
        if "parameter" in kinds:
            return "parameter"
        return "count" if "count" in kinds else "score"

    def check(self, value: Any) -> Any:
        """``value`` validated against ``Result`` (raises pydantic's ValidationError)."""
        return _adapter(self).validate_python(value)


class TopLevelMeasure(Measure):
    """A measure of protocol versions 1-3: its parameters are the protocol's own top-level fields
    (their digests are published, so they keep their place), it runs in every version, and the
    store's tables always hold its columns."""

    always_tabled = True

    def params(self, cfg: Any) -> Any:
        return cfg

    def in_protocol(self, cfg: Any) -> bool:
        return True


_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def _adapter(measure: Measure) -> TypeAdapter[Any]:
    if measure.name not in _ADAPTERS:
        _ADAPTERS[measure.name] = TypeAdapter(measure.Result | MeasureError)
    return _ADAPTERS[measure.name]


_REGISTRY: dict[str, Measure] = {}


def register(cls: type[Measure]) -> type[Measure]:
    """Register a measure class under its ``name`` (a class decorator)."""
    if not cls.name.isidentifier():
        raise ValueError(f"measure name {cls.name!r}: a Python identifier (it is a record field)")
    if cls.name in _REGISTRY and type(_REGISTRY[cls.name]) is not cls:
        raise ValueError(f"measure {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


_LOADED = False


def _load_catalog() -> None:
    global _LOADED
    if _LOADED:
        return
    from . import catalog

    for info in pkgutil.iter_modules(catalog.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{catalog.__name__}.{info.name}")
    _LOADED = True


def registered() -> tuple[Measure, ...]:
    """Every registered measure, in their ``order``."""
    _load_catalog()
    return tuple(sorted(_REGISTRY.values(), key=lambda m: (m.order, m.name)))


def measure_names() -> tuple[str, ...]:
    return tuple(m.name for m in registered())


def get(name: str) -> Measure:
    """The measure called ``name`` (or one of its aliases); KeyError naming the known ones.
    A dictionary lookup: verify's leaf kinds call it for every leaf of a record."""
    _load_catalog()
    if name in _REGISTRY:
        return _REGISTRY[name]
    for m in _REGISTRY.values():
        if name in m.aliases:
            return m
    raise KeyError(f"no measure {name!r}; known: {', '.join(measure_names())}")


def aliases() -> dict[str, str]:
    """Every alias and the measure it names."""
    return {alias: m.name for m in registered() for alias in m.aliases}

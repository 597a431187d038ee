"""The submission bundle's format and the checks that run before anything in it is used.

A bundle is a folder: ``entry.yaml`` (the model entry), ``record.json`` and
``record.diagrams.npz`` (the protocol's result), ``weights.safetensors`` (the trained
checkpoint), ``environment.json`` (library versions and platform) and ``manifest.json`` (the
sha256 of each of those files). For weights that cannot be shared, the activations themselves can
be submitted instead: ``activations.npz``, one float32 array per measured layer and pooling, named
``LAYER__POOLING`` (rows in the order of the task's probe set), plus ``probe_hash`` (the task's
probe-set hash, as ``reptopo`` computes it), ``train_accuracy`` and ``test_accuracy`` (scalars).

**What verify and publish run.** Nothing a bundle names: :func:`check_manifest` accepts only the
bundle's own plain files, each under its size ceiling (:mod:`reptopo.limits`) and of the hash the
manifest gives (streamed); :func:`check_bundle_entry` only a builder registered in
:mod:`reptopo.pipeline.models` with parameters it takes, within
:data:`reptopo.pipeline.models.PARAM_BOUNDS`, and safetensors weights inside the bundle. A
``module:function`` builder runs only where the maintainer passes ``--trust-builder PACKAGE`` for
exactly its top-level package, and never for ``reptopo``, a package that ships registered
builders, or the standard library. Every model's cost is counted on the meta device before it is
built, for every builder, trusted or not. An activations archive must hold exactly the entry's
layers and poolings, each once, checked from the zip's headers before anything is inflated.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import RegistryError, SubmissionError
from ..limits import (
    MAX_ACTIVATION_FEATURES,
    MAX_ACTIVATIONS_BYTES,
    MAX_DIAGRAMS_BYTES,
    MAX_ENTRY_BYTES,
    MAX_ENVIRONMENT_BYTES,
    MAX_LAYER_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_MANIFEST_FILES,
    MAX_RECORD_BYTES,
    MAX_SEED,
    MAX_WEIGHTS_BYTES,
    Member,
    clip,
    human,
    npz_members,
    read_json,
    sha256_capped,
    short,
)
from ..names import Name
from ..registry import load_entry

BUNDLE_FILES = ("entry.yaml", "record.json", "record.diagrams.npz", "environment.json")
WEIGHTS_FILE = "weights.safetensors"  # the trained checkpoint: what the measurement check measures again
ACTIVATIONS_FILE = "activations.npz"  # a bundle without weights: the layers' activations on the probe set
# each bundle file's size ceiling, checked from its metadata before it is read or hashed; the
# bundle's own diagrams are never inflated (publish stores the diagrams it computed)
FILE_LIMITS = {
    "entry.yaml": MAX_ENTRY_BYTES,
    "record.json": MAX_RECORD_BYTES,
    "record.diagrams.npz": MAX_DIAGRAMS_BYTES,
    "environment.json": MAX_ENVIRONMENT_BYTES,
    "manifest.json": MAX_MANIFEST_BYTES,
    WEIGHTS_FILE: MAX_WEIGHTS_BYTES,
    ACTIVATIONS_FILE: MAX_ACTIVATIONS_BYTES,
}


def _plain_file_inside(bundle: Path, relative: str, where: Path, field: str) -> Path:
    """``bundle/relative``, refused (naming ``where`` and ``field``) unless it is a plain file
    inside the bundle: no absolute path, no '..', no NUL byte, no symbolic link on the way (a
    link could name any file of the maintainer's)."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise SubmissionError(f"{where}: {field}: {short(relative)} is not a usable file name")
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise SubmissionError(
            f"{where}: {field}: {short(relative)} must be a relative path inside the bundle, without '..'"
        )
    here = bundle
    for part in rel.parts:
        here = here / part
        if here.is_symlink():
            raise SubmissionError(f"{here}: a symbolic link; a bundle holds plain files only")
    if not here.resolve().is_relative_to(bundle.resolve()):
        raise SubmissionError(f"{here}: outside the bundle")
    return here


def _file_limit(name: str) -> int:
    """The size ceiling of the bundle file ``name`` (a pretrained checkpoint: the weights')."""
    return FILE_LIMITS.get(name, MAX_WEIGHTS_BYTES)


def check_manifest(bundle: Path) -> dict:
    """The bundle's manifest, after every file it must list is found, plain, inside the bundle,
    under its size ceiling and of the hash the manifest gives (streamed); a
    :class:`SubmissionError` naming the file otherwise. The manifest lists the bundle's own files
    only (and a pretrained ``.safetensors`` checkpoint)."""
    manifest_path = bundle / "manifest.json"
    if manifest_path.is_symlink() or not manifest_path.is_file():
        raise SubmissionError(f"{manifest_path}: missing (or not a plain file)")
    manifest = read_json(manifest_path, MAX_MANIFEST_BYTES, "a manifest", SubmissionError)
    if not isinstance(manifest, dict) or not all(
        isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) for v in manifest.values()
    ):
        raise SubmissionError(f"{manifest_path}: expected an object of file names and sha256 digests")
    if len(manifest) > MAX_MANIFEST_FILES:
        raise SubmissionError(f"{manifest_path}: {len(manifest)} files; a bundle has at most {MAX_MANIFEST_FILES}")
    for name in manifest:
        if name not in FILE_LIMITS and not name.endswith(".safetensors"):
            raise SubmissionError(
                f"{manifest_path}: {short(name)}: not a bundle file (a bundle holds {sorted(FILE_LIMITS)} and "
                "a pretrained .safetensors checkpoint)"
            )
    paths = {name: _plain_file_inside(bundle, name, manifest_path, "file name") for name in manifest}
    extra = tuple(name for name in (ACTIVATIONS_FILE, WEIGHTS_FILE) if (bundle / name).exists() or name in manifest)
    for name in BUNDLE_FILES + extra:
        if name not in manifest:
            raise SubmissionError(f"{manifest_path}: {name}: not listed")
    for name, path in paths.items():
        if not path.is_file():
            raise SubmissionError(f"{path}: missing")
        digest = sha256_capped(path, _file_limit(name), f"the bundle's {name}", SubmissionError)
        if digest != manifest[name]:
            raise SubmissionError(
                f"{path}: sha256 {digest[:16]}... does not match the manifest's {manifest[name][:16]}..."
            )
    return manifest


class BundleEnvironment(BaseModel):
    """``environment.json``: where the submitter ran, and the job (task, seed) the bundle is of."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    versions: dict[str, str | None] = Field(max_length=64)
    platform: str = Field(max_length=500)
    task: Name
    seed: int = Field(ge=0, le=MAX_SEED)
    activations: bool = False


def read_environment(bundle: Path) -> BundleEnvironment:
    """The bundle's ``environment.json``, bounded and validated (one line naming the field otherwise)."""
    path = bundle / "environment.json"
    data = read_json(path, MAX_ENVIRONMENT_BYTES, "environment.json", SubmissionError)
    try:
        return BundleEnvironment.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise SubmissionError(f"{path}: {'.'.join(map(str, err['loc'])) or '(file)'}: {clip(err['msg'])}") from None


def registry_models(registry_spec: str) -> dict[str, Path]:
    """Every model entry the maintainer's registry holds (shipped ones included), by name, with its file."""
    from ..pipeline.jobs import cached_registry

    reg = cached_registry(registry_spec)
    return {name: reg.paths[("model", name)] for name in reg.models}


def check_bundle_entry(
    bundle: Path,
    manifest: dict,
    *,
    trust_builder: str | None = None,
    builds: bool = True,
    registry_spec: str = "",
):
    """The bundle's model entry, refused before anything of it is imported or built unless:
    its name is not one of the registry's entries (unless it is that entry byte for byte), it
    carries no ``submitted_by`` (publish sets it), its builder is registered in
    :mod:`reptopo.pipeline.models` (a 'module:function' builder only where ``trust_builder`` is exactly its
    top-level package: :func:`reptopo.pipeline.models.trust_problem`), its parameters pass the builder's
    checks, and a checkpoint it names is a safetensors file inside the bundle, listed in the
    manifest.

    ``builds=False`` (an activations bundle, whose model is never built): a 'module:function'
    builder is neither imported nor required to be trusted; a registered one's parameters are
    still checked, since a later ``--retrain`` would build it."""
    from ..pipeline.models import BUILDERS, builder_params, param_problems, trust_problem, untrustable_packages

    where = bundle / "entry.yaml"
    if trust_builder is not None and trust_builder in untrustable_packages():
        raise SubmissionError(
            f"--trust-builder {short(trust_builder)}: never trusted (it ships registered builders or is the "
            "standard library; registered builders are named without --trust-builder)"
        )
    try:
        entry = load_entry(where)
    except RegistryError as exc:
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        raise SubmissionError(exc.problems[0] + more) from None
    if entry.kind != "model":
        raise SubmissionError(f"{where}: kind: expected 'model', got {entry.kind!r}")
    if entry.submitted_by is not None:
        raise SubmissionError(f"{where}: submitted_by: set by `reptopo publish`, never by a bundle; remove it")
    taken = registry_models(registry_spec).get(entry.name)
    if taken is not None and taken.read_bytes() != where.read_bytes():
        raise SubmissionError(
            f"{where}: name: {entry.name!r} is the registry's entry {taken}; a submission chooses a name of its own"
        )
    if builds and (why := trust_problem(entry.builder, trust_builder)):
        raise SubmissionError(f"{where}: {why}")
    if not builds and ":" not in entry.builder and entry.builder not in BUILDERS:
        raise SubmissionError(
            f"{where}: builder: {short(entry.builder)} is not a registered builder; known: {sorted(BUILDERS)}"
        )
    problems = param_problems(entry.builder, builder_params(entry))
    if problems:
        raise SubmissionError(
            f"{where}: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    pre = entry.pretrained
    if pre is not None and pre.source == "checkpoint":
        path = _plain_file_inside(bundle, pre.path, where, "pretrained.path")
        if path.suffix != ".safetensors":
            raise SubmissionError(
                f"{where}: pretrained.path: {short(pre.path)} is not a .safetensors file (weights are safetensors only)"
            )
        if pre.path not in manifest:
            raise SubmissionError(f"{where}: pretrained.path: {short(pre.path)} is not listed in the bundle's manifest")
    return entry


def expected_members(entry) -> dict[str, tuple[str, ...]]:
    """The poolings an activations archive may hold for each of ``entry``'s layers: the layer's
    own ``poolings``, else those of its ``layout``, else those of the layouts inferred from a 2-D
    or 4-D output (raw, flat, gap)."""
    from ..pipeline.probe import DEFAULT_POOLINGS as POOLINGS

    out = {}
    for spec in entry.layers:
        if spec.poolings:
            out[spec.name] = tuple(spec.poolings)
        elif spec.layout:
            out[spec.name] = POOLINGS[spec.layout]
        else:
            out[spec.name] = POOLINGS["vector"] + POOLINGS["conv2d"]
    return out


ACTIVATION_SCALARS = ("probe_hash", "train_accuracy", "test_accuracy")


def check_activations_file(path: Path, n_rows: int, entry) -> list[Member]:
    """The members of an activations archive, refused by the zip's and the arrays' headers before
    anything is inflated, naming the member, unless: it holds exactly the three scalars and, for
    each of the entry's layers, one or more of its poolings (:func:`expected_members`), each
    once; every layer is (``n_rows``, d) of floats with d <= :data:`MAX_ACTIVATION_FEATURES` and
    at most :data:`reptopo.limits.MAX_LAYER_BYTES`; and the archive declares at most
    :data:`MAX_ACTIVATIONS_BYTES` inflated."""
    expected = expected_members(entry)
    members = npz_members(
        path,
        max_inflated=MAX_ACTIVATIONS_BYTES,
        max_members=sum(map(len, expected.values())) + len(ACTIVATION_SCALARS),
        what="an activations archive",
        error=SubmissionError,
    )
    seen_layers = set()
    for m in members:
        if m.name in ACTIVATION_SCALARS:
            if m.shape != () or m.inflated > 4096:
                raise SubmissionError(f"{path}: {m.name}: declares shape {short(m.shape)}; expected a scalar")
            continue
        name, _, pooling = m.name.partition("__")
        if name not in expected:
            raise SubmissionError(
                f"{path}: {clip(m.name, 80)}: layer {short(name)} is not declared in the entry's layers"
            )
        if pooling not in expected[name]:
            raise SubmissionError(
                f"{path}: {clip(m.name, 80)}: pooling {short(pooling)} is not one of layer {name!r}'s {list(expected[name])}"
            )
        if m.dtype.kind != "f":
            raise SubmissionError(f"{path}: {m.name}: dtype {m.dtype}; activations are floats")
        if len(m.shape) != 2 or m.shape[0] != n_rows or not 1 <= m.shape[1] <= MAX_ACTIVATION_FEATURES:
            raise SubmissionError(
                f"{path}: {m.name}: declares shape {short(m.shape)}; expected ({n_rows}, d) with 1 <= d <= "
                f"{MAX_ACTIVATION_FEATURES}"
            )
        if 4 * n_rows * m.shape[1] > MAX_LAYER_BYTES:
            raise SubmissionError(
                f"{path}: {m.name}: {human(4 * n_rows * m.shape[1])}; a layer takes at most {human(MAX_LAYER_BYTES)}"
            )
        seen_layers.add(name)
    names = {m.name for m in members}
    for key in ACTIVATION_SCALARS:
        if key not in names:
            raise SubmissionError(f"{path}: {key}: missing (see the activations format in reptopo.submission)")
    for name in expected:
        if name not in seen_layers:
            raise SubmissionError(
                f"{path}: {name}: the entry's layer has no activations (expected {list(expected[name])})"
            )
    return members

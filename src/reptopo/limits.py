"""Every ceiling on what a submitter controls, in one place, and the readers that enforce them
before a byte is parsed.

A bundle, an entry or a record from a stranger is hostile data: its files are sized before they
are read, its JSON and YAML are bounded in depth and refuse YAML's anchors and aliases, its
archives are checked member by member from the zip's own headers before anything is inflated,
its hashes are streamed, and a value quoted in an error message is cut to a short prefix. A
model's size is computed on the meta device before it is built (:mod:`reptopo.pipeline.models`), training
has ceilings (:class:`reptopo.registry.TrainRecipe`), and ``verify`` and ``publish`` run under a
time budget (:class:`Deadline`) that says where it stopped.

Every limit here is a documented constant; the README's "Submitting" section quotes them.
"""

from __future__ import annotations

import hashlib
import json
import reprlib
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ReptopoError

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

# --- files --------------------------------------------------------------------------------
MAX_ENTRY_BYTES = 64 * KiB  # a registry entry (the shipped ones are under 2 KiB)
MAX_MANIFEST_BYTES = 64 * KiB
MAX_ENVIRONMENT_BYTES = 64 * KiB
MAX_RECORD_BYTES = 16 * MiB  # the reference records are under 1 MiB
MAX_DIAGRAMS_BYTES = 256 * MiB  # a diagrams archive, inflated (a store's, and a bundle's on disk)
MAX_MANIFEST_FILES = 8  # the bundle's own files and one pretrained checkpoint
MAX_JSON_DEPTH = 32  # records nest to depth 9
MAX_YAML_DEPTH = 16  # entries nest to depth 4

# --- models -------------------------------------------------------------------------------
# the most parameters a model entry may have (counted on the meta device before it is built):
# the zoo's largest decoders fit; a 7B ViT or a 64-deep MLP of width 4,096 does not
MAX_PARAMETERS = 500_000_000
MAX_WEIGHTS_BYTES = 4 * MAX_PARAMETERS + 64 * MiB  # float32 safetensors and their header
# the most bytes one measured layer may take on the probe set (rows x features x 4, float32), and
# all of a model's layers together (they are written to scratch files, one layer in memory at a time)
MAX_LAYER_BYTES = 2 * GiB
MAX_PROBE_ACTIVATION_BYTES = 32 * GiB
MAX_ACTIVATION_FEATURES = 1 << 20  # columns of one submitted layer
MAX_ACTIVATIONS_BYTES = 4 * GiB  # a submitted activations archive, inflated

# --- training and time --------------------------------------------------------------------
MAX_EPOCHS = 2_000
MAX_TRAIN_SECONDS = 24 * 3600.0
MAX_BATCH_SIZE = 65_536
MAX_SEED = 2**31 - 1
VERIFY_BUDGET_SECONDS = 3600.0  # `verify` and `publish`, measuring and (with --retrain) training

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 6
_short.maxlevel = 3


def short(value: object) -> str:
    """``repr(value)`` cut to a short prefix: an error message never prints a submitter's value whole."""
    return _short.repr(value)


def clip(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` characters, marked where it was cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(exc: BaseException) -> str:
    """An exception's qualified type name ('zlib.error', 'ValueError')."""
    module = type(exc).__module__
    return type(exc).__qualname__ if module == "builtins" else f"{module}.{type(exc).__qualname__}"


class LimitError(ReptopoError, ValueError):
    """A file, archive or value over one of this module's ceilings; names the file and the ceiling."""


class BudgetExceeded(ReptopoError, RuntimeError):
    """A run that reached its time budget; says where it stopped."""


def human(n: float) -> str:
    """A byte count for messages: '64 KiB', '2 GiB'."""
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def check_size(path: Path, limit: int, what: str, error: Callable[[str], Exception] = LimitError) -> int:
    """The size of ``path`` in bytes, from its metadata (nothing is read); ``error`` naming the file
    and the ceiling when it is larger than ``limit``."""
    try:
        size = Path(path).stat().st_size
    except ValueError as exc:  # an embedded NUL byte
        raise error(f"{short(str(path))}: not a usable file name ({exc})") from None
    if size > limit:
        raise error(f"{path}: {human(size)}; {what} is at most {human(limit)}")
    return size


def read_text(path: Path, limit: int, what: str, error: Callable[[str], Exception] = LimitError) -> str:
    """The UTF-8 text of ``path`` after its size was checked against ``limit``."""
    check_size(path, limit, what, error)
    try:
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start})") from None


def depth_of(obj: object, limit: int) -> int:
    """How deeply ``obj`` (parsed JSON) nests, counted without recursion and stopping past ``limit``."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest
            stack.extend((v, d + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def read_json(path: Path, limit: int, what: str, error: Callable[[str], Exception] = LimitError) -> Any:
    """The JSON in ``path``, its size and depth bounded (``error`` naming the file otherwise)."""
    text = read_text(path, limit, what, error)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise error(f"{path}: nested deeper than {MAX_JSON_DEPTH} levels") from None
    if depth_of(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise error(f"{path}: nested deeper than {MAX_JSON_DEPTH} levels")
    return data


def sha256_capped(path: Path, limit: int, what: str, error: Callable[[str], Exception] = LimitError) -> str:
    """The sha256 of ``path``, streamed, after its size was checked against ``limit`` (a sparse
    file of many GiB is refused by its metadata, not read)."""
    check_size(path, limit, what, error)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Member:
    """One member of a checked .npz archive: its name without '.npy', shape, dtype and the
    inflated size its zip header declares."""

    name: str
    shape: tuple[int, ...]
    dtype: Any
    inflated: int


def npz_members(
    path: Path,
    *,
    max_inflated: int,
    max_members: int,
    what: str,
    error: Callable[[str], Exception] = LimitError,
) -> list[Member]:
    """The members of the .npz ``path``, read from the zip's central directory and each member's
    .npy header only (nothing else is inflated). Refused, naming the member: a repeated name, more
    than ``max_members`` members, more than ``max_inflated`` bytes declared in all, an object
    array, a negative or non-integer dimension, or a header whose shape does not account for the
    member's declared size exactly (so that reading it later cannot inflate more than was
    checked here)."""
    import numpy as np
    from numpy.lib import format as npformat

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise error(f"{path}: not an .npz archive ({short(str(exc))})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_members:
            raise error(f"{path}: {len(infos)} members; {what} holds at most {max_members}")
        names = [i.filename for i in infos]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise error(f"{path}: {clip(repeated[0], 80)}: the member appears more than once")
        total = sum(i.file_size for i in infos)
        if total > max_inflated:
            raise error(f"{path}: the members declare {human(total)} inflated; {what} is at most {human(max_inflated)}")
        out = []
        for info in infos:
            key = info.filename.removesuffix(".npy")
            if not info.filename.endswith(".npy"):
                raise error(f"{path}: {clip(info.filename, 80)}: not a .npy member")
            try:
                with archive.open(info) as f:
                    version = npformat.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = npformat.read_array_header_1_0(f)
                    else:
                        shape, _, dtype = npformat.read_array_header_2_0(f)
                    header = f.tell()
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError) as exc:
                raise error(f"{path}: {clip(key, 80)}: not a .npy array ({clip(str(exc), 120)})") from None
            except Exception as exc:  # noqa: BLE001 - zlib.error and friends from a corrupt stream
                raise error(f"{path}: {clip(key, 80)}: unreadable ({_kind(exc)}: {clip(str(exc), 120)})") from None
            if dtype.hasobject:
                raise error(f"{path}: {clip(key, 80)}: an object array; only numbers and strings are read")
            if any((not isinstance(s, int)) or s < 0 for s in shape):
                raise error(f"{path}: {clip(key, 80)}: declares shape {short(shape)}; dimensions must be >= 0")
            nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if header + nbytes != info.file_size:
                raise error(
                    f"{path}: {clip(key, 80)}: its header declares {human(nbytes)} of data, the archive "
                    f"{human(max(info.file_size - header, 0))}"
                )
            out.append(Member(key, tuple(shape), dtype, info.file_size))
    return out


def load_npz_member(path: Path, name: str, error: Callable[[str], Exception] = LimitError) -> Any:
    """One member of an .npz checked by :func:`npz_members`, as an array (nothing is unpickled)."""
    return load_npz_members(path, [name], error)[name]


def load_npz_members(path: Path, names: list[str], error: Callable[[str], Exception] = LimitError) -> dict[str, Any]:
    """Members of an .npz checked by :func:`npz_members`, as arrays (nothing is unpickled)."""
    import numpy as np

    out, name = {}, ""
    try:
        with np.load(path, allow_pickle=False) as z:
            for name in names:
                out[name] = z[name]
    except Exception as exc:  # noqa: BLE001 - a corrupt deflate stream, a short member: one line
        raise error(f"{path}: {clip(name, 80)}: unreadable ({_kind(exc)}: {clip(str(exc), 120)})") from None
    return out


class Deadline:
    """A wall-clock budget of ``seconds`` from now; :meth:`check` raises :class:`BudgetExceeded`
    saying ``where`` it stopped once it is spent. ``None`` seconds: no budget."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.start = time.monotonic()

    @property
    def remaining(self) -> float:
        return float("inf") if self.seconds is None else self.seconds - (time.monotonic() - self.start)

    @property
    def spent(self) -> bool:
        return self.remaining <= 0

    def check(self, where: str) -> None:
        if self.spent:
            raise BudgetExceeded(
                f"stopped {where}: the time budget of {self.seconds:g} s ran out; pass a larger --budget to finish it"
            )

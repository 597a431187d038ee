"""A hostile corpus: variants of an honest submission bundle (``tests/data/honest_bundle``, a small
MLP on digits made by ``reptopo submit``), each as a submitter who wants to forge numbers, take a
name or stop the maintainer's machine would write it, with its manifest re-hashed so that only
the content is hostile.

Every variant runs ``reptopo publish`` (or the command it names) through the CLI in a forked
child under a memory limit (``RLIMIT_DATA``, 3 GiB) and a time limit (30 s, then SIGKILL), so
that an attack that works shows as a killed child, not as a stalled test run. Each must end

- **refused**: exit 2, one line on stderr naming the file or field, nothing written to the store; or
- **stored re-derived**: exit 0 and a published record in which every forged value is gone.

The children fork from a helper process that imported the package but never ran torch (so the
fork is safe), started fresh by the test. ``python tests/hostile.py [--slow]`` prints the table of
the closing note: variant, category, exit code, message, peak memory and time.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
HONEST = HERE / "data" / "honest_bundle"
MEMORY_LIMIT = 3 << 30
TIME_LIMIT = 30.0
SUBMITTER = "mallory"


# --- editing a bundle ---------------------------------------------------------------------


def rehash(bundle: Path, names: list[str] | None = None) -> None:
    """Write the manifest the bundle's author would: the sha256 of each listed (or present) file."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    names = names if names is not None else [n for n in manifest if (bundle / n).is_file()]
    out = {n: hashlib.sha256((bundle / n).read_bytes()).hexdigest() for n in names}
    (bundle / "manifest.json").write_text(json.dumps(out, indent=1))


def edit_record(bundle: Path, change: Callable[[dict], None]) -> None:
    rec = json.loads((bundle / "record.json").read_text())
    change(rec)
    (bundle / "record.json").write_text(json.dumps(rec))
    rehash(bundle)


def edit_entry(bundle: Path, old: str, new: str) -> None:
    text = (bundle / "entry.yaml").read_text()
    assert old in text, (old, text)
    (bundle / "entry.yaml").write_text(text.replace(old, new))
    rehash(bundle)


def publish(bundle: Path, store: Path, *extra: str) -> list[str]:
    return ["publish", str(bundle), "--store", str(store), "--submitter", SUBMITTER, *extra]


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def npy_header(shape: tuple, descr: str = "<f4") -> bytes:
    """A .npy header declaring ``shape`` with no data after it."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def probe_hash() -> str:
    return json.loads((HONEST / "record.json").read_text())["probe"]["hash"]


LAYERS = {"input__raw": 64, "hidden.0__raw": 32, "hidden.1__raw": 32, "head__raw": 10}
N_PROBE = 600


def as_activations_bundle(bundle: Path, members: dict[str, bytes], *, deflate: bool = False) -> None:
    """Turn the honest bundle into an activations bundle holding exactly ``members`` (raw .npy bytes)."""
    (bundle / "weights.safetensors").unlink()
    with zipfile.ZipFile(bundle / "activations.npz", "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    env = json.loads((bundle / "environment.json").read_text())
    (bundle / "environment.json").write_text(json.dumps({**env, "activations": True}))
    names = [n for n in json.loads((bundle / "manifest.json").read_text()) if n != "weights.safetensors"]
    rehash(bundle, names + ["activations.npz"])


def honest_members() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    out = {f"{k}.npy": npy_bytes(rng.normal(size=(N_PROBE, d)).astype(np.float32)) for k, d in LAYERS.items()}
    out["probe_hash.npy"] = npy_bytes(np.array(probe_hash()))
    out["train_accuracy.npy"] = npy_bytes(np.array(0.5))
    out["test_accuracy.npy"] = npy_bytes(np.array(0.5))
    return out


# --- the variants -------------------------------------------------------------------------


@dataclass
class Variant:
    """``make(bundle, store, tmp)`` turns a copy of the honest bundle into the attack and returns
    the commands to run (the last one is judged; earlier ones must succeed). ``expect``:
    'refused' with ``message`` in the one line, or 'stored' with ``check(store)`` returning the
    forged values still found (none)."""

    name: str
    category: str
    make: Callable[[Path, Path, Path], list[list[str]]]
    expect: str
    message: str = ""
    check: Callable[[Path], list[str]] | None = None
    slow: bool = False


def _forge_numbers(field: str, value):
    def make(b, s, t):
        edit_record(b, lambda r: r.__setitem__(field, value))
        return [publish(b, s)]

    return make


def _shipped_name(b, s, t):
    edit_entry(b, "name: mymlp", "name: mlp")
    edit_record(b, lambda r: r.__setitem__("model", "mlp"))
    return [publish(b, s)]


def _squat(b, s, t):
    """Another submitter's entry under the same published name already in the store."""
    theirs = s / "entries" / "models" / f"{SUBMITTER}.mymlp.yaml"
    theirs.parent.mkdir(parents=True)
    theirs.write_text((b / "entry.yaml").read_text().replace("name: mymlp", f"name: {SUBMITTER}.mymlp") + "# theirs\n")
    return [publish(b, s)]


def _submitted_by(b, s, t):
    (b / "entry.yaml").write_text((b / "entry.yaml").read_text() + "submitted_by: mlp-authors\n")
    rehash(b)
    return [publish(b, s)]


def _dotted_submitter(b, s, t):
    return [["publish", str(b), "--store", str(s), "--submitter", "a.b"]]


def _alias_bomb(b, s, t):
    bomb = "params: {width: 32, depth: 2, x: &a [y, y, y, y, y, y, y, y, y]"
    for i in range(1, 9):
        bomb += f", x{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i > 1 else "*a"] * 9) + "]"
    edit_entry(b, "params: {width: 32, depth: 2}", bomb + "}")
    return [publish(b, s)]


def _big_entry(b, s, t):
    with open(b / "entry.yaml", "ab") as f:
        f.truncate(200 << 20)  # sparse: 200 MB of zeros, written in no time
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["entry.yaml"] = "0" * 64  # never hashed: refused by its size
    (b / "manifest.json").write_text(json.dumps(manifest))
    return [publish(b, s)]


def _sparse_weights(b, s, t):
    with open(b / "weights.safetensors", "ab") as f:
        f.truncate(3 << 30)
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["weights.safetensors"] = "0" * 64
    (b / "manifest.json").write_text(json.dumps(manifest))
    return [publish(b, s)]


def _repeated_member(b, s, t):
    members = honest_members()
    with zipfile.ZipFile(t / "a.npz", "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns of the duplicate name
            z.writestr("input__raw.npy", npy_header((N_PROBE, -(1 << 40))))
    as_activations_bundle(b, {})
    shutil.copy(t / "a.npz", b / "activations.npz")
    rehash(b)
    return [publish(b, s)]


def _extra_members(b, s, t):
    members = honest_members()
    small = npy_bytes(np.zeros((N_PROBE, 1), np.float32))
    members.update({f"hidden.0__extra{i}.npy": small for i in range(500)})
    as_activations_bundle(b, members)
    return [publish(b, s)]


def _lying_header(b, s, t):
    """A member whose header declares 600 x 2^20 floats over a few bytes of data."""
    members = honest_members()
    members["hidden.0__raw.npy"] = npy_header((N_PROBE, 1 << 20))
    as_activations_bundle(b, members)
    return [publish(b, s)]


def _corrupt_deflate(b, s, t):
    members = honest_members()
    as_activations_bundle(b, members, deflate=True)
    raw = bytearray((b / "activations.npz").read_bytes())
    with zipfile.ZipFile(b / "activations.npz") as z:
        info = z.getinfo("probe_hash.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + info.compress_size // 2, start + info.compress_size - 2):
        raw[i] ^= 0x5A  # the stream's tail: the .npy header inflates, the data does not
    (b / "activations.npz").write_bytes(bytes(raw))
    rehash(b)
    return [publish(b, s)]


def _huge_params(params: str):
    def make(b, s, t):
        edit_entry(b, "params: {width: 32, depth: 2}", params)
        return [publish(b, s)]

    return make


def _timm_7b(b, s, t):
    edit_entry(
        b, "builder: mlp\nparams: {width: 32, depth: 2}", "builder: timm\nparams: {model_name: vit_7b_patch16_dinov3}"
    )
    return [publish(b, s)]


def _training_ceiling(b, s, t):
    (b / "entry.yaml").write_text(
        (b / "entry.yaml").read_text() + "training: {epochs: 100000000, max_seconds: 1.0e+12}\n"
    )
    rehash(b)
    return [publish(b, s, "--retrain")]


def _trust_reptopo(b, s, t):
    edit_entry(
        b,
        "builder: mlp\nparams: {width: 32, depth: 2}",
        'builder: "reptopo.pipeline.models:mlp"\nparams: {width: 1000000000, depth: 2}',
    )
    return [publish(b, s, "--trust-builder", "reptopo")]


def _trust_escape(b, s, t):
    edit_entry(
        b,
        "builder: mlp\nparams: {width: 32, depth: 2}",
        'builder: "reptopo.pipeline.models:timm_pretrained"\nparams: {model_name: resnet18, source: package, path: "x:../../../etc/passwd"}',
    )
    return [publish(b, s)]


def _stdlib_builder(b, s, t):
    edit_entry(
        b, "builder: mlp\nparams: {width: 32, depth: 2}", 'builder: "os:system"\nparams: {command: "touch CANARY"}'
    )
    return [publish(b, s, "--trust-builder", "os")]


def _nul_name(b, s, t):
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["weights\x00.safetensors"] = manifest.pop("weights.safetensors")
    (b / "manifest.json").write_text(json.dumps(manifest))
    return [publish(b, s)]


def _bad_safetensors(b, s, t):
    import struct

    (b / "weights.safetensors").write_bytes(
        struct.pack("<Q", 40) + b'{"w": {"dtype": "F32", "shape": [99' + b"\x00" * 64
    )
    rehash(b)
    return [publish(b, s)]


def _deep_json(b, s, t):
    text = (b / "record.json").read_text()
    (b / "record.json").write_text(text[:-1] + ', "recipx": ' + "[" * 200_000 + "]" * 200_000 + "}")
    rehash(b)
    return [publish(b, s)]


def _big_record(b, s, t):
    rec = json.loads((b / "record.json").read_text())
    rec["recipe"]["notes"] = "x" * (20 << 20)
    (b / "record.json").write_text(json.dumps(rec))
    rehash(b)
    return [publish(b, s)]


def _many_files(b, s, t):
    for i in range(500):
        (b / f"f{i}.safetensors").write_bytes(b"")
    rehash(b, [*json.loads((b / "manifest.json").read_text()), *(f"f{i}.safetensors" for i in range(500))])
    return [publish(b, s)]


def _bad_seed(b, s, t):
    env = json.loads((b / "environment.json").read_text())
    (b / "environment.json").write_text(json.dumps({**env, "seed": 10**30}))
    rehash(b)
    return [publish(b, s)]


def _markup_layer(b, s, t):
    edit_entry(b, "name: hidden.0,", 'name: "<a href=//evil.example>x</a>",')
    return [publish(b, s)]


def _other_job(b, s, t):
    edit_record(b, lambda r: r.update(seed=1, job_id="lenet__digits__s1__p3"))
    return [publish(b, s)]


# --- stored re-derived (slow: each measures the checkpoint) --------------------------------


def _published(store: Path) -> dict:
    files = sorted((store / "records").glob("*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def _forge_unverifiable(b, s, t):
    """What a checkpoint cannot show: the training history, the layers measured during training
    (TwoNN 99 at every checkpoint epoch), the digest (another record's), a benchmark job id."""

    def change(r):
        r["train"]["history"] = [{"epoch": 1, "train_loss_running": 0.0}]
        for layer in r["layers"]:
            if layer["epoch"] != r["train"]["epochs_run"]:
                layer["measures"]["twonn"]["dimension"] = 99.0
        r["digest"] = "9542b30c12668464a3326cebf37e33de9bab61cac4a4fe3f20550fa3a7b61de2"
        r["job_id"] = "lenet__digits__s0__p3"
        r["times"]["train_seconds"] = 1e-6

    edit_record(b, change)
    return [publish(b, s)]


def _check_unverifiable(store: Path) -> list[str]:
    rec = _published(store)
    left = []
    if rec["train"]["history"]:
        left.append("history")
    if any(l["epoch"] != rec["train"]["epochs_run"] for l in rec["layers"]):
        left.append("checkpoint-epoch layers")
    if rec["digest"].startswith("9542b30c"):
        left.append("digest")
    if rec["job_id"] != f"{SUBMITTER}.mymlp__digits__s0__p3":
        left.append("job_id")
    if rec["times"]["train_seconds"] == 1e-6:
        left.append("times")
    return left


def _forge_diagrams(b, s, t):
    """Fabricated diagrams: a 2 MB archive inflating to 2 GiB, its key a link with styled text."""
    key = "hidden.0__raw__e30__h0<a href='//evil.example'><b>x</b></a>"
    with zipfile.ZipFile(b / "record.diagrams.npz", "w", zipfile.ZIP_DEFLATED) as z:
        with z.open(f"{key}.npy", "w", force_zip64=True) as f:
            f.write(npy_header(((1 << 28), 2), "<f4"))
            block = b"\x00" * (1 << 24)
            for _ in range(128):
                f.write(block)
    rehash(b)
    return [publish(b, s)]


def _check_diagrams(store: Path) -> list[str]:
    rec = _published(store)
    with zipfile.ZipFile(store / "records" / f"{rec['job_id']}.diagrams.npz") as z:
        names = z.namelist()
    return [n for n in names if "<" in n or "evil" in n]


def _forge_final(b, s, t):
    def change(r):
        final = r["train"]["epochs_run"]
        layer = next(l for l in r["layers"] if l["epoch"] == final and l["name"] == "hidden.1")
        layer["measures"]["twonn"]["dimension"] += 3.0

    edit_record(b, change)
    return [publish(b, s)]


def _activations_naming_code(b, s, t):
    """An activations bundle whose entry names the submitter's code: published as data; a later
    `verify --retrain` of the stored record from the store's entries refuses to run it."""
    import torch
    from safetensors.torch import load_file

    from reptopo.pipeline.models import create_model
    from reptopo.pipeline.probe import extract
    from reptopo.pipeline.tasks import load_task
    from reptopo.registry import Registry, load_entry

    reg = Registry()
    entry, task = load_entry(b / "entry.yaml"), reg.task("digits")
    model = create_model(entry, task)
    model.load_state_dict(load_file(str(b / "weights.safetensors")))
    data = load_task(task)
    x, _ = data.probe()
    paths = extract(model, torch.as_tensor(x), entry.layers, t / "acts", is_text=False)
    members = {f"{n}__{p}.npy": npy_bytes(np.load(path)) for (n, p), path in paths.items()}
    members.update(
        {
            "probe_hash.npy": npy_bytes(np.array(data.probe_hash)),
            "train_accuracy.npy": npy_bytes(np.array(0.9)),
            "test_accuracy.npy": npy_bytes(np.array(0.9)),
        }
    )
    claimed = t / "claimed"
    from reptopo.submission import submit_activations

    np.savez(t / "acts.npz", **{k.removesuffix(".npy"): np.load(io.BytesIO(v)) for k, v in members.items()})
    submit_activations(b / "entry.yaml", t / "acts.npz", "digits", claimed)
    for name in ("record.json", "record.diagrams.npz", "environment.json", "activations.npz"):
        shutil.copy(claimed / name, b / name)
    (b / "weights.safetensors").unlink()
    edit_entry(b, "builder: mlp\nparams: {width: 32, depth: 2}", 'builder: "evil_models:build"\nparams: {}')
    rehash(b, ["entry.yaml", "record.json", "record.diagrams.npz", "environment.json", "activations.npz"])
    record = s / "records" / f"{SUBMITTER}.mymlp__digits__activations__p3.json"
    return [publish(b, s), ["--registry", str(s / "entries"), "verify", str(record), "--retrain"]]


VARIANTS = [
    Variant(
        "forged n_parameters", "forged numbers", _forge_numbers("n_parameters", 1), "refused", "n_parameters: claimed 1"
    ),
    Variant(
        "forged weight_l2", "forged numbers", _forge_numbers("weight_l2", 0.001), "refused", "weight_l2: claimed 0.001"
    ),
    Variant(
        "other job's seed and id",
        "names and ids",
        _other_job,
        "refused",
        "record.json: seed: 1, but the bundle is of 0",
    ),
    Variant("shipped name 'mlp'", "names and ids", _shipped_name, "refused", "name: 'mlp' is the registry's entry"),
    Variant(
        "name another submitter holds",
        "names and ids",
        _squat,
        "refused",
        "already published 'mymlp' with another entry",
    ),
    Variant(
        "entry sets submitted_by", "names and ids", _submitted_by, "refused", "submitted_by: set by `reptopo publish`"
    ),
    Variant("submitter 'a.b'", "names and ids", _dotted_submitter, "refused", "--submitter: 'a.b' is not a handle"),
    Variant("YAML alias bomb in params", "resources", _alias_bomb, "refused", "anchors (&name) are not accepted"),
    Variant(
        "200 MB entry", "resources", _big_entry, "refused", "entry.yaml: 200 MiB; the bundle's entry.yaml is at most"
    ),
    Variant("sparse 3 GiB weights", "resources", _sparse_weights, "refused", "weights.safetensors: 3 GiB"),
    Variant(
        "repeated member, negative dimension",
        "resources",
        _repeated_member,
        "refused",
        "the member appears more than once",
    ),
    Variant(
        "500 extra members", "resources", _extra_members, "refused", "members; an activations archive holds at most"
    ),
    Variant(
        "header declares 600 x 2^20 over no data",
        "resources",
        _lying_header,
        "refused",
        "its header declares 2.34 GiB of data",
    ),
    Variant("timm ViT-7B", "resources", _timm_7b, "refused", "parameters; a model has at most 500,000,000"),
    Variant(
        "MLP 4096 wide, 64 deep",
        "resources",
        _huge_params("params: {width: 4096, depth: 64}"),
        "refused",
        "1,057,529,866 parameters",
    ),
    Variant(
        "epochs 1e8, max_seconds 1e12",
        "resources",
        _training_ceiling,
        "refused",
        "epochs: Input should be less than or equal to 2000",
    ),
    Variant(
        "20 MB record.json",
        "resources",
        _big_record,
        "refused",
        "record.json: 20.1 MiB; the bundle's record.json is at most 16 MiB",
    ),
    Variant("500 files in the manifest", "resources", _many_files, "refused", "a bundle has at most 8"),
    Variant(
        "--trust-builder reptopo, width 1e9",
        "trust",
        _trust_reptopo,
        "refused",
        "--trust-builder 'reptopo': never trusted",
    ),
    Variant(
        "reptopo builder, path escaping its package",
        "trust",
        _trust_escape,
        "refused",
        "names code of 'reptopo', which is never trusted",
    ),
    Variant(
        "os:system under --trust-builder os", "trust", _stdlib_builder, "refused", "--trust-builder 'os': never trusted"
    ),
    Variant("markup as a layer name", "markup", _markup_layer, "refused", "layers.1.name: String should match pattern"),
    Variant("NUL byte in a file name", "internal errors", _nul_name, "refused", "is not a usable file name"),
    Variant(
        "malformed safetensors header",
        "internal errors",
        _bad_safetensors,
        "refused",
        "not a readable safetensors file",
    ),
    Variant("nesting 200,000 deep", "internal errors", _deep_json, "refused", "nested deeper than 32 levels"),
    Variant("corrupt deflate stream", "internal errors", _corrupt_deflate, "refused", "probe_hash: unreadable"),
    Variant(
        "seed 10^30", "resources", _bad_seed, "refused", "environment.json: seed: Input should be less than or equal to"
    ),
    Variant(
        "history, checkpoint layers, digest, job id",
        "forged numbers",
        _forge_unverifiable,
        "stored",
        check=_check_unverifiable,
        slow=True,
    ),
    Variant("diagrams: 2 GiB bomb, markup key", "markup", _forge_diagrams, "stored", check=_check_diagrams, slow=True),
    Variant(
        "final TwoNN +3", "forged numbers", _forge_final, "refused", "verification failed, not published", slow=True
    ),
    Variant(
        "activations naming code, then --retrain",
        "stored entries",
        _activations_naming_code,
        "refused",
        "(published by mallory): builder: 'evil_models:build' is not a registered builder",
        slow=True,
    ),
]


# --- running them -------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    category: str
    expect: str
    exit_code: int | None
    message: str
    peak_mib: float
    seconds: float
    problems: list[str]


def _fork_cli(argv: list[str], err: Path, limit: bool) -> tuple[int | None, float, float]:
    """Run ``reptopo ARGV`` in a forked child (under the limits when ``limit``): (exit code or None
    when killed at the time limit, peak RSS in MiB, seconds)."""
    from reptopo.cli import main

    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        code = 70
        try:
            fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            if limit:
                resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))
            signal.alarm(int(TIME_LIMIT) + 5)
            code = main(argv)
        except BaseException as exc:  # noqa: BLE001 - reported as the child's last line
            print(f"child: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = 70 if not isinstance(exc, MemoryError) else 71
        finally:
            sys.stderr.flush()
            os._exit(code)
    while True:
        wpid, status, usage = os.wait4(pid, os.WNOHANG)
        if wpid:
            return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, time.monotonic() - start
        if time.monotonic() - start > TIME_LIMIT:
            os.kill(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            return None, usage.ru_maxrss / 1024, time.monotonic() - start
        time.sleep(0.01)


def _warm_compiled_kernels() -> None:
    """Measure a small cloud once in a child without limits: numba compiles the kernels there and
    caches them on disk (a fresh clone has no cache, and compiling is the installation's cost,
    not an attack's), so the measuring variants' children load them."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            from reptopo.protocol import measure_layer, protocol

            rng = np.random.default_rng(0)
            x = rng.normal(size=(600, 32)).astype(np.float32)  # as activations are: float32, a probe set's size
            measure_layer(x, np.arange(600) % 10, protocol(3), "warm")
        except BaseException:  # noqa: BLE001 - a failure shows in the variants themselves
            code = 1
        finally:
            os._exit(code)
    os.waitpid(pid, 0)


def run(variants: list[Variant], root: Path) -> list[Outcome]:
    # imported once, before the children fork (importing torch starts no thread; running it would)
    import safetensors.torch  # noqa: F401
    import timm  # noqa: F401
    import torch  # noqa: F401

    import reptopo.cli  # noqa: F401
    import reptopo.pipeline.jobs
    import reptopo.pipeline.models
    import reptopo.pipeline.probe  # noqa: F401
    import reptopo.pipeline.tasks  # noqa: F401
    import reptopo.protocol  # noqa: F401
    import reptopo.submission  # noqa: F401

    # warm what every child would do first (one thread: no pool of threads exists to be forked)
    torch.set_num_threads(1)
    registry = reptopo.pipeline.jobs.cached_registry("")
    reptopo.pipeline.models.create_model(registry.model("mlp"), registry.task("digits"))
    reptopo.pipeline.jobs.cached_task_data("", "digits").probe()

    if any(v.slow for v in variants):
        _warm_compiled_kernels()
    out = []
    for n, v in enumerate(variants):
        work = root / f"v{n}"
        bundle, store, tmp = work / "bundle", work / "store", work / "tmp"
        shutil.copytree(HONEST, bundle)
        tmp.mkdir()
        store.mkdir()
        problems: list[str] = []
        # the attack is made in a child of its own: making some of them runs torch, which must not
        # start threads in this process before it forks the commands
        made = work / "made.json"
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                made.write_text(json.dumps(v.make(bundle, store, tmp)))
            except BaseException as exc:  # noqa: BLE001
                (work / "make-error.txt").write_text(f"{type(exc).__name__}: {exc}")
                code = 1
            finally:
                os._exit(code)
        os.waitpid(pid, 0)
        if not made.is_file():
            out.append(
                Outcome(v.name, v.category, v.expect, None, (work / "make-error.txt").read_text(), 0, 0, ["make"])
            )
            continue
        steps = json.loads(made.read_text())
        for argv in steps[:-1]:
            code, _, _ = _fork_cli(argv, work / "setup.err", limit=False)
            if code != 0:
                problems.append(f"setup step exited {code}: {(work / 'setup.err').read_text()[-300:]}")
        code, peak, seconds = _fork_cli(steps[-1], work / "stderr", limit=True)
        lines = [l for l in (work / "stderr").read_text().splitlines() if l.strip()]
        message = lines[-1] if lines else ""
        if code is None:
            problems.append(f"killed after {TIME_LIMIT:g} s")
        elif v.expect == "refused":
            if code != 2:
                problems.append(f"exit {code}, expected 2")
            if len(lines) != 1:
                problems.append(f"{len(lines)} lines on stderr, expected 1")
            if v.message not in message:
                problems.append(f"message lacks {v.message!r}")
            if len(steps) == 1 and any((store / "records").glob("*.json")):
                problems.append("a record was stored")
        else:
            if code != 0:
                problems.append(f"exit {code}, expected 0")
            elif v.check is not None:
                problems += [f"forged value kept: {p}" for p in v.check(store)]
        if peak > MEMORY_LIMIT / (1 << 20):
            problems.append(f"peak {peak:.0f} MiB")
        if (work / "CANARY").exists() or Path("CANARY").exists():
            problems.append("the canary was written")
        out.append(Outcome(v.name, v.category, v.expect, code, message, round(peak), round(seconds, 2), problems))
    return out


def table(outcomes: list[Outcome]) -> str:
    rows = ["| variant | category | exit | message | peak MiB | seconds | ok |", "|---|---|---|---|---|---|---|"]
    for o in outcomes:
        msg = o.message.replace("|", "\\|").replace(str(tempfile.gettempdir()), "TMP")
        msg = msg if len(msg) < 160 else msg[:157] + "..."
        ok = "yes" if not o.problems else "NO: " + "; ".join(o.problems)
        rows.append(f"| {o.name} | {o.category} | {o.exit_code} | {msg} | {o.peak_mib:.0f} | {o.seconds:.1f} | {ok} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slow", action="store_true", help="also the variants that measure a checkpoint")
    p.add_argument("--only-slow", action="store_true")
    p.add_argument("--json", help="write the outcomes here")
    p.add_argument("--shard", default="0/1", help="K/N: run every N-th variant from the K-th (helpers in parallel)")
    args = p.parse_args(argv)
    k, n = map(int, args.shard.split("/"))
    chosen = [v for v in VARIANTS if (v.slow if args.only_slow else (args.slow or not v.slow))][k::n]
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = run(chosen, Path(tmp))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    else:
        print(table(outcomes))
    return 0 if all(not o.problems for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())

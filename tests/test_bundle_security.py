"""A submission bundle is data from a stranger: `verify` and `publish` refuse, before anything is
imported or run, every bundle that names code, reaches outside itself, or asks for unbounded
memory. Each attack is tried through the CLI: exit 2, one line naming the file and field, no
canary file, nothing in the store."""

import hashlib
import json
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from reptopo.cli import main
from reptopo.submission import BUNDLE_FILES, WEIGHTS_FILE, SubmissionError, check_bundle_entry

ROOT = Path(__file__).resolve().parents[1]
RECORD = (
    ROOT / "site" / "reference" / "records" / "mlp__digits__s0__label_noise-0.0__train_size-400__width-0.5__p3.json"
)

ENTRY = """kind: model
name: mymlp
version: 1
family: mlp
modality: vision
description: an honest copy of the shipped mlp entry
builder: {builder}
params: {params}
{extra}layers:
  - {{name: input, depth: 0.0, role: input}}
  - {{name: hidden.0, depth: 0.5, role: block}}
  - {{name: head, depth: 1.0, role: head}}
license: MIT
"""


def _bundle(
    root: Path, canary: Path, *, builder="mlp", params="{width: 64, depth: 3}", extra="", activations=None, files=None
) -> Path:
    """A bundle whose manifest is honest about its (hostile) files: the manifest proves only
    that nobody changed them after their author wrote it."""
    b = root / "bundle"
    b.mkdir()
    (b / "entry.yaml").write_text(
        ENTRY.format(builder=builder, params=params.replace("CANARY", str(canary)), extra=extra)
    )
    rec = json.loads(RECORD.read_text())
    (b / "record.json").write_text(json.dumps({**rec, "provenance": "self_reported"}))
    np.savez(b / "record.diagrams.npz")
    env = {"versions": rec["versions"], "platform": "x", "task": "digits", "seed": 0}
    if activations is not None:
        env["activations"] = True
        shutil.copy(activations, b / "activations.npz")
    (b / "environment.json").write_text(json.dumps(env))
    (b / WEIGHTS_FILE).write_bytes(b"not read before the checks")
    for name, write in (files or {}).items():
        write(b / name)
    names = list(BUNDLE_FILES) + [n.name for n in b.iterdir() if n.name not in BUNDLE_FILES]
    manifest = {n: hashlib.sha256((b / n).read_bytes()).hexdigest() for n in names if (b / n).is_file()}
    (b / "manifest.json").write_text(json.dumps(manifest))
    return b


CODE_BUILDERS = [
    ("pydoc:pipepager", "{cmd: 'touch CANARY'}", "pydoc"),
    ("os:system", "{command: 'touch CANARY'}", "os"),
    ("subprocess:getoutput", "{cmd: 'touch CANARY'}", "subprocess"),
    ("builtins:exec", '{source: \'open("CANARY", "w")\'}', "builtins"),
    ("importlib:import_module", "{name: this}", "importlib"),
]


def _attack(tmp_path, capsys, bundle, *extra):
    """verify and publish through the CLI: both exit 2 with one line; the store stays empty."""
    store = tmp_path / "board"
    lines = []
    for argv in (["verify", str(bundle), *extra], ["publish", str(bundle), "--store", str(store), *extra]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        lines.append(err)
    assert not store.exists() or not any(store.rglob("*.json"))
    return lines


@pytest.mark.parametrize("builder,params,package", CODE_BUILDERS)
def test_a_bundle_naming_code_is_refused_before_any_import(tmp_path, capsys, builder, params, package):
    canary = tmp_path / "canary"
    bundle = _bundle(tmp_path, canary, builder=f'"{builder}"', params=params)
    for line in _attack(tmp_path, capsys, bundle):
        assert f"entry.yaml: builder: '{builder}' is not a registered builder" in line
        assert f"can pass --trust-builder {package}" in line
    # trusting another package is not trusting this one
    _attack(tmp_path, capsys, bundle, "--trust-builder", "reptopo")
    assert not canary.exists()


def test_a_builder_whose_module_runs_code_at_import_is_never_imported(tmp_path, capsys, monkeypatch):
    canary = tmp_path / "canary"
    (tmp_path / "evil_models.py").write_text(f"open({str(canary)!r}, 'w').close()\ndef build(facts):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    bundle = _bundle(tmp_path, canary, builder='"evil_models:build"')
    lines = _attack(tmp_path, capsys, bundle)
    assert "evil_models:build" in lines[0] and "--trust-builder evil_models" in lines[0]
    assert not canary.exists() and "evil_models" not in sys.modules
    # a maintainer who reviewed the package says so on the command line: only then is it accepted
    entry = check_bundle_entry(bundle, json.loads((bundle / "manifest.json").read_text()), trust_builder="evil_models")
    assert entry.builder == "evil_models:build" and not canary.exists()  # accepted, still not imported


@pytest.mark.parametrize(
    "params,field",
    [
        ("{width: 1000000000, depth: 3}", "params.width: 1000000000 is outside [1, 4096]"),
        ("{width: 64, cmd: 'touch CANARY'}", "params.cmd: not a parameter of builder 'mlp'"),
        ("{width: '64'}", "params.width: expected an integer, got '64'"),
    ],
)
def test_parameters_are_checked_against_the_builder(tmp_path, capsys, params, field):
    canary = tmp_path / "canary"
    for line in _attack(tmp_path, capsys, _bundle(tmp_path, canary, params=params)):
        assert "entry.yaml: " + field in line
    assert not canary.exists()


def test_a_pretrained_path_outside_the_bundle_is_refused(tmp_path, capsys):
    extra = "pretrained: {source: checkpoint, path: ../../etc/passwd, mode: frozen}\n"
    lines = _attack(tmp_path, capsys, _bundle(tmp_path, tmp_path / "c", extra=extra))
    assert all(
        "entry.yaml: pretrained.path: '../../etc/passwd' must be a relative path inside the bundle" in l for l in lines
    )


def test_a_pretrained_file_that_is_not_safetensors_is_refused(tmp_path, capsys):
    extra = "pretrained: {source: checkpoint, path: w.pt, mode: frozen}\n"
    bundle = _bundle(tmp_path, tmp_path / "c", extra=extra, files={"w.pt": lambda p: p.write_bytes(b"pickle")})
    assert all("pretrained.path: 'w.pt' is not a .safetensors file" in l for l in _attack(tmp_path, capsys, bundle))


def test_a_symlinked_weights_file_is_refused(tmp_path, capsys):
    secret = tmp_path / "maintainers_private.safetensors"
    secret.write_bytes(b"private")
    bundle = _bundle(tmp_path, tmp_path / "c")
    (bundle / WEIGHTS_FILE).unlink()
    (bundle / WEIGHTS_FILE).symlink_to(secret)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest[WEIGHTS_FILE] = hashlib.sha256(secret.read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert all(f"{WEIGHTS_FILE}: a symbolic link" in l for l in _attack(tmp_path, capsys, bundle))


def test_a_manifest_naming_a_file_outside_the_bundle_is_refused(tmp_path, capsys):
    bundle = _bundle(tmp_path, tmp_path / "c")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["../outside.txt"] = "0" * 64
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert all(
        "'../outside.txt' must be a relative path inside the bundle" in l for l in _attack(tmp_path, capsys, bundle)
    )


def _npy_header_only(shape) -> bytes:
    """A .npy file whose header declares ``shape`` float32 and that holds no data at all."""
    import io

    from numpy.lib import format as npformat

    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_an_activations_file_declaring_a_trillion_elements_is_refused_unread(tmp_path, capsys):
    acts = tmp_path / "acts.npz"
    with zipfile.ZipFile(acts, "w") as z:
        z.writestr("hidden.0__raw.npy", _npy_header_only((1_000_000, 1_000_000)))
        z.writestr("probe_hash.npy", _npy_header_only(()))
    bundle = _bundle(tmp_path, tmp_path / "c", activations=acts)
    (bundle / WEIGHTS_FILE).unlink()
    manifest = json.loads((bundle / "manifest.json").read_text())
    del manifest[WEIGHTS_FILE]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    for line in _attack(tmp_path, capsys, bundle):
        assert "activations.npz: hidden.0__raw: declares shape (1000000, 1000000); expected (" in line


def test_an_honest_registered_entry_passes_the_checks(tmp_path):
    bundle = _bundle(tmp_path, tmp_path / "c")
    entry = check_bundle_entry(bundle, json.loads((bundle / "manifest.json").read_text()))
    assert entry.builder == "mlp" and entry.params == {"width": 64, "depth": 3}
    with pytest.raises(SubmissionError, match="not a registered builder; known: "):
        (bundle / "entry.yaml").write_text((bundle / "entry.yaml").read_text().replace("builder: mlp", "builder: mlpp"))
        check_bundle_entry(bundle, {})


def test_validate_and_submit_refuse_bad_parameters_by_name(tmp_path, capsys):
    from reptopo.submission import submit

    entry = tmp_path / "mymlp.yaml"
    entry.write_text(ENTRY.format(builder="mlp", params="{width: 1000000000, depht: 3}", extra=""))
    assert main(["validate", str(entry)]) == 1
    err = capsys.readouterr().err
    assert f"{entry}: params.depht: not a parameter of builder 'mlp'" in err
    assert f"{entry}: params.width: 1000000000 is outside [1, 4096]" in err
    with pytest.raises(SubmissionError, match=r"mymlp\.yaml: params\.depht: not a parameter"):
        submit(entry, "digits", tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_an_activations_bundle_may_name_its_own_builder_which_is_never_imported(tmp_path, monkeypatch):
    """Activations are what a submitter ships when the model stays private: its entry's builder
    is the submitter's own, and verify never builds the model, so it is neither refused nor
    imported."""
    canary = tmp_path / "canary"
    (tmp_path / "private_models.py").write_text(f"open({str(canary)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    acts = tmp_path / "acts.npz"
    np.savez(acts, probe_hash="0" * 64, train_accuracy=0.5, test_accuracy=0.5)
    bundle = _bundle(tmp_path, canary, builder='"private_models:build"', activations=acts)
    manifest = json.loads((bundle / "manifest.json").read_text())
    entry = check_bundle_entry(bundle, manifest, builds=False)
    assert entry.builder == "private_models:build"
    with pytest.raises(SubmissionError, match="not a registered builder"):
        check_bundle_entry(bundle, manifest)  # were it to be built, it would be refused
    with pytest.raises(SubmissionError, match=r"probe_hash: 0000000000000000\.\.\. is not task 'digits'"):
        from reptopo.submission import verify

        verify(bundle, registry_spec=ROOT / "registry")
    assert not canary.exists() and "private_models" not in sys.modules

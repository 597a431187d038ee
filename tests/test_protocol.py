import json

import numpy as np
import pytest
import torch
from helpers import tiny_registry
from pydantic import ValidationError

from reptopo.jobs import Job, run_job
from reptopo.probe import extract, pool
from reptopo.protocol import PROTOCOLS, measure_layer, protocol
from reptopo.registry import LayerSpec
from reptopo.store import ResultStore, collect

# A published protocol never changes: a new parameter value is a new version.
PUBLISHED_DIGESTS = {1: "27397f4170eb2752", 2: "69ad7def83166298", 3: "caeb80c9db92adfb"}


def test_published_protocols_are_frozen():
    for version, digest in PUBLISHED_DIGESTS.items():
        assert PROTOCOLS[version].digest() == digest, f"protocol {version} changed: add a new version instead"
    with pytest.raises(ValidationError, match="frozen"):
        PROTOCOLS[1].model_copy(update={}).__setattr__("n_landmarks", 5)


def test_a_bad_cloud_is_flagged_with_its_layer_not_measured():
    x = np.random.default_rng(0).normal(size=(200, 5))
    x[3, 2] = np.nan
    out, dgms = measure_layer(x, np.zeros(200, int), protocol(), "blocks.2")
    assert "blocks.2" in out["error"] and "NaN" in out["error"] and dgms == []
    out, _ = measure_layer(np.ones((200, 5)), np.zeros(200, int), protocol(), "fc")
    assert "identical" in out["error"]


def test_measure_layer_reports_every_measure():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 6)), rng.integers(0, 3, 400)
    out, dgms = measure_layer(x, y, protocol(1), "l")
    assert set(out) >= {"persistence", "phdim", "phdim_per_class", "twonn", "mle", "linear_probe_accuracy"}
    assert "class_topology" not in out and "censored" not in out["phdim"]
    assert out["persistence"]["betti_rule"]["name"] == "covering_radius" and len(dgms) == 2
    assert out["phdim"]["r2"] > 0.9 and out["phdim"]["ci_low"] <= out["phdim"]["dimension"] <= out["phdim"]["ci_high"]
    assert abs(out["twonn"]["dimension"] - 6) < 1.5


def test_version_2_measures_classes_and_censors_phdim():
    """Ten separated blobs, one per class, in 20 dimensions: each class is a point (hop Betti (1, 0))
    and the whole cloud has ten components. A 20-dimensional Gaussian of 400 points is beyond what
    400 points resolve (2 log10 400 = 5.2): its PHdim is censored, not a number."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(10, 20)) * 30
    y = np.repeat(np.arange(10), 40)
    x = centres[y] + rng.normal(size=(400, 20))
    out, _ = measure_layer(x, y, protocol(2), "block.3")
    ct = out["class_topology"]
    assert ct["mean_betti_hops"] == [1.0, 0.0] and ct["whole"]["b0"] == 10 and ct["whole"]["b0_large"] == 10
    assert out["persistence"]["betti_rule"]["name"] == "sampling_resolution" and out["persistence"]["betti"][0] == 10
    from reptopo.record import LayerMeasures

    LayerMeasures.model_validate(out)
    gauss, _ = measure_layer(rng.normal(size=(400, 20)), np.repeat([0, 1], 200), protocol(2), "fc")
    assert gauss["phdim"]["censored"] and gauss["phdim"]["dimension"] is None and gauss["phdim"]["bound"] < 5.3
    assert gauss["phdim_per_class"]["mean"] is None and gauss["phdim_per_class"]["censored"] == ["0", "1"]
    LayerMeasures.model_validate(gauss)


def test_version_3_calibrates_phdim_and_counts_components_through_strays():
    """The same 20-dimensional Gaussian that version 2 censors reads a calibrated value whose
    interval holds 20 (a 400-point probe has no table: its pool is the probe, 400 points, so a
    probe of 600 is used); ten blobs with 5% stray points between them read ten components under
    the DTM rule and fewer under the v2 rule, both kept in the record."""
    from reptopo.record import LayerMeasures

    rng = np.random.default_rng(1)
    gauss, _ = measure_layer(rng.normal(size=(600, 20)), np.repeat([0, 1], 300), protocol(3), "fc")
    cal = gauss["phdim"]["calibrated"]
    assert not gauss["phdim"]["censored"] and cal["ci_low"] <= 20 <= cal["ci_high"]
    assert (
        gauss["phdim"]["pool_size"] == 600 and gauss["phdim"]["dimension"] < cal["dimension"]
    )  # the raw fit reads low
    LayerMeasures.model_validate(gauss)
    centres = rng.normal(size=(10, 20)) * 8
    y = np.repeat(np.arange(10), 60)
    x = centres[y] + rng.normal(size=(600, 20))
    a, b = rng.integers(10, size=30), rng.integers(10, size=30)
    t = rng.uniform(size=(30, 1))
    x = np.r_[x, centres[a] * (1 - t) + centres[b] * t]
    y = np.r_[y, a]
    out, _ = measure_layer(x, y, protocol(3), "head")
    whole = out["class_topology"]["whole"]
    assert whole["dtm"]["b0"] == 10 and whole["b0_range"][1] < 10 and out["class_topology"]["robust"]["mass"] == 0.03
    LayerMeasures.model_validate(out)
    # a probe whose pool has no table keeps the raw fit and says it is not calibrated
    small, _ = measure_layer(rng.normal(size=(450, 5)), np.repeat([0, 1], 225), protocol(3), "fc")
    assert small["phdim"]["calibrated"] is None and small["phdim"]["dimension"] > 0
    LayerMeasures.model_validate(small)


def test_version_2_flags_a_small_class_and_measures_the_rest():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 5))
    y = np.r_[np.zeros(150, int), np.ones(143, int), np.full(7, 2)]
    out, _ = measure_layer(x, y, protocol(2), "fc2")
    classes = out["class_topology"]["classes"]
    assert "fc2" in classes["2"]["error"] and "7 points" in classes["2"]["error"]
    assert classes["0"]["betti_hops"] == [1, 0] and out["class_topology"]["n_classes_measured"] == 2


def test_checkpoints_only_for_the_dynamics_runs():
    from reptopo.jobs import at_default_hyperparameters
    from reptopo.registry import Registry

    task = Registry().task("digits")
    v1, v2 = protocol(1), protocol(2)
    assert at_default_hyperparameters({}, task) and at_default_hyperparameters({"width": 1.0, "train_size": 1197}, task)
    assert not at_default_hyperparameters({"width": 0.5}, task) and not at_default_hyperparameters(
        {"train_size": 400}, task
    )
    assert not at_default_hyperparameters({"label_noise": 0.2}, task) and not at_default_hyperparameters(
        {"lr": 0.1}, task
    )
    assert not v1.measures_checkpoints(seed=0, at_defaults=True, control=None, frozen=False)  # v1 has no epochs
    assert v2.measures_checkpoints(seed=0, at_defaults=True, control=None, frozen=False)
    for kwargs in ({"seed": 1}, {"at_defaults": False}, {"control": "random_init"}, {"frozen": True}):
        assert not v2.measures_checkpoints(
            **{"seed": 0, "at_defaults": True, "control": None, "frozen": False, **kwargs}
        )


def test_pooling_of_each_layout():
    t = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)
    conv = pool(t, "conv1d", None)
    assert conv["flat"].shape == (2, 12) and torch.allclose(conv["gap"], t.mean(-1))
    mask = torch.tensor([[True, True, False], [True, False, False]])
    tok = pool(t, "tokens", mask)
    assert torch.allclose(tok["mean"][1], t[1, 0]) and torch.allclose(tok["mean"][0], t[0, :2].mean(0))
    assert torch.allclose(tok["cls"], t[:, 0])


def test_extract_streams_each_layer_to_disk(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    x = torch.randn(300, 4)
    layers = [
        LayerSpec(name="input", depth=0, role="input"),
        LayerSpec(name="1", depth=0.5, role="block"),
        LayerSpec(name="2", depth=1, role="head"),
    ]
    paths = extract(model, x, layers, tmp_path, is_text=False, batch_size=64)
    assert set(paths) == {("input", "flat"), ("1", "raw"), ("2", "raw")}
    hidden = np.load(paths[("1", "raw")])
    assert hidden.dtype == np.float32
    np.testing.assert_allclose(hidden, torch.relu(model[0](x)).detach().numpy(), rtol=1e-6)


@pytest.mark.slow
def test_a_job_writes_a_complete_record_and_a_rerun_skips_it(tmp_path):
    reg = tiny_registry(tmp_path / "reg", seeds=(0,))
    store_dir = tmp_path / "store"
    first = run_job(Job("mlp", "digits", 0), str(reg), str(store_dir))
    assert first["status"] == "done"
    rec = ResultStore(store_dir).records()[0].to_dict()
    assert rec["protocol"]["version"] == 3 and rec["probe"]["size"] == 600 and len(rec["probe"]["hash"]) == 64
    # seed 0 at default hyperparameters: the learning dynamics, measured at epochs 0, 1, 2, 5 and the last
    assert sorted({l["epoch"] for l in rec["layers"]}) == [0, 1, 2, 5, 30]
    assert rec["status"] == "trained" and rec["train"]["test_accuracy"] > 0.8
    assert {l["name"] for l in rec["layers"]} == {"input", "hidden.0", "hidden.1", "hidden.2", "head"}
    assert rec["versions"]["torch"] and rec["times"]["train_seconds"] > 0 and rec["peak_rss_mb"] > 0
    assert len(rec["checkpoint_sha256"]) == 64 and rec["entry_hash"]["model"]
    assert not (store_dir / "scratch" / rec["job_id"]).exists()
    assert run_job(Job("mlp", "digits", 0), str(reg), str(store_dir))["status"] == "skipped"
    models, layers = collect(ResultStore(store_dir))
    assert len(models) == 1 and len(layers) == 25 and (store_dir / "tables" / "layers.parquet").is_file()


@pytest.mark.slow
def test_training_is_deterministic_on_cpu(tmp_path):
    reg = tiny_registry(tmp_path / "reg", seeds=(0,), epochs=3)
    a = run_job(Job("mlp", "digits", 5), str(reg), str(tmp_path / "a"))
    b = run_job(Job("mlp", "digits", 5), str(reg), str(tmp_path / "b"))
    ra, rb = ResultStore(tmp_path / "a").records()[0].to_dict(), ResultStore(tmp_path / "b").records()[0].to_dict()
    assert a["status"] == b["status"] == "done"
    assert ra["checkpoint_sha256"] == rb["checkpoint_sha256"]
    assert ra["train"] == rb["train"]

    def numbers(rec):  # every measured value, without the timings
        return json.dumps(
            [{k: v for k, v in l["measures"].items() if k != "seconds"} for l in rec["layers"]], sort_keys=True
        )

    assert numbers(ra) == numbers(rb)


@pytest.mark.slow
def test_a_failing_job_is_recorded_with_its_traceback(tmp_path):
    reg = tiny_registry(tmp_path / "reg", seeds=(0,))
    text = (reg / "models" / "mlp.yaml").read_text().replace("name: hidden.2,", "name: hidden.9,")
    (reg / "models" / "mlp.yaml").write_text(text)
    res = run_job(Job("mlp", "digits", 0), str(reg), str(tmp_path / "s"))
    assert res["status"] == "failed" and "hidden.9" in res["error"]
    failure = ResultStore(tmp_path / "s").failures()[0]
    assert "Traceback" in failure["traceback"] and failure["job"]["model"] == "mlp"
    assert ResultStore(tmp_path / "s").records() == []


@pytest.mark.slow
def test_measures_at_training_checkpoints(tmp_path, monkeypatch):
    from reptopo.protocol import ProtocolConfig

    monkeypatch.setitem(PROTOCOLS, 99, ProtocolConfig(version=99, checkpoint_epochs=(0, 2)))
    reg = tiny_registry(tmp_path / "reg", seeds=(0,), epochs=4)
    assert run_job(Job("mlp", "digits", 0), str(reg), str(tmp_path / "s"), protocol_version=99)["status"] == "done"
    rec = ResultStore(tmp_path / "s").records()[0].to_dict()
    epochs = sorted({l["epoch"] for l in rec["layers"]})
    assert epochs == [0, 2, 4] and rec["job_id"].endswith("__p99")
    _, layers = collect(ResultStore(tmp_path / "s"))
    assert sorted(layers["epoch"].unique()) == [0, 2, 4]


def test_token_cloud_of_one_text():
    from reptopo.models import TaskFacts, bert_small, tokenize
    from reptopo.probe import token_cloud

    model = bert_small(TaskFacts((64,), 2, "text"))
    ids = tokenize(["a short review of a film"], 32)[0]
    cloud = token_cloud(model, ids, "encoder.encoder.layer.1")
    assert cloud.shape == (int((ids != 0).sum()), 64)

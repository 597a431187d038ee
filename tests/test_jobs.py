"""One job from entry to stored record: training, checkpoints, failures (reptopo.pipeline.jobs)."""

import json

import pytest
from helpers import tiny_registry

from reptopo.pipeline.jobs import Job, run_job
from reptopo.protocol import PROTOCOLS, protocol
from reptopo.store import ResultStore, collect


def test_checkpoints_only_for_the_dynamics_runs():
    from reptopo.pipeline.jobs import at_default_hyperparameters
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

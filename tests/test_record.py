"""The record model: every committed reference record validates, version-1 records migrate,
the content digest ignores timings and follows the numbers, and a re-run gives the same digest."""

import json
from pathlib import Path

import pytest

from reptopo.errors import RecordError
from reptopo.record import SCHEMA_VERSION, Record, content_digest, migrate

REFERENCE = Path(__file__).resolve().parents[1] / "site" / "reference" / "records"
# a record of schema 1 and protocol 1, as the first reference results were published
V1_RECORD = Path(__file__).resolve().parent / "data" / "lenet__mnist__s0__width-1.0__p1.json"


def test_every_committed_reference_record_validates():
    paths = sorted(REFERENCE.glob("*.json"))
    assert len(paths) == 147
    records = [Record.from_disk(p) for p in paths]
    assert {r.schema_version for r in records} == {SCHEMA_VERSION}
    assert {r.provenance for r in records} == {"benchmark"}


def test_a_version_1_record_migrates_explicitly():
    old = json.loads(V1_RECORD.read_text())
    assert old["schema"] == 1 and "provenance" not in old and "digest" not in old
    new = migrate(old)
    assert new["schema"] == 2 and new["provenance"] == "benchmark" and "digest" not in new
    assert old["schema"] == 1  # the input is left alone
    rec = Record.from_dict(old)
    assert rec.digest == content_digest(rec.to_dict()) == content_digest(old)
    activations = {**old, "status": "submitted_activations"}
    assert migrate(activations)["provenance"] == "self_reported"
    with pytest.raises(RecordError, match="record schema 9"):
        migrate({**old, "schema": 9})


def test_the_digest_ignores_timings_and_versions_and_follows_the_numbers():
    rec = json.loads(V1_RECORD.read_text())
    base = content_digest(rec)
    other = json.loads(json.dumps(rec))
    other["times"] = {"train_seconds": 1.0, "measure_seconds": 2.0}
    other["peak_rss_mb"], other["versions"]["numpy"], other["device"] = 1.0, "0.0", "cuda"
    for layer in other["layers"]:
        layer["measures"]["seconds"] = 0.0
    assert content_digest(other) == base
    other["layers"][3]["measures"]["twonn"]["dimension"] += 1e-12
    assert content_digest(other) != base
    moved = json.loads(json.dumps(rec))
    moved["checkpoint_sha256"] = "0" * 64
    assert content_digest(moved) != base


def test_a_bad_record_names_its_file_and_field(tmp_path):
    rec = json.loads(V1_RECORD.read_text())
    del rec["train"]["test_accuracy"]
    (tmp_path / "a.json").write_text(json.dumps(rec))
    with pytest.raises(RecordError, match=r"a\.json: train\.test_accuracy: Field required"):
        Record.from_disk(tmp_path / "a.json")
    rec = json.loads(V1_RECORD.read_text())
    rec["layers"][0]["measures"]["phdim"]["surprise"] = 1
    (tmp_path / "b.json").write_text(json.dumps(rec))
    with pytest.raises(
        RecordError, match=r"b\.json: layers\.0\.measures\.phdim.*surprise: Extra inputs are not permitted"
    ):
        Record.from_disk(tmp_path / "b.json")
    with pytest.raises(RecordError, match="no such record file"):
        Record.from_disk(tmp_path / "missing.json")


@pytest.mark.slow
def test_rerunning_a_job_gives_the_same_digest(tmp_path):
    from helpers import tiny_registry

    from reptopo.pipeline.jobs import Job, run_job
    from reptopo.store import ResultStore

    reg = tiny_registry(tmp_path / "reg", seeds=(0,), epochs=3)
    digests = []
    for name in ("first", "second"):
        assert run_job(Job("mlp", "digits", 0), str(reg), str(tmp_path / name))["status"] == "done"
        (rec,) = ResultStore(tmp_path / name).records()
        digests.append(rec.digest)
        assert rec.provenance == "benchmark" and rec.digest == content_digest(rec.to_dict())
    assert digests[0] == digests[1]


def test_citation_cff_readme_and_cite_agree():
    import yaml

    from reptopo import __version__
    from reptopo.cite import AUTHOR, BENCHMARK_BIBTEX, TITLE, YEAR

    root = Path(__file__).resolve().parents[1]
    cff = yaml.safe_load((root / "CITATION.cff").read_text())
    assert cff["title"] == TITLE and cff["version"] == __version__ and cff["authors"] == [{"name": AUTHOR}]
    assert str(YEAR) == cff["date-released"][:4]
    assert BENCHMARK_BIBTEX in (root / "README.md").read_text()


def test_the_accessors_read_the_final_layers_and_the_primary_pooling():
    """Record.layer, final_layers and generalization_gap against the record's own JSON, read by hand."""
    from reptopo.errors import UnknownName

    path = next(p for p in sorted(REFERENCE.glob("*.json")) if "lenet__digits__s0" in p.name)
    data = json.loads(path.read_text())
    rec = Record.from_disk(path)
    final = data["train"]["epochs_run"]
    assert rec.final_epoch == final and {la.epoch for la in rec.final_layers()} == {final}
    assert len(rec.final_layers()) == sum(la["epoch"] == final for la in data["layers"])
    assert rec.generalization_gap == pytest.approx(data["train"]["train_accuracy"] - data["train"]["test_accuracy"])
    # conv1 has 'flat' and 'gap': the primary is 'flat' (flattened maps first, as Ansuini et al.)
    assert {la["pooling"] for la in data["layers"] if la["name"] == "conv1" and la["epoch"] == final} == {"flat", "gap"}
    assert rec.layer("conv1").pooling == "flat" and rec.layer("conv1", "gap").pooling == "gap"
    raw = next(
        la for la in data["layers"] if la["name"] == "conv1" and la["pooling"] == "flat" and la["epoch"] == final
    )
    assert rec.layer("conv1").measures.twonn.dimension == raw["measures"]["twonn"]["dimension"]
    if any(la["epoch"] == 0 for la in data["layers"]):
        assert rec.layer("conv1", epoch=0).epoch == 0
    with pytest.raises(UnknownName, match=r"no layer 'conv9' at epoch .*; it has \[.*'conv1'"):
        rec.layer("conv9")

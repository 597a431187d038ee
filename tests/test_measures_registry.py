"""The measure as one object: every registered measure (reptopo/measures/catalog/) reaches the
record, the store's columns, a profile's table and `verify`, with nothing but its own file and
a protocol version that lists it."""

import ast
from pathlib import Path

import numpy as np
import pytest

import reptopo
from reptopo.measures.measure import Measure, get, registered
from reptopo.protocol import PROTOCOLS, measure_layer, protocol
from reptopo.record import LayerMeasures
from reptopo.store import flatten_layer

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "registry"
LATEST = max(PROTOCOLS)
PACKAGE = ROOT / "src" / "reptopo"


def _latest_run():
    return {m.name for m in protocol(LATEST).measures()}


def test_every_registered_measure_is_run_by_the_latest_protocol():
    assert _latest_run() == {m.name for m in registered()}


def test_a_registered_measures_name_appears_in_its_own_file_only():
    """Adding a measure touches no other file: outside the catalog and the protocol's version
    entries, no module of the package spells a measure that came after protocol v3."""
    later = [m.name for m in registered() if not m.always_tabled]
    assert later, "no measure beyond protocol v3's: this test checks nothing"
    catalog = PACKAGE / "measures" / "catalog"
    for path in PACKAGE.rglob("*.py"):
        if path.parent == catalog:
            continue
        strings = {node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)}
        for name in later:
            if path.name == "protocol.py":
                continue  # the version entry that lists it
            assert name not in strings, f"{path.relative_to(ROOT)} names the measure {name!r}"


def test_each_measures_result_fits_the_record_and_gives_its_columns(rng):
    x = np.r_[rng.normal(size=(150, 6)), rng.normal(size=(150, 6)) + 3]
    y = np.repeat([0, 1], 150)
    out, _ = measure_layer(x, y, protocol(LATEST), "fc")
    layer = LayerMeasures.model_validate(out)
    row = flatten_layer(out)
    for m in registered():
        value = out[m.name]
        assert not (isinstance(value, dict) and "error" in value), (m.name, value)
        assert getattr(layer, m.name) is not None
        columns = m.columns(value)
        assert columns and set(columns) <= set(row), m.name
        assert any(row[c] is not None for c in columns), m.name
        assert m.flags(value) == [] or all(isinstance(f, str) for f in m.flags(value))


def test_aliases_and_unknown_names():
    assert get("linear_probe").name == "linear_probe_accuracy" and get("betti").name == "persistence"
    with pytest.raises(KeyError, match="no measure 'nope'; known: persistence"):
        get("nope")
    with pytest.raises(ValueError, match="measure_params: no measure 'nope'"):
        protocol(LATEST).model_validate({**protocol(LATEST).model_dump(), "measure_params": {"nope": {}}})


def test_a_protocol_pins_each_measures_parameters_with_their_defaults():
    later = [m for m in registered() if not m.always_tabled]
    for m in later:
        assert protocol(LATEST).measure_params[m.name] == m.Params().model_dump(mode="json")
        assert isinstance(m, Measure) and m.describe(m.params(protocol(LATEST))) in protocol(LATEST).describe()


@pytest.mark.slow
def test_every_measure_round_trips_through_record_store_profile_and_verify(tmp_path):
    """A LeNet trained and measured under the latest protocol: each registered measure is in its
    record, in the store's layers table, in the profile of the same checkpoint, and among the
    leaves that `verify` re-measured and found to agree."""
    from reptopo.pipeline.checkpoints import load_trained
    from reptopo.pipeline.jobs import Job, run_job
    from reptopo.record import Record
    from reptopo.registry import Registry
    from reptopo.store import ResultStore, collect
    from reptopo.submission import verify_record
    from reptopo.submission.reproduce import score_leaves

    job = Job("lenet", "digits", 0, (("train_size", 400), ("width", 0.5)))
    assert run_job(job, str(REGISTRY), str(tmp_path / "store"), protocol_version=LATEST)["status"] == "done"
    store = ResultStore(tmp_path / "store")
    path = store.record_path(job.job_id(LATEST))
    record = Record.from_disk(path)
    assert Record.from_dict(record.to_dict()) == record
    _, layers = collect(store)
    model, x_probe, y_probe, _ = load_trained(record, str(REGISTRY), store)
    prof = reptopo.profile(
        model,
        x_probe,
        labels=y_probe,
        layers=Registry(REGISTRY).model("lenet").layers,
        protocol_version=LATEST,
        progress=False,
    )
    table = prof.to_pandas()
    result = verify_record(path, registry_spec=REGISTRY)
    assert result.passed and result.digest_matches, result.problems
    verified = {f.key.split("/", 3)[-1].split(".")[0] for f in result.findings}
    leaves = score_leaves(record.to_dict(), final_epoch_only=True)
    final = [la["measures"] for la in record.to_dict()["layers"] if la["epoch"] == record.final_epoch]
    for m in registered():
        assert all(m.name in measures for measures in final), m.name
        columns = list(m.columns(final[-1][m.name]))
        for frame in (layers, table):
            assert set(columns) <= set(frame.columns), (m.name, columns)
            assert frame[columns].notna().any().any(), (m.name, columns)
        assert any(k.split("/", 3)[-1].split(".")[0] == m.name for k in leaves), m.name
        assert m.name in verified, m.name


NEW_MEASURE = '''
"""The mean distance of a point to the cloud's centroid: a measure added by one file."""
import numpy as np
from pydantic import Field

from ..measure import Measure, Strict, register


class SpreadParams(Strict):
    trim: float = Field(0.0, ge=0, lt=0.5)


class Spread(Strict):
    mean_radius: float
    n_used: int


@register
class SpreadMeasure(Measure):
    name = "spread"
    order = 90
    Params = SpreadParams
    Result = Spread
    leaves = {"n_used": "count"}
    column_names = ("spread",)

    def run(self, x, y, params, ctx):
        r = np.sort(np.linalg.norm(x - x.mean(0), axis=1))
        keep = r[: len(r) - int(params.trim * len(r))]
        return {"mean_radius": float(keep.mean()), "n_used": len(keep)}

    def columns(self, value):
        return {"spread": None if not value or "error" in value else value["mean_radius"]}

    def describe(self, params):
        return f"the mean radius (trim {params.trim})"
'''

CHECK_NEW_MEASURE = """
import json, numpy as np
from reptopo.protocol import PROTOCOLS, measure_layer
from reptopo.record import LayerMeasures
from reptopo.submission.reproduce import leaf_kind, score_leaves
from reptopo.store import flatten_layer
cfg = PROTOCOLS[max(PROTOCOLS)]
x = np.random.default_rng(0).normal(size=(200, 3)); y = np.arange(200) % 2
out, _ = measure_layer(x, y, cfg, "fc", measures=("spread",))  # the others have tests of their own
record = {"train": {"epochs_run": 1}, "layers": [{"name": "fc", "pooling": "raw", "epoch": 1, "measures": out}]}
print(json.dumps({
    "record": LayerMeasures.model_validate(out).spread.n_used,
    "column": flatten_layer(out)["spread"],
    "leaves": sorted(k for k in score_leaves(record) if ".spread" in k or "/spread" in k),
    "kind": leaf_kind("fc/raw/final/spread.n_used"),
    "described": "the mean radius (trim 0.1)" in cfg.describe(),
}))
"""


def test_a_new_measure_is_one_file_and_a_protocol_entry(tmp_path):
    """The acceptance of issue 35, run: a copy of the package gains catalog/spread.py and one line
    of protocol.py, and the new measure reaches the record, the store's columns, verify's leaves
    and the protocol's description, with no other file touched."""
    import json
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "reptopo"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "measures" / "catalog" / "spread.py").write_text(NEW_MEASURE)
    with open(copy / "protocol.py", "a") as f:
        f.write(
            "PROTOCOLS[max(PROTOCOLS) + 1] = ProtocolConfig.model_validate({**PROTOCOLS[max(PROTOCOLS)].model_dump(), "
            '"version": max(PROTOCOLS) + 1, "measure_params": {**(PROTOCOLS[max(PROTOCOLS)].measure_params or {}), '
            '"spread": {"trim": 0.1}}})\n'
        )
    changed = sorted(
        str(p.relative_to(copy))
        for p in copy.rglob("*.py")
        if not (PACKAGE / p.relative_to(copy)).exists()
        or (PACKAGE / p.relative_to(copy)).read_bytes() != p.read_bytes()
    )
    assert changed == ["measures/catalog/spread.py", "protocol.py"]
    proc = subprocess.run(
        [sys.executable, "-c", CHECK_NEW_MEASURE],
        env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["record"] == 180 and got["kind"] == "count" and got["described"]
    assert got["leaves"] == ["fc/raw/final/spread.mean_radius", "fc/raw/final/spread.n_used"]
    assert 1.0 < got["column"] < 2.0  # the mean radius of a 3-d standard normal, trimmed (about 1.5)

"""The versioned protocol: published versions frozen, and what measure_layer gives a layer."""

import numpy as np
import pytest
from pydantic import ValidationError

from reptopo.protocol import PROTOCOLS, measure_layer, protocol

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


def test_a_measure_whose_result_leaves_the_records_shape_fails_where_it_is_computed(monkeypatch):
    """One definition of each result shape: every measure's dict is validated against the
    record's LayerMeasures inside measure_layer, so a drift fails at the measure, naming the
    layer and the field."""
    from reptopo import measures as M
    from reptopo.errors import MeasureShapeError
    from reptopo.record import LayerMeasures

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 5)), np.arange(200) % 2
    out, _ = measure_layer(x, y, protocol(3), "ok")  # every field of a real layer fits
    assert LayerMeasures.model_validate(out).twonn.dimension == out["twonn"]["dimension"]
    bad, _ = measure_layer(np.full((40, 3), np.nan), np.zeros(40, int), protocol(3), "nan")
    assert "error" in bad  # the flagged cloud fits too
    original = M.IDResult.to_dict

    def drifted(self):
        return {**original(self), "surprise": 1}

    monkeypatch.setattr(M.IDResult, "to_dict", drifted)
    with pytest.raises(MeasureShapeError, match=r"layer 'drift': the measures do not fit the record: twonn"):
        measure_layer(x, y, protocol(3), "drift", measures=("twonn",))

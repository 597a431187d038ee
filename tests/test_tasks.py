from pathlib import Path

import numpy as np
import pytest

from reptopo import measures as M
from reptopo.pipeline.tasks import load_task, probe_positions
from reptopo.registry import Registry

REGISTRY = Path(__file__).resolve().parents[1] / "registry"


@pytest.fixture(scope="module")
def registry():
    return Registry(REGISTRY)


@pytest.mark.slow
def test_mnist_subset_is_split_by_a_stratified_shuffle(registry):
    data = load_task(registry.task("mnist"))
    x, y = data.arrays("train")
    assert x.shape == (4000, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert np.all(np.bincount(y) == 400)  # the source is sorted by class; the split is not
    assert len(np.unique(y[:50])) > 5
    again = load_task(registry.task("mnist"))
    assert np.array_equal(again.probe_ids, data.probe_ids) and again.probe_hash == data.probe_hash


@pytest.mark.slow
def test_probe_is_class_balanced_and_drawn_from_the_test_split(registry):
    data = load_task(registry.task("digits"))
    _, y = data.probe()
    assert len(y) == 600 and np.ptp(np.bincount(y)) <= 6
    test_ids = set(np.asarray(data.splits["test"]["id"]).tolist())
    assert set(data.probe_ids.tolist()) <= test_ids
    assert not set(data.probe_ids.tolist()) & set(np.asarray(data.splits["train"]["id"]).tolist())


def test_probe_positions_take_what_small_classes_have():
    labels = np.r_[np.zeros(90, int), np.ones(10, int)]
    pos = probe_positions(labels, 60, seed=0)
    assert len(pos) == 60 and (labels[pos] == 1).sum() == 10


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,n_total,classes", [("rotten_tomatoes", 12808, 2), ("debate_party", 802, 2), ("langid", None, 5)]
)
def test_text_tasks_load_offline(registry, name, n_total, classes):
    entry = registry.task(name)
    data = load_task(entry)
    x, y = data.arrays("train")
    assert isinstance(x[0], str) and len(set(y.tolist())) == classes
    if n_total:
        from reptopo.pipeline.tasks import LOADERS

        full = LOADERS[entry.source.loader](
            entry.splits.model_copy(update={"train_size": n_total - 10, "test_size": 10})
        )
        assert len(full["train"]) + len(full["test"]) == n_total


@pytest.mark.slow
def test_other_vision_tasks_load(registry):
    for name, shape in (("lfw_faces", (1, 25, 25)), ("mnist1d", (1, 40))):
        x, _ = load_task(registry.task(name)).arrays("test")
        assert x.shape[1:] == shape


@pytest.mark.slow
def test_synthetic_tasks_carry_their_ground_truth(registry):
    for name in ("synthetic_circle", "synthetic_torus"):
        entry = registry.task(name)
        x, _ = load_task(entry).probe()
        res = M.persistence(x, n_landmarks=200)
        assert res.betti == entry.ground_truth["betti"]
        assert abs(M.twonn(x).dimension - entry.ground_truth["dimension"]) < 0.3


def test_naitzat_tasks_load_with_their_ground_truth(registry):
    from reptopo.pipeline.tasks import NAITZAT_BETTI, naitzat_sample

    for name, variant, dim in (("naitzat_d1", "D-I", 2), ("naitzat_d2", "D-II", 2), ("naitzat_d3", "D-III", 3)):
        entry = registry.task(name)
        truth = {int(c): b for c, b in entry.ground_truth["betti_per_class"].items()}
        assert truth == NAITZAT_BETTI[variant] and entry.input_shape == [dim]
    # D-III's pieces: class 0 on nine spheres of radius 0.1, class 1 on shells (0.15) and inner spheres (0.05)
    x, y = naitzat_sample("D-III", 900, np.random.default_rng(0))
    from reptopo.pipeline.tasks import NAITZAT_CENTRES_2D

    centres = np.c_[NAITZAT_CENTRES_2D, np.full(9, 0.5)]
    dist = np.min(np.linalg.norm(x[:, None] - centres[None], axis=2), axis=1)
    assert np.allclose(dist[y == 0], 0.1)
    assert np.all(np.isclose(dist[y == 1], 0.15) | np.isclose(dist[y == 1], 0.05))
    data = load_task(registry.task("naitzat_d1"))
    assert set(np.unique(data.probe()[1])) == {0, 1}

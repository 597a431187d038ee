"""The comparison stage: which pairs are compared, the comparison record, the analysis of the
maps against hand-made tables, and (slow) a real stage on stored checkpoints."""

import numpy as np
import pandas as pd
import pytest

from reptopo.analysis import cka_rtd_agreement, matched_similarity, seeds_against_architectures
from reptopo.pipeline.compare import COMPARISONS, Pair, plan, spread
from reptopo.registry import Registry

# the published comparison config never changes: a new parameter value is a new version
PUBLISHED_DIGESTS = {1: "1c0dc4dec4d87f5d"}


def _rec(model, seed, status="trained", axes=None, task="digits", version=2):
    """A record with only the fields the plan reads (built without validation)."""
    from reptopo.record import ProtocolStamp, Record

    job = f"{model}__{task}__s{seed}__{status}__p{version}"
    return Record.model_construct(
        job_id=job,
        model=model,
        task=task,
        seed=seed,
        status=status,
        axes=axes or {},
        protocol=ProtocolStamp.model_construct(version=version),
    )


def test_the_plan_pairs_architectures_seeds_and_controls_at_default_hyperparameters():
    records = [
        _rec("mlp", 0),
        _rec("mlp", 1),
        _rec("mlp", 2),
        _rec("lenet", 0),
        _rec("lenet", 1),
        _rec("mlp", 0, "random_init"),
        _rec("mlp", 0, axes={"width": 0.5}),
        _rec("lenet", 1, axes={"train_size": 400}),
        _rec("mobilenetv2_imagenet", 0, "pretrained_frozen"),
        _rec("mlp", 0, version=1),
    ]
    pairs = plan(records, Registry())
    kinds = sorted((p.kind, p.left.split("__")[0], p.right.split("__")[0]) for p in pairs)
    assert kinds == [
        ("architectures", "lenet", "mlp"),
        ("architectures", "lenet", "mobilenetv2_imagenet"),
        ("architectures", "mlp", "mobilenetv2_imagenet"),
        ("random_init", "mlp", "mlp"),
        ("seeds", "lenet", "lenet"),
        ("seeds", "mlp", "mlp"),
    ]
    assert all("__p2" in p.left and "__p2" in p.right for p in pairs)  # never across protocol versions
    seeds = next(p for p in pairs if p.kind == "seeds" and p.left.startswith("mlp"))
    assert seeds.left.endswith("s0__trained__p2") and seeds.right.endswith("s1__trained__p2")
    assert Pair("t", "seeds", "a", "b").comparison_id() == "a__vs__b__c1"


def test_rtd_layers_are_spread_over_depth():
    assert spread(3, 5) == [0, 1, 2] and spread(10, 5) == [0, 2, 4, 7, 9] and spread(9, 2) == [0, 8]


def _comparisons(seed_cka: float, arch_cka: float, rtd_follows_cka: bool = True) -> pd.DataFrame:
    """Hand-made maps: three seed pairs and three architecture pairs, four layers each side."""
    rng = np.random.default_rng(0)
    rows = []
    for k, (kind, level) in enumerate([("seeds", seed_cka)] * 3 + [("architectures", arch_cka)] * 3):
        for i, d1 in enumerate((0.0, 0.33, 0.66, 1.0)):
            for j, d2 in enumerate((0.0, 0.33, 0.66, 1.0)):
                cka = level * (1 - abs(d1 - d2)) + rng.normal(scale=0.01)
                rows.append(
                    {
                        "comparison_id": f"c{k}",
                        "task": "t",
                        "kind": kind,
                        "left_layer": f"l{i}",
                        "left_depth": d1,
                        "right_layer": f"r{j}",
                        "right_depth": d2,
                        "cka": cka,
                        "rtd": (10 * (1 - cka) if rtd_follows_cka else rng.uniform(0, 10)),
                    }
                )
    return pd.DataFrame(rows)


def test_cka_and_rtd_agreement_and_the_seed_excess_on_hand_made_maps():
    comp = _comparisons(0.9, 0.5)
    agree = cka_rtd_agreement(comp, n_boot=50).set_index("kind")
    assert agree.loc["all", "kendall_tau"] == pytest.approx(1.0) and agree.loc["all", "n_comparisons"] == 6
    matched = matched_similarity(comp)
    assert len(matched) == 6 * 4 and (matched["left_depth"] == matched["right_depth"]).all()
    by_bin = seeds_against_architectures(comp, n_boot=50)
    assert len(by_bin) == 4 and np.allclose(by_bin["seeds_cka"], 0.9, atol=0.03)
    assert np.allclose(by_bin["excess"], 0.4, atol=0.03) and (by_bin["excess_ci_low"] > 0.3).all()
    unrelated = cka_rtd_agreement(_comparisons(0.9, 0.5, rtd_follows_cka=False), n_boot=50).set_index("kind")
    assert abs(unrelated.loc["all", "kendall_tau"]) < 0.15


def test_a_comparison_record_validates_and_names_its_field():
    from reptopo.errors import RecordError
    from reptopo.record import ComparisonRecord

    side = {
        "job_id": "a",
        "model": "mlp",
        "seed": 0,
        "status": "trained",
        "axes": {},
        "checkpoint_sha256": "0" * 64,
        "entry_hash": "e",
        "record_digest": "d",
    }
    layer = {"name": "fc", "pooling": "raw", "depth": 0.5, "role": "block"}
    good = {
        "schema": 1,
        "comparison_id": "a__vs__b__c1",
        "task": "digits",
        "kind": "seeds",
        "config": {"version": 1, "digest": COMPARISONS[1].digest(), "config": COMPARISONS[1].model_dump(mode="json")},
        "protocol_version": 2,
        "probe": {"size": 3, "hash": "h", "ids": [1, 2, 3]},
        "left": side,
        "right": side,
        "left_layers": [layer],
        "right_layers": [layer],
        "cka": [[1.0]],
        "cka_debiased": [[1.0]],
        "rtd": [[None]],
        "seconds": 1.0,
        "versions": {},
    }
    assert ComparisonRecord.from_dict(good).rtd == [[None]]
    with pytest.raises(RecordError, match="kind"):
        ComparisonRecord.from_dict({**good, "kind": "cousins"})
    with pytest.raises(RecordError, match="comparison schema 7"):
        ComparisonRecord.from_dict({**good, "schema": 7})


def test_published_comparison_configs_are_frozen():
    for version, digest in PUBLISHED_DIGESTS.items():
        assert COMPARISONS[version].digest() == digest, f"comparison config {version} changed: add a new version"


@pytest.mark.slow
def test_the_stage_compares_stored_checkpoints_and_resumes(tmp_path):
    """Two seeds and a random-init control of an MLP on digits: the stage re-runs them from their
    checkpoints on the records' probe set; a model compared with itself has CKA 1 and RTD 0 on the
    diagonal; a changed checkpoint is refused; a second run skips what is stored."""
    from helpers import tiny_registry

    from reptopo.pipeline.compare import compare_pair, run_comparison
    from reptopo.pipeline.jobs import Job, run_job
    from reptopo.record import ComparisonRecord
    from reptopo.registry import Registry
    from reptopo.store import ResultStore

    reg_dir = tiny_registry(tmp_path / "reg", seeds=(0, 1), epochs=3)
    store_dir = tmp_path / "store"
    for job in (Job("mlp", "digits", 0), Job("mlp", "digits", 1), Job("mlp", "digits", 0, (), "random_init")):
        assert run_job(job, str(reg_dir), str(store_dir))["status"] == "done"
    store = ResultStore(store_dir)
    reg = Registry(reg_dir)
    pairs = plan(store.records(), reg)
    assert sorted(p.kind for p in pairs) == ["random_init", "seeds"]
    for pair in pairs:
        assert run_comparison(pair, reg.spec, str(store_dir))["status"] == "done"
        assert run_comparison(pair, reg.spec, str(store_dir))["status"] == "skipped"
    (seeds,) = [c for c in store.load_comparisons() if c.kind == "seeds"]
    rec0 = store.record(seeds.left.job_id)
    assert seeds.probe.hash == rec0.probe.hash and seeds.left.checkpoint_sha256 == rec0.checkpoint_sha256
    assert [layer.name for layer in seeds.left_layers] == ["input", "hidden.0", "hidden.1", "hidden.2", "head"]
    assert seeds.cka[0][0] == pytest.approx(1.0)  # the input layer is the same data on both sides
    assert all(0 <= v <= 1 + 1e-9 for row in seeds.cka for v in row)
    assert isinstance(ComparisonRecord.from_disk(store.comparison_path(seeds.comparison_id)), ComparisonRecord)
    itself = compare_pair(Pair("digits", "seeds", seeds.left.job_id, seeds.left.job_id), reg.spec, store)
    diag = np.diag(np.array(itself["cka"]))
    assert np.allclose(diag, 1.0) and all(itself["rtd"][i][i] == pytest.approx(0, abs=1e-9) for i in range(len(diag)))
    # two seeds' hidden layers are alike but not the same; the random-init control's head is far from the trained one's
    (control,) = [c for c in store.load_comparisons() if c.kind == "random_init"]
    assert 0.3 < seeds.cka[2][2] < 0.999 and control.cka[-1][-1] < seeds.cka[-1][-1]
    store.checkpoint_path(seeds.right.job_id).write_bytes(b"not the weights")
    failed = run_comparison(Pair("digits", "seeds", seeds.right.job_id, seeds.left.job_id), reg.spec, str(store_dir))
    assert failed["status"] == "failed" and "sha256" in failed["error"]

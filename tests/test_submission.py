import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import other_cpu

from reptopo.errors import SubmissionError
from reptopo.protocol import CURRENT_VERSION
from reptopo.submission import submit, verify, verify_record

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "registry"

USER_MODULE = """
import torch

def tiny_net(facts, hidden=32):
    n_in = 1
    for s in facts.input_shape:
        n_in *= s
    net = torch.nn.Sequential()
    net.add_module("flat", torch.nn.Flatten())
    net.add_module("hidden", torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.Tanh()))
    net.add_module("head", torch.nn.Linear(hidden, facts.num_classes))
    return net
"""

ENTRY = """kind: model
name: my_tiny_net
version: 1
family: mlp
modality: vision
description: A user's own model, built by a function in the user's package.
builder: "my_models:tiny_net"
params: {hidden: 32}
layers:
  - {name: input, depth: 0.0, role: input}
  - {name: hidden, depth: 0.5, role: block}
  - {name: head, depth: 1.0, role: head}
license: MIT
"""


pytestmark = pytest.mark.slow  # every test here trains or re-runs a model


@pytest.fixture
def user_entry(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "my_tiny_net.yaml"
    path.write_text(ENTRY)
    return path


def test_submit_then_verify_a_users_model(user_entry, tmp_path):
    registry_before = sorted(p.name for p in (REGISTRY / "models").iterdir())
    bundle = submit(user_entry, "digits", tmp_path / "bundle", registry_spec=REGISTRY)
    assert sorted(p.name for p in bundle.iterdir()) == [
        "entry.yaml",
        "environment.json",
        "manifest.json",
        "record.diagrams.npz",
        "record.json",
        "weights.safetensors",
    ]
    assert "weights.safetensors" in json.loads((bundle / "manifest.json").read_text())
    rec = json.loads((bundle / "record.json").read_text())
    assert rec["model"] == "my_tiny_net" and rec["train"]["test_accuracy"] > 0.5
    assert rec["provenance"] == "self_reported" and rec["schema"] == 2
    with pytest.raises(
        SubmissionError, match="builder: 'my_models:tiny_net' is not a registered builder; .* --trust-builder my_models"
    ):
        verify(bundle, registry_spec=REGISTRY)  # the maintainer's explicit trust is needed to run the submitter's code
    result = verify(bundle, registry_spec=REGISTRY, trust_builder="my_models")
    assert result.kinds == ("measurement",) and result.training is None
    assert result.passed and all(f.verdict == "agrees" for f in result.findings) and len(result.findings) > 100
    # the record built from the measurement leaves out what a checkpoint cannot show (the history,
    # the layers measured during training): its digest is not the claim's
    assert {l.epoch for l in result.record.layers} == {rec["train"]["epochs_run"]}
    assert result.record.train.history == [] and not result.digest_matches
    assert sorted(p.name for p in (REGISTRY / "models").iterdir()) == registry_before


def test_a_tampered_bundle_is_refused_naming_the_file(user_entry, tmp_path):
    bundle = submit(user_entry, "digits", tmp_path / "bundle", registry_spec=REGISTRY)
    rec = json.loads((bundle / "record.json").read_text())
    rec["train"]["test_accuracy"] = 0.999
    (bundle / "record.json").write_text(json.dumps(rec))
    with pytest.raises(SubmissionError, match=r"record\.json: sha256 .* does not match the manifest"):
        verify(bundle, registry_spec=REGISTRY, trust_builder="my_models")


def test_a_bad_submission_names_the_field_and_writes_nothing(user_entry, tmp_path):
    user_entry.write_text(ENTRY.replace("license: MIT\n", ""))
    with pytest.raises(SubmissionError, match="license: Field required"):
        submit(user_entry, "digits", tmp_path / "bundle", registry_spec=REGISTRY)
    user_entry.write_text(ENTRY.replace("name: hidden,", "name: hiddn,"))
    with pytest.raises(SubmissionError, match="no module named"):
        submit(user_entry, "digits", tmp_path / "bundle2", registry_spec=REGISTRY)
    assert not (tmp_path / "bundle").exists() and not (tmp_path / "bundle2").exists()


REFERENCE_LENET = "lenet__digits__s1__label_noise-0.0__train_size-400__width-0.5__p3.json"


def test_verify_a_committed_reference_record_by_retraining():
    """The committed reference keeps no checkpoints: measurement is refused with what to do, and
    the training check judges the retrained model against the record's three seeds."""
    record = ROOT / "site" / "reference" / "records" / REFERENCE_LENET
    with pytest.raises(SubmissionError, match="no checkpoint .* pass --retrain"):
        verify_record(record, registry_spec=REGISTRY)
    result = verify_record(record, registry_spec=REGISTRY, retrain=True)
    assert result.passed, result.problems
    assert result.kinds in (("training",), ("measurement", "training"))  # the latter where training gave the same bits
    assert result.training.n_seeds == 3 and "consistent with 3 reference seeds" in result.training.describe()


def _run_emulated(code: str, tmp_path) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter on another CPU than this process's (emulated)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **other_cpu()},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_measurement_verification_passes_on_another_cpu_where_the_exact_check_fails(tmp_path):
    """A LeNet trained here, its checkpoint re-measured on the emulated CPU: every value agrees
    within the measured tolerances or is float noise the estimator amplifies, while a 1e-9 check
    of the same numbers, the old same-environment rule, fails."""
    from reptopo.pipeline.jobs import Job, run_job

    job = Job("lenet", "digits", 1, (("label_noise", 0.0), ("train_size", 400), ("width", 0.5)))
    assert run_job(job, str(REGISTRY), str(tmp_path / "store"))["status"] == "done"
    record = tmp_path / "store" / "records" / f"{job.job_id(CURRENT_VERSION)}.json"
    native = verify_record(record, registry_spec=REGISTRY)
    assert native.passed and native.digest_matches  # the same machine: the same bits
    code = f"""
import json
from reptopo.submission import verify_record
r = verify_record({str(record)!r}, registry_spec={str(REGISTRY)!r})
print(json.dumps({{"passed": r.passed, "kinds": r.kinds, "same": r.digest_matches,
                   "findings": [[f.key, f.claimed, f.rederived, f.verdict] for f in r.findings]}}))
"""
    proc = _run_emulated(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["passed"] and out["kinds"] == ["measurement"] and not out["same"]
    exact = [k for k, a, b, _ in out["findings"] if not np.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)]
    assert exact, "the emulated CPU changed nothing: the emulation switches are not reaching torch"
    # a checkpoint that is not the record's is refused by name, not measured
    checkpoint = tmp_path / "store" / "checkpoints" / f"{job.job_id(CURRENT_VERSION)}.safetensors"
    checkpoint.write_bytes(checkpoint.read_bytes()[:-1] + b"x")
    with pytest.raises(
        SubmissionError, match=r"\.safetensors: the checkpoint's sha256 is not the one record .* quotes"
    ):
        verify_record(record, registry_spec=REGISTRY)


def test_retraining_on_another_cpu_is_consistent_with_the_reference_seeds(tmp_path):
    """The committed LeNet record retrained on the emulated CPU (convolution kernels differ from
    the first step): the CLI's verdict is the training check's, consistent with three seeds."""
    record = ROOT / "site" / "reference" / "records" / REFERENCE_LENET
    code = f"""
import sys
from reptopo.cli import main
sys.exit(main(["--registry", {str(REGISTRY)!r}, "verify", {str(record)!r}, "--retrain"]))
"""
    proc = _run_emulated(code, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "verified by training" in proc.stdout and "consistent with 3 reference seeds" in proc.stdout
    assert "PASS" in proc.stdout and "different bits" in proc.stdout


def test_submit_and_verify_activations_without_weights(tmp_path):
    import numpy as np
    import torch

    from reptopo.pipeline.models import create_model
    from reptopo.pipeline.probe import extract
    from reptopo.pipeline.tasks import load_task
    from reptopo.registry import Registry
    from reptopo.submission import submit_activations

    reg = Registry(REGISTRY)
    entry, task = reg.model("mlp"), reg.task("digits")
    data = load_task(task)
    x, _ = data.probe()
    torch.manual_seed(0)
    paths = extract(create_model(entry, task), torch.as_tensor(x), entry.layers, tmp_path / "acts", is_text=False)
    arrays = {f"{name}__{pool}": np.load(p) for (name, pool), p in paths.items()}
    good = tmp_path / "acts.npz"
    np.savez(good, probe_hash=data.probe_hash, train_accuracy=0.5, test_accuracy=0.4, **arrays)
    bundle = submit_activations(
        REGISTRY / "models" / "mlp.yaml", good, "digits", tmp_path / "bundle", registry_spec=REGISTRY
    )
    rec = json.loads((bundle / "record.json").read_text())
    assert rec["status"] == "submitted_activations" and len(rec["layers"]) == len(arrays)
    assert rec["provenance"] == "self_reported"
    result = verify(bundle, registry_spec=REGISTRY)
    assert result.passed and result.digest_matches
    bad = tmp_path / "bad.npz"
    np.savez(bad, probe_hash="0" * 64, train_accuracy=0.5, test_accuracy=0.4, **arrays)
    with pytest.raises(SubmissionError, match=r"probe_hash: .* is not task 'digits'"):
        submit_activations(
            REGISTRY / "models" / "mlp.yaml", bad, "digits", tmp_path / "bundle2", registry_spec=REGISTRY
        )
    assert not (tmp_path / "bundle2").exists()


def test_from_a_submission_to_the_leaderboard(user_entry, tmp_path):
    """A user's own module:function model: submit, verify, publish to a store, build the site,
    and find the model there with its badge; a bundle that does not verify is refused."""
    import shutil

    from reptopo.analysis import analyze_store
    from reptopo.site import build_site
    from reptopo.store import ResultStore
    from reptopo.submission import publish

    bundle = submit(user_entry, "digits", tmp_path / "bundle", registry_spec=REGISTRY)
    store = tmp_path / "store"
    (store / "records").mkdir(parents=True)
    for rec in sorted(
        (ROOT / "site" / "reference" / "records").glob("mlp__digits__s*__label_noise-0.0__train_size-400__*")
    ):
        shutil.copy(rec, store / "records")
    published = publish(bundle, store, submitter="alice", registry_spec=REGISTRY, trust_builder="my_models")
    assert published.provenance == "verified_submission" and published.model == "alice.my_tiny_net"
    assert published.job_id == "alice.my_tiny_net__digits__s0__p3"
    assert (store / "entries" / "models" / "alice.my_tiny_net.yaml").is_file()
    claim = json.loads((store / "submitted" / f"{published.job_id}.claimed.json").read_text())
    assert claim["model"] == "my_tiny_net" and claim["provenance"] == "self_reported"  # kept apart, as it came
    assert published.n_parameters == claim["n_parameters"] and published.train.history == []
    assert {r.provenance for r in ResultStore(store).records()} == {"benchmark", "verified_submission"}
    with pytest.raises(SubmissionError, match="already in the store"):
        publish(bundle, store, submitter="alice", registry_spec=REGISTRY, trust_builder="my_models")
    analyze_store(store, n_boot=50)
    out = build_site(store, tmp_path / "site")
    page = (out / "models" / "alice-my-tiny-net" / "index.html").read_text()
    assert 'rt-badge-verified_submission">verified submission</span>' in page
    assert "Registry entry" in page  # the published entry is shown with the model
    assert "Published by <code>alice</code>" in page
    board = (out / "leaderboard" / "index.html").read_text()
    assert "alice.my_tiny_net" in board and 'data-provenance_label="verified submission"' in board
    assert 'data-provenance_label="benchmark run"' in board and "all provenance" in board

    tampered = tmp_path / "tampered"
    shutil.copytree(bundle, tampered)
    rec = json.loads((tampered / "record.json").read_text())
    rec["layers"][1]["measures"]["twonn"]["dimension"] += 1.0
    rec["job_id"] = "tampered__p1"
    (tampered / "record.json").write_text(json.dumps(rec))
    manifest = json.loads((tampered / "manifest.json").read_text())
    import hashlib

    manifest["record.json"] = hashlib.sha256((tampered / "record.json").read_bytes()).hexdigest()
    (tampered / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SubmissionError, match="verification failed, not published.*twonn.dimension"):
        publish(tampered, store, submitter="bob", registry_spec=REGISTRY, trust_builder="my_models")
    assert not (store / "records" / "tampered__p1.json").exists()
    assert not any((store / "records").glob("bob.*"))

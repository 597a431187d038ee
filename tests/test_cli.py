import json
import subprocess
import sys

import pytest

from reptopo import __version__


def run(*args):
    return subprocess.run([sys.executable, "-m", "reptopo.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_help_and_version():
    res = run("--help")
    assert res.returncode == 0
    for cmd in ("list", "validate", "run", "measure", "analyze", "site", "cite"):
        assert cmd in res.stdout
    assert run("--version").stdout.strip() == f"reptopo {__version__}"


@pytest.mark.slow
def test_list_shows_entries():
    assert "resnet_small" in run("list", "models").stdout
    assert "rotten_tomatoes" in run("list", "tasks").stdout
    assert "quick" in run("list", "suites").stdout


@pytest.mark.slow
def test_measure_a_layer_file(tmp_path):
    import numpy as np

    path = tmp_path / "acts.npy"
    np.save(path, np.random.default_rng(0).uniform(size=(300, 2)))
    res = run("measure", str(path), "--layer", "fc")
    assert res.returncode == 0 and '"phdim"' in res.stdout
    bad = tmp_path / "bad.npy"
    np.save(bad, np.full((300, 2), np.nan))
    res = run("measure", str(bad), "--layer", "fc")
    assert res.returncode == 1 and "layer 'fc'" in res.stdout


@pytest.mark.slow
def test_cite_quotes_scores_digests_and_the_page():
    res = run("cite", "lenet", "--task", "mnist")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "@misc{reptopo:lenet:mnist:p3" in out and "test accuracy 0.954 [0.943, 0.965] over 6 records" in out
    assert "PHdim (last hidden layer) calibrated, 95\\% interval, per record: 4.7 [4.17, 5.63]" in out
    assert "PHdim (last hidden layer)" in out and "TwoNN (last hidden layer)" in out and "linear probe" in out
    assert "protocol version 3" in out and "record digests" in out and "models/lenet/" in out
    assert "@misc{reptopo2026" in out


def _one_line_error(res, status=2):
    """One line on stderr, no traceback, the given exit status."""
    assert res.returncode == status, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("reptopo: "), res.stderr
    return lines[0]


@pytest.mark.slow
def test_user_errors_are_one_line_with_what_to_do(tmp_path):
    # unknown names
    assert "no suite named 'nope'" in _one_line_error(run("run", "--suite", "nope"))
    # a missing file
    assert "missing.npy: no such file" in _one_line_error(run("measure", str(tmp_path / "missing.npy")))
    # an absent store, and an empty one
    msg = _one_line_error(run("site", "build", "--store", str(tmp_path / "absent"), "--out", str(tmp_path / "out")))
    assert "no result store here" in msg and "--store site/reference" in msg
    (tmp_path / "empty" / "records").mkdir(parents=True)
    assert "holds no records" in _one_line_error(run("analyze", "--store", str(tmp_path / "empty")))
    assert "holds no records" in _one_line_error(run("cite", "lenet", "--store", str(tmp_path / "empty")))
    # a malformed registry entry and a malformed record
    bad_registry = tmp_path / "reg" / "models"
    bad_registry.mkdir(parents=True)
    (bad_registry / "bad.yaml").write_text("kind: model\nname: [unclosed\n")
    assert "bad.yaml" in _one_line_error(run("--registry", str(tmp_path / "reg"), "list", "models"))
    store = tmp_path / "store" / "records"
    store.mkdir(parents=True)
    (store / "x.json").write_text(json.dumps({"schema": 2, "job_id": "x"}))
    msg = _one_line_error(run("cite", "x", "--store", str(tmp_path / "store")))
    assert "x.json" in msg and "model: Field required" in msg
    (store / "x.json").write_text("{not json")
    assert "x.json:1: not valid JSON" in _one_line_error(run("site", "build", "--store", str(tmp_path / "store")))
    # a task that needs the network, offline
    msg = _one_line_error(
        run("submit", "registry/models/mlp.yaml", "--task", "mnist_hub", "--out", str(tmp_path / "b"))
    )
    assert "mnist_hub" in msg and "offline task 'mnist'" in msg and not (tmp_path / "b").exists()
    # a model with no records in the store
    assert "no records of model 'no_such_model'" in _one_line_error(run("cite", "no_such_model"))
    # --debug shows the traceback
    res = run("--debug", "measure", str(tmp_path / "missing.npy"))
    assert res.returncode != 0 and "Traceback" in res.stderr


@pytest.mark.slow
def test_cuda_without_a_gpu_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    res = run("run", "--suite", "smoke", "--device", "cuda")
    assert "no CUDA device" in _one_line_error(res)


def test_a_censored_score_is_cited_as_a_bound_never_averaged():
    from reptopo.cite import describe_score

    assert describe_score([1.0, 2.0]) == "1.5 [1, 2] over 2 records"
    text = describe_score([None, 3.0, 4.0], [True, False, False])
    assert text.startswith("censored in 1 of 3 records") and "3.5" not in text
    assert describe_score([None, None]) == "not measured"


def test_a_bug_is_an_internal_error_not_a_users_mistake(monkeypatch, capsys):
    """A KeyError raised by a bug inside a command (a record read with a missing key) exits 1 and
    says "internal error" with the --debug hint; an unknown name, a ReptopoError, exits 2."""
    from reptopo import cli
    from reptopo.errors import UnknownName

    def buggy(args):
        return {}["train"]

    monkeypatch.setattr(cli, "_cmd_collect", buggy)
    assert cli.main(["collect", "--store", "x"]) == 1
    err = capsys.readouterr().err
    assert "internal error: KeyError: 'train'" in err and "--debug" in err and err.count("\n") == 1
    with pytest.raises(KeyError):
        cli.main(["--debug", "collect", "--store", "x"])

    def unknown(args):
        raise UnknownName("no model named 'x'; known: ['lenet']")

    monkeypatch.setattr(cli, "_cmd_collect", unknown)
    assert cli.main(["collect", "--store", "x"]) == 2
    assert capsys.readouterr().err == "reptopo: no model named 'x'; known: ['lenet']\n"
    assert issubclass(UnknownName, KeyError)  # callers that catch KeyError still catch it

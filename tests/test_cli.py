import subprocess
import sys

import pytest

from reptopo import __version__


def run(*args):
    return subprocess.run([sys.executable, "-m", "reptopo.cli", *args], capture_output=True, text=True, timeout=120)


def test_help_and_version():
    res = run("--help")
    assert res.returncode == 0
    for cmd in ("list", "validate", "run", "measure", "analyze", "site", "cite"):
        assert cmd in res.stdout
    assert run("--version").stdout.strip() == f"reptopo {__version__}"


def test_list_shows_entries():
    assert "resnet_small" in run("list", "models").stdout
    assert "rotten_tomatoes" in run("list", "tasks").stdout
    assert "quick" in run("list", "suites").stdout


def test_unknown_suite_is_a_clear_error():
    res = run("run", "--suite", "nope")
    assert res.returncode == 2 and "no suite named 'nope'" in res.stderr


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


def test_cite_prints_bibtex_or_says_what_is_missing(tmp_path):
    res = run("cite", "no_such_model", "--store", str(tmp_path))
    assert res.returncode == 1 and "no records of model 'no_such_model'" in res.stderr


@pytest.mark.slow
def test_cuda_without_a_gpu_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    res = run("run", "--suite", "smoke", "--device", "cuda")
    assert res.returncode == 2 and "no CUDA device" in res.stderr

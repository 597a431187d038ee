"""reptopo built as a wheel and installed into a fresh virtual environment outside the checkout:
the shipped registry, a user's own entries beside it, one layer measured, and a site built.

The new environment reuses the prepared dependencies (a .pth file names this environment's
site-packages) and gets only the wheel itself, so nothing of the checkout is importable there.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

USER_MODEL = """kind: model
name: my_mlp
version: 1
family: mlp
modality: vision
description: A user's own entry, beside the shipped ones.
builder: mlp
params: {width: 32, depth: 2}
layers:
  - {name: input, depth: 0.0, role: input}
  - {name: hidden.0, depth: 0.5, role: block}
  - {name: head, depth: 1.0, role: head}
license: MIT
"""


def _run(env: Path, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = env / "bin" / args[0]
    environ = {k: v for k, v in os.environ.items() if k not in ("REPTOPO_REGISTRY", "PYTHONPATH")}
    res = subprocess.run([str(exe), *args[1:]], cwd=cwd, capture_output=True, text=True, env=environ, timeout=600)
    if check:
        assert res.returncode == 0, f"{args}: {res.stdout[-2000:]}\n{res.stderr[-4000:]}"
    return res


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a clean copy: building must not write into the checkout
    skip = shutil.ignore_patterns(".git", ".venv", "results", "build", "*.egg-info", "__pycache__")

    def ignore(folder, names):  # and the checkout's own site/ (reference results, built pages)
        return skip(folder, names) | ({"site"} if Path(folder) == ROOT else set())

    shutil.copytree(ROOT, source, symlinks=True, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            str(source),
            "-w",
            str(tmp / "dist"),
        ],
        check=True,
        timeout=300,
    )
    wheel = next((tmp / "dist").glob("reptopo-*.whl"))
    env = tmp / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    purelib = Path(
        subprocess.run(
            [str(env / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (purelib / "_prepared_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(env, tmp, "python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel))
    work = tmp / "work"
    work.mkdir()
    return env, work


def test_the_installed_package_is_the_wheel(installed):
    env, work = installed
    where = _run(env, work, "python", "-c", "import reptopo; print(reptopo.__file__)").stdout.strip()
    assert str(env) in where and str(ROOT) not in where


def test_list_finds_the_shipped_entries_outside_a_checkout(installed):
    env, work = installed
    out = _run(env, work, "reptopo", "list", "models").stdout
    assert "lenet" in out and "builtin" in out
    assert "quick" in _run(env, work, "reptopo", "list", "suites").stdout


def test_a_users_registry_adds_to_the_shipped_one(installed):
    env, work = installed
    user = work / "my_registry"
    (user / "models").mkdir(parents=True)
    (user / "models" / "my_mlp.yaml").write_text(USER_MODEL)
    assert "ok:" in _run(env, work, "reptopo", "validate", str(user / "models" / "my_mlp.yaml")).stdout
    assert "ok:" in _run(env, work, "reptopo", "validate", str(user)).stdout
    out = _run(env, work, "reptopo", "--registry", str(user), "list", "models").stdout
    assert "my_mlp" in out and "lenet" in out and "my_registry" in out
    (user / "models" / "broken.yaml").write_text(
        USER_MODEL.replace("version: 1", "version: one").replace("my_mlp", "b")
    )
    res = _run(env, work, "reptopo", "validate", str(user), check=False)
    assert res.returncode == 1 and "broken.yaml:3: version" in res.stderr


def test_measure_and_site_build_from_the_wheel(installed):
    env, work = installed
    rng = np.random.default_rng(0)
    np.save(work / "acts.npy", rng.normal(size=(300, 8)))
    np.save(work / "y.npy", np.arange(300) % 3)
    res = json.loads(_run(env, work, "reptopo", "measure", "acts.npy", "--labels", "y.npy", "--layer", "fc").stdout)
    assert res["n_points"] == 300 and "phdim" in res and "persistence" in res
    store = work / "store"
    (store / "records").mkdir(parents=True)
    for rec in sorted(
        (ROOT / "site" / "reference" / "records").glob(
            "mlp__digits__s*__label_noise-0.0__train_size-400__width-*__p3.*"
        )
    ):
        shutil.copy(rec, store / "records")
    assert len(list((store / "records").glob("*.json"))) >= 6
    _run(env, work, "reptopo", "site", "build", "--store", str(store), "--out", str(work / "built"))
    index = (work / "built" / "index.html").read_text()
    assert "reptopo leaderboard" in index
    assert (work / "built" / "assets" / "reptopo.css").is_file() and (
        work / "built" / "models" / "mlp" / "index.html"
    ).is_file()


def test_the_calibration_tables_ship_in_the_wheel(installed):
    env, work = installed
    code = (
        "import numpy as np; from reptopo.measures import phdim; "
        "r = phdim(np.random.default_rng(0).normal(size=(1000, 8)), pool_size=1000); "
        "print(r.calibrated.describe())"
    )
    out = _run(env, work, "python", "-c", code).stdout.strip()
    assert out[0].isdigit() and "[" in out  # a value and its interval, read from the shipped table

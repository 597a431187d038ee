import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import tiny_registry

from reptopo.pipeline.jobs import Job
from reptopo.pipeline.runner import expand, run_jobs
from reptopo.registry import Registry
from reptopo.store import ResultStore

pytestmark = pytest.mark.slow


def test_expand_crosses_models_tasks_seeds_axes_and_controls():
    suite = Registry(Path(__file__).resolve().parents[1] / "registry").suite("quick")
    jobs = expand(suite)
    assert len(jobs) == len(set(jobs))
    mnist = [j for j in jobs if j.task == "mnist" and j.model == "lenet" and not j.control]
    assert len(mnist) == 3 * 2 and {dict(j.axes)["width"] for j in mnist} == {0.5, 1.0}
    digits = [j for j in jobs if j.task == "digits" and j.model == "mlp"]
    assert len(digits) == 3 * 8
    assert {j.control for j in jobs} == {None, "random_init", "shuffled_labels"}
    trained = [j for j in jobs if not j.control]
    assert len(trained) >= 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_local_cluster_survives_a_killed_worker(tmp_path):
    from dask.distributed import Client, LocalCluster

    reg = tiny_registry(tmp_path / "reg", seeds=(0, 1, 2, 3), epochs=60)
    store = tmp_path / "store"
    jobs = expand(Registry(reg).suite("tiny"))
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        import threading

        def kill_one_worker_mid_job():
            deadline = time.time() + 120
            while time.time() < deadline and not any((store / "scratch").glob("*")):
                time.sleep(0.2)
            pids = client.run(os.getpid)
            os.kill(next(iter(pids.values())), signal.SIGKILL)

        killer = threading.Thread(target=kill_one_worker_mid_job)
        killer.start()
        summary = run_jobs(jobs, str(reg), str(store), client=client, progress=False)
        killer.join()
    assert summary.failed == [] and len(summary.done) == len(jobs)
    assert len(ResultStore(store).records()) == len(jobs)


def test_runs_on_a_scheduler_started_as_a_separate_process(tmp_path):
    reg = tiny_registry(tmp_path / "reg", seeds=(0,), epochs=5, controls=())
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    sched = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", addr, "--nthreads", "1", "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "reptopo.cli",
                "--registry",
                str(reg),
                "run",
                "--suite",
                "tiny",
                "--store",
                str(tmp_path / "store"),
                "--address",
                addr,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert res.returncode == 0, res.stderr[-2000:]
        assert "1 done" in res.stdout
        assert len(ResultStore(tmp_path / "store").records()) == 1
    finally:
        worker.terminate()
        sched.terminate()
        worker.wait(30)
        sched.wait(30)


def test_a_killed_run_resumes_and_loses_nothing(tmp_path):
    reg = tiny_registry(tmp_path / "reg", seeds=(0, 1, 2), epochs=40, controls=())
    store = tmp_path / "store"
    cmd = [
        sys.executable,
        "-m",
        "reptopo.cli",
        "--registry",
        str(reg),
        "run",
        "--suite",
        "tiny",
        "--store",
        str(store),
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and not list((store / "records").glob("*.json")):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {p.name: p.read_bytes() for p in (store / "records").glob("*.json")}
    assert 1 <= len(first) < 3
    for p in (store / "records").glob("*.json"):  # every visible record is complete JSON
        assert p.read_text().rstrip().endswith("}")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"{len(first)} skipped" in res.stdout
    # a log (not a terminal) gets a line per finished job, with the count, elapsed time and an estimate
    n_left = 3 - len(first)
    assert f"[{n_left}/{n_left}] mlp__digits__" in res.stderr and "elapsed" in res.stderr and "left" in res.stderr
    after = {p.name: p.read_bytes() for p in (store / "records").glob("*.json")}
    assert len(after) == 3 and all(after[n] == b for n, b in first.items())


def test_jobs_name_themselves_stably():
    job = Job("mlp", "digits", 2, (("label_noise", 0.2), ("width", 0.5)), None)
    assert job.job_id(1) == "mlp__digits__s2__label_noise-0.2__width-0.5__p1"


def test_measuring_at_a_checkpoint_never_counts_against_the_training_budget():
    """A checkpoint's measures that take longer than the whole budget leave every epoch to run;
    training that itself outlasts the budget still stops."""
    import time

    import torch
    from torch import nn

    from reptopo.pipeline.train import train
    from reptopo.registry import TrainRecipe

    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()
    recipe = TrainRecipe(epochs=4, batch_size=16, max_seconds=0.2)
    slow_measure = lambda epoch, model: time.sleep(0.3)  # noqa: E731
    res = train(nn.Linear(4, 2), x, y, x, y, recipe, seed=0, checkpoint_epochs=(0, 1, 2), on_checkpoint=slow_measure)
    assert res.epochs_run == 4

    class Slow(nn.Linear):
        def forward(self, inp):
            time.sleep(0.1)
            return super().forward(inp)

    assert train(Slow(4, 2), x, y, x, y, recipe, seed=0).epochs_run < 4

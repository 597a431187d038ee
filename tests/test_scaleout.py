"""Scale-out for real: the --slurm options' schema, a one-node Slurm cluster and a multi-process
Dask cluster running a suite, and a worker killed mid-suite without a finished record lost."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clusters import dask_cluster, slurm_cluster, slurm_jobs, wait_until
from helpers import tiny_registry

from reptopo.pipeline.runner import SLURM_OWN_KEYS, SlurmOptionsError, slurm_cluster_keys, slurm_options


def reptopo(*args, env=None, cwd=None, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reptopo.cli", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )


# --- the options' schema ----------------------------------------------------------------------


def test_reptopos_own_keys_are_taken_out_and_the_log_folder_defaults_to_the_store(tmp_path):
    own, kwargs = slurm_options('{"cores": 1, "memory": "4GB", "jobs": 2, "walltime": "00:20:00"}', str(tmp_path))
    assert own == {"jobs": 2} and "jobs" not in kwargs
    assert kwargs == {"cores": 1, "memory": "4GB", "walltime": "00:20:00", "log_directory": str(tmp_path / "logs")}
    assert set(kwargs) <= set(slurm_cluster_keys())
    # a file, YAML or JSON, and a log folder of the user's own
    f = tmp_path / "slurm.yaml"
    f.write_text("cores: 2\nmemory: 8GB\nadapt_minimum: 0\nadapt_maximum: 4\nlog_directory: /tmp/mine\n")
    own, kwargs = slurm_options(str(f), str(tmp_path))
    assert own == {"adapt_minimum": 0, "adapt_maximum": 4} and kwargs["log_directory"] == "/tmp/mine"
    # keys left out come from dask-jobqueue's own configuration (jobqueue.yaml): nothing is required
    assert slurm_options("{}", str(tmp_path)) == ({}, {"log_directory": str(tmp_path / "logs")})


@pytest.mark.parametrize(
    "value,message",
    [
        (
            '{"cores": 1, "jobz": 2}',
            "unknown key 'jobz'; reptopo's keys: jobs, adapt_minimum, adapt_maximum; "
            "dask-jobqueue's SLURMCluster keys: account,",
        ),
        ('{"jobs": 0}', "jobs must be a whole number (>= 1), got 0"),
        ('{"jobs": "2"}', "jobs must be a whole number"),
        ('{"adapt_maximum": 3}', "adapt_minimum and adapt_maximum go together"),
        ("[1, 2]", "neither inline JSON"),
        ('{"cores": ', "does not parse as JSON or YAML"),
        ("no/such/file.yaml", "neither inline JSON (starting with '{') nor a YAML or JSON file"),
    ],
)
def test_a_bad_slurm_value_is_one_line_naming_the_key(value, message, tmp_path):
    with pytest.raises(SlurmOptionsError) as err:
        slurm_options(value, str(tmp_path))
    assert message in str(err.value)


def test_the_cli_refuses_an_unknown_slurm_key_with_exit_2(tmp_path):
    res = reptopo(
        "run", "--suite", "smoke", "--store", str(tmp_path / "s"), "--slurm", '{"jobs": 2, "queue_name": "x"}'
    )
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "unknown key 'queue_name'" in res.stderr and "queue" in res.stderr and "internal error" not in res.stderr
    assert set(SLURM_OWN_KEYS) == {"jobs", "adapt_minimum", "adapt_maximum"}


# --- real clusters ------------------------------------------------------------------------------


def _records(store: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((store / "records").glob("*.json"))]


def _run_in_background(args, env, cwd) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "reptopo.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


def _run_and_kill(args, env, cwd, store: Path, kill, before=None) -> tuple[subprocess.Popen, str, str, float]:
    """Run ``reptopo args`` in the background; once ``before()`` (if given) holds and a first
    record is stored, call ``kill()``; then wait for the run to end. Returns (process, stdout,
    stderr, wall seconds)."""
    start = time.monotonic()
    proc = _run_in_background(args, env, cwd)
    try:
        if before is not None:
            before()
        wait_until(lambda: len(list((store / "records").glob("*.json"))) >= 1, 300, "a first record")
        kill()
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc, out, err, time.monotonic() - start


SLURM = {"cores": 1, "memory": "3GB", "processes": 1, "walltime": "00:20:00", "jobs": 2, "death_timeout": 120}


def _all_stored(out: str, n: int) -> bool:
    """Whether the run's summary says every one of ``n`` jobs is stored and none failed. A job
    whose worker died after writing its record is run again elsewhere and found stored: it
    counts as skipped, not done (the store's idempotence), so the two are added."""
    m = re.search(r"(\d+) done, (\d+) skipped \(already stored\), 0 failed", out)
    return m is not None and int(m.group(1)) + int(m.group(2)) == n


@pytest.mark.slow
def test_a_suite_runs_on_slurm_jobs_and_survives_a_cancelled_one(tmp_path):
    """Six jobs on two Slurm jobs (one Dask worker each). When the first record is written, one
    Slurm job is cancelled with scancel: its task is retried on the other worker, every record is
    written, none is lost, each names the Slurm job that ran it, and a rerun skips them all."""
    reg = tiny_registry(tmp_path / "reg", seeds=(0, 1, 2))  # six jobs: three seeds and their controls
    store = tmp_path / "store"
    with slurm_cluster(tmp_path / "slurm") as env:
        seen: set = set()

        def two_running():
            wait_until(
                lambda: len([j for j in slurm_jobs(env) if j[1] == "RUNNING"]) == 2, 120, "two Slurm jobs running"
            )
            seen.update(j for j, _ in slurm_jobs(env))

        proc, out, err, wall = _run_and_kill(
            [
                "--registry",
                str(reg),
                "run",
                "--suite",
                "tiny",
                "--store",
                str(store),
                "--no-compare",
                "--slurm",
                json.dumps(SLURM),
            ],
            env,
            tmp_path,
            store,
            kill=lambda: subprocess.run(["scancel", sorted(seen)[0]], env=env, check=True),
            before=two_running,
        )
        assert proc.returncode == 0, err[-3000:]
        records = _records(store)
        assert len(records) == 6 and _all_stored(out, 6)
        ids = {r["ran_on"]["slurm_job_id"] for r in records}
        assert None not in ids and ids <= seen | {str(int(max(seen)) + k) for k in range(1, 5)}
        assert all(r["ran_on"]["host"] and r["ran_on"]["worker"] for r in records)
        # the workers' logs went to the store, not to the directory the command ran in
        assert list((store / "logs").glob("*.err")) and not list(tmp_path.glob("slurm-*.out"))
        rerun = reptopo(
            "--registry",
            str(reg),
            "run",
            "--suite",
            "tiny",
            "--store",
            str(store),
            "--no-compare",
            "--slurm",
            json.dumps(SLURM),
            env=env,
            cwd=tmp_path,
        )
        assert rerun.returncode == 0 and "0 done, 6 skipped" in rerun.stdout
    print(f"\ntiny suite (6 jobs) on two Slurm jobs, one cancelled mid-suite: {wall:.0f} s")


@pytest.mark.slow
def test_the_smoke_suite_on_slurm(tmp_path):
    with slurm_cluster(tmp_path / "slurm") as env:
        start = time.monotonic()
        res = reptopo(
            "run",
            "--suite",
            "smoke",
            "--store",
            str(tmp_path / "store"),
            "--no-compare",
            "--slurm",
            json.dumps({**SLURM, "jobs": 1}),
            env=env,
            cwd=tmp_path,
        )
        wall = time.monotonic() - start
        assert res.returncode == 0, res.stderr[-3000:]
        records = _records(tmp_path / "store")
        assert len(records) == 2 and all(r["ran_on"]["slurm_job_id"] for r in records)
    print(f"\nsmoke suite on Slurm: {wall:.0f} s")


@pytest.mark.slow
def test_a_suite_runs_on_a_multi_process_dask_cluster_and_survives_a_killed_worker(tmp_path):
    reg = tiny_registry(tmp_path / "reg", seeds=(0, 1, 2))  # six jobs: three seeds and their controls
    store = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if k != "SLURM_JOB_ID"}
    with dask_cluster(tmp_path / "dask") as (address, workers):
        proc, out, err, wall = _run_and_kill(
            [
                "--registry",
                str(reg),
                "run",
                "--suite",
                "tiny",
                "--store",
                str(store),
                "--no-compare",
                "--address",
                address,
            ],
            env,
            tmp_path,
            store,
            kill=workers[0].kill,
        )  # a worker process dies mid-suite
        assert proc.returncode == 0, err[-3000:]
        records = _records(store)
        assert len(records) == 6 and _all_stored(out, 6)
        assert all(r["ran_on"]["worker"] and r["ran_on"]["slurm_job_id"] is None for r in records)
        assert {r["ran_on"]["host"] for r in records} == {socket.gethostname()}
    print(f"\ntiny suite (6 jobs) on a scheduler and two worker processes, one killed mid-suite: {wall:.0f} s")

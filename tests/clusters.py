"""Real clusters for the scale-out tests: a one-node Slurm cluster (Debian's slurm-wlm and munge,
installed by scripts/slurm.sh) and a multi-process Dask cluster, each started and stopped here.

Everything lives in a temporary folder: a slurm.conf generated for this host, munged on its own
socket, slurmctld and slurmd on free ports, and ``SLURM_CONF`` pointing at it for the commands
(sbatch, squeue, scancel) that the tests and dask-jobqueue call.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout: float, what: str, interval: float = 0.5):
    """``condition()``'s first true value, polled every ``interval`` s; TimeoutError naming ``what``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} within {timeout:.0f} s")


SLURM_CONF = """ClusterName=reptopo-tests
SlurmctldHost={host}
SlurmUser={user}
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=tests Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def slurm_available() -> str | None:
    """Why a Slurm cluster cannot be started here (None when it can)."""
    missing = [b for b in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel") if not shutil.which(b)]
    if missing:
        return f"{', '.join(missing)} not installed (scripts/slurm.sh installs Debian's slurm-wlm and munge)"
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs as the submitting user"
    if not Path("/etc/munge/munge.key").is_file():
        return "/etc/munge/munge.key is missing (Debian's munge package creates it)"
    return None


@contextmanager
def slurm_cluster(root: Path):
    """A running one-node Slurm cluster; yields the environment that its commands need."""
    why = slurm_available()
    if why:
        pytest.skip(why)
    root.mkdir(parents=True, exist_ok=True)
    (root / "state").mkdir(exist_ok=True)
    (root / "spool").mkdir(exist_ok=True)
    memory_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
    conf = root / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(
            host=socket.gethostname(),
            user="root",
            root=root,
            ctld_port=_free_port(),
            slurmd_port=_free_port(),
            cpus=os.cpu_count(),
            memory_mb=memory_mb,
        )
    )
    env = {**os.environ, "SLURM_CONF": str(conf)}
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    "munged",
                    "--foreground",
                    "--force",
                    f"--socket={root}/munge.socket",
                    f"--pid-file={root}/munged.pid",
                    f"--log-file={root}/munged.log",
                    f"--seed-file={root}/munged.seed",
                ],
                stderr=subprocess.DEVNULL,
            )
        )
        wait_until(lambda: (root / "munge.socket").exists(), 20, "munged did not open its socket")
        for daemon in ("slurmctld", "slurmd"):
            procs.append(
                subprocess.Popen(
                    [daemon, "-D", "-f", str(conf)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )

        def idle():
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            return out.returncode == 0 and "idle" in out.stdout

        wait_until(idle, 60, "the Slurm node did not come up idle (see slurmctld.log and slurmd.log)")
        yield env
    finally:
        subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True)
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def slurm_jobs(env: dict) -> list[tuple[str, str]]:
    """(job id, state) of the jobs in the queue."""
    out = subprocess.run(["squeue", "-h", "-o", "%i %T"], env=env, capture_output=True, text=True, check=True).stdout
    return [tuple(line.split()) for line in out.splitlines() if line.strip()]


@contextmanager
def dask_cluster(root: Path, n_workers: int = 2, python: str | None = None):
    """A Dask scheduler and ``n_workers`` worker processes (one thread each), each its own OS
    process; yields (scheduler address, list of worker Popen)."""
    import sys

    python = python or sys.executable
    root.mkdir(parents=True, exist_ok=True)
    sched_file = root / "scheduler.json"
    procs = [
        subprocess.Popen(
            [
                python,
                "-m",
                "distributed.cli.dask_scheduler",
                "--scheduler-file",
                str(sched_file),
                "--port",
                "0",
                "--dashboard-address",
                ":0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(root / "scheduler.log", "w"),
        )
    ]
    workers = []
    try:
        wait_until(sched_file.is_file, 60, "the Dask scheduler did not write its file")
        import json

        address = json.loads(sched_file.read_text())["address"]
        for i in range(n_workers):
            w = subprocess.Popen(
                [
                    python,
                    "-m",
                    "distributed.cli.dask_worker",
                    address,
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--name",
                    f"w{i}",
                    "--no-nanny",
                    "--dashboard-address",
                    ":0",
                ],
                stdout=subprocess.DEVNULL,
                stderr=open(root / f"worker{i}.log", "w"),
            )
            workers.append(w)
        from distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(n_workers, timeout=60)
        yield address, workers
    finally:
        for p in workers + procs:
            if p.poll() is None:
                p.terminate()
        for p in workers + procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()

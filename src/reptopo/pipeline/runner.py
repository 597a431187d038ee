"""Suites to jobs, and jobs onto Dask: a LocalCluster by default, a scheduler address, or Slurm."""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..errors import SlurmOptionsError
from ..protocol import CURRENT_VERSION
from ..registry import Registry, SuiteEntry
from .jobs import Job, run_job


def expand(suite: SuiteEntry) -> list[Job]:
    """Every job of a suite: models x tasks x seeds x axis values, plus the controls."""
    jobs: list[Job] = []
    for grid in suite.grids:
        names = sorted(grid.axes)
        combos = list(itertools.product(*(grid.axes[a] for a in names))) or [()]
        for model, task, seed in itertools.product(grid.models, grid.tasks, grid.seeds):
            for values in combos if grid.trained else []:
                jobs.append(Job(model, task, seed, tuple(zip(names, values))))
            for control in grid.controls:
                jobs.append(Job(model, task, seed, (), control))
    seen, unique = set(), []
    for j in jobs:
        if j not in seen:
            seen.add(j)
            unique.append(j)
    return unique


@dataclass
class RunSummary:
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    seconds: float = 0.0


# reptopo's own keys of --slurm, taken out before the rest reaches dask_jobqueue.SLURMCluster
SLURM_OWN_KEYS = {
    "jobs": "how many Slurm jobs (each one Dask worker process by default) to start; default --workers",
    "adapt_minimum": "with adapt_maximum: let Dask add and remove Slurm jobs between these counts instead of a fixed number",
    "adapt_maximum": "the most Slurm jobs that adaptive scaling starts",
}


def slurm_cluster_keys() -> list[str]:
    """The keyword arguments that dask_jobqueue's SLURMCluster (and its job class) accept."""
    import inspect

    from dask_jobqueue.core import Job, JobQueueCluster
    from dask_jobqueue.slurm import SLURMJob

    names = set()
    for fn in (SLURMJob.__init__, Job.__init__, JobQueueCluster.__init__):
        names |= {
            p
            for p in inspect.signature(fn).parameters
            if p not in ("self", "args", "kwargs", "job_kwargs", "base_class_kwargs", "scheduler", "job_cls")
        }
    return sorted(names)


def slurm_options(value: str | None, store_root: str | None = None) -> tuple[dict, dict] | None:
    """(reptopo's keys, SLURMCluster's keyword arguments) of a ``--slurm`` value: inline JSON,
    or the path of a YAML or JSON file. Keys left out come from dask-jobqueue's own
    configuration (``~/.config/dask/jobqueue.yaml``); ``log_directory`` defaults to the store's
    ``logs/`` folder, so that the workers' ``slurm-N.out`` files do not land in the current one.

    Raises
    ------
    SlurmOptionsError
        A value that does not parse, is not a mapping, or has a key that neither reptopo nor
        dask-jobqueue knows (the message lists both sets of keys).
    """
    from pathlib import Path

    import yaml

    if value is None:
        return None
    source = "--slurm"
    text = value
    if not value.lstrip().startswith("{"):
        path = Path(value)
        if not path.is_file():
            raise SlurmOptionsError(
                f"--slurm {value!r}: neither inline JSON (starting with '{{') nor a YAML or JSON file"
            )
        source, text = str(path), path.read_text()
    try:
        data = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as exc:
        raise SlurmOptionsError(f"{source}: does not parse as JSON or YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise SlurmOptionsError(f'{source}: must be a mapping of keys to values, e.g. {{"cores": 1, "memory": "4GB"}}')
    known = slurm_cluster_keys()
    unknown = sorted(set(data) - set(known) - set(SLURM_OWN_KEYS))
    if unknown:
        raise SlurmOptionsError(
            f"{source}: unknown key {unknown[0]!r}; reptopo's keys: {', '.join(SLURM_OWN_KEYS)}; "
            f"dask-jobqueue's SLURMCluster keys: {', '.join(known)}"
        )
    own = {k: data.pop(k) for k in list(data) if k in SLURM_OWN_KEYS}
    for key, v in own.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < (0 if key == "adapt_minimum" else 1):
            raise SlurmOptionsError(
                f"{source}: {key} must be a whole number (>= {0 if key == 'adapt_minimum' else 1}), got {v!r}"
            )
    if ("adapt_minimum" in own) != ("adapt_maximum" in own):
        raise SlurmOptionsError(f"{source}: adapt_minimum and adapt_maximum go together")
    if store_root is not None and "log_directory" not in data:
        data["log_directory"] = str(Path(store_root) / "logs")
    return own, data


def make_client(address: str | None = None, n_workers: int = 2, slurm: tuple[dict, dict] | None = None):
    """A Dask client: on the scheduler at ``address``, on Slurm jobs (``slurm``: the pair that
    :func:`slurm_options` returns), or on a LocalCluster of ``n_workers`` processes."""
    from dask.distributed import Client, LocalCluster

    if address:
        return Client(address, timeout="30s")
    if slurm is not None:
        from dask_jobqueue import SLURMCluster

        own, kwargs = slurm
        if kwargs.get("log_directory"):
            os.makedirs(kwargs["log_directory"], exist_ok=True)
        slurm_cluster = SLURMCluster(**kwargs)
        if "adapt_maximum" in own:
            slurm_cluster.adapt(minimum_jobs=own["adapt_minimum"], maximum_jobs=own["adapt_maximum"])
        else:
            slurm_cluster.scale(jobs=own.get("jobs", n_workers))
        return Client(slurm_cluster)
    # One thread per worker process: torch and BLAS are pinned to one core each.
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    return Client(cluster)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def progress_line(done: int, total: int, result: dict, elapsed: float) -> str:
    """One log line per finished job: count, job, status, elapsed time and an estimate of what is left."""
    left = elapsed / done * (total - done)
    return (
        f"[{done}/{total}] {result['job_id']} {result['status']}; elapsed {_clock(elapsed)}, about {_clock(left)} left"
    )


def _drain(
    client,
    tasks: Sequence[tuple[str, Callable[..., Mapping[str, Any]], tuple]],
    summary: RunSummary,
    progress: bool,
    label: str,
) -> None:
    """Submit ``(key, function, args)`` tasks to ``client`` and collect their results into
    ``summary`` as they finish, with a progress bar on a terminal or one line per task in a log."""
    from dask.distributed import as_completed
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    start = time.perf_counter()
    futures = [client.submit(fn, *args, key=f"reptopo-{key}", pure=False) for key, fn, args in tasks]
    interactive = progress and sys.stderr.isatty()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not interactive,
    ) as bar:
        task = bar.add_task(label, total=len(futures))
        for n, fut in enumerate(as_completed(futures), 1):
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - the worker died more often than allowed
                res = {
                    "job_id": fut.key.removeprefix("reptopo-"),
                    "status": "failed",
                    "error": f"{type(exc).__name__}: {exc}",
                }
            getattr(summary, res["status"]).append(res["job_id"] if res["status"] != "failed" else res)
            bar.update(task, advance=1, description=f"{res['job_id'][:60]} {res['status']}")
            if progress and not interactive:
                print(progress_line(n, len(futures), res, time.perf_counter() - start), file=sys.stderr, flush=True)


@contextmanager
def dask_client(address: str | None = None, n_workers: int = 2, slurm: tuple[dict, dict] | None = None):
    """:func:`make_client`'s client for the block; the client, and a cluster it started, are
    closed on exit, error or not (a scheduler at ``address`` is left running)."""
    client = make_client(address, n_workers, slurm)
    try:
        yield client
    finally:
        cluster = None if address else getattr(client, "cluster", None)
        client.close()
        if cluster is not None:
            cluster.close()


def _run_pending(
    tasks: Sequence[tuple[str, Callable[..., Mapping[str, Any]], tuple]],
    skipped: list[str],
    client,
    progress: bool,
    label: str,
) -> RunSummary:
    """Run ``tasks`` (key, function, args) on ``client`` (a LocalCluster of its own when None and
    there is work), with ``skipped`` already stored."""
    summary = RunSummary(skipped=list(skipped))
    start = time.perf_counter()
    if tasks and client is None:
        with dask_client() as own:
            _drain(own, tasks, summary, progress, label)
    elif tasks:
        _drain(client, tasks, summary, progress, label)
    summary.seconds = time.perf_counter() - start
    return summary


def run_jobs(
    jobs: list[Job],
    registry_spec: str,
    store_root: str,
    *,
    client=None,
    protocol_version: int = CURRENT_VERSION,
    device: str = "cpu",
    progress: bool = True,
) -> RunSummary:
    """Submit every job whose record is missing; a worker's death retries the job elsewhere
    (Dask reschedules it up to ``distributed.scheduler.allowed-failures`` times)."""
    from ..store import ResultStore

    store = ResultStore(store_root)
    ids = [j.job_id(protocol_version) for j in jobs]
    tasks = [
        (i, run_job, (j, str(registry_spec), str(store_root), protocol_version, device))
        for i, j in zip(ids, jobs)
        if not store.has(i)
    ]
    return _run_pending(tasks, [i for i in ids if store.has(i)], client, progress, "jobs")


def run_comparisons(
    pairs: list, registry_spec: str, store_root: str, *, client=None, progress: bool = True
) -> RunSummary:
    """The comparison stage (:mod:`reptopo.pipeline.compare`): every pair whose comparison record is missing."""
    from ..store import ResultStore
    from .compare import run_comparison

    store = ResultStore(store_root)
    ids = [p.comparison_id() for p in pairs]
    tasks = [
        (i, run_comparison, (p, str(registry_spec), str(store_root)))
        for i, p in zip(ids, pairs)
        if not store.has_comparison(i)
    ]
    return _run_pending(tasks, [i for i in ids if store.has_comparison(i)], client, progress, "comparisons")


@dataclass
class SuiteRun:
    """What :func:`run_suite` did: the jobs' summary, and the comparisons' (None when skipped)."""

    jobs: RunSummary
    comparisons: RunSummary | None

    @property
    def failed(self) -> list[dict]:
        return list(self.jobs.failed) + (list(self.comparisons.failed) if self.comparisons else [])


def run_suite(
    suite: str,
    store_root: str,
    *,
    registry_spec: str | None = None,
    address: str | None = None,
    workers: int = 2,
    slurm: tuple[dict, dict] | None = None,
    device: str = "cpu",
    protocol_version: int = CURRENT_VERSION,
    limit: int = 0,
    compare: bool = True,
    say: Callable[[str], None] = print,
) -> SuiteRun:
    """Both stages of a suite on one Dask client, which this function starts and closes: every
    job whose record is missing, then (``compare``) the comparisons of the suite's stored models.

    ``address``, ``workers`` and ``slurm`` (the pair :func:`slurm_options` returns) choose the
    cluster as :func:`make_client` does; ``limit`` runs only the first jobs; ``say`` receives
    one line per stage."""
    from ..store import ResultStore
    from .compare import plan

    registry = Registry(registry_spec)
    jobs = expand(registry.suite(suite))
    if limit:
        jobs = jobs[:limit]
    with dask_client(address, workers, slurm) as client:
        say(f"reptopo: suite {suite!r}: {len(jobs)} jobs -> {store_root}")
        summary = run_jobs(
            jobs, registry.spec, store_root, client=client, device=device, protocol_version=protocol_version
        )
        say(
            f"reptopo: {len(summary.done)} done, {len(summary.skipped)} skipped (already stored), "
            f"{len(summary.failed)} failed in {summary.seconds:.0f} s"
        )
        if not compare:
            return SuiteRun(summary, None)
        ids = {j.job_id(protocol_version) for j in jobs}
        records = [r for r in ResultStore(store_root).records() if r.job_id in ids]
        pairs = plan(records, registry, protocol_version=protocol_version)
        say(f"reptopo: comparison stage: {len(pairs)} pairs of models -> {store_root}/comparisons")
        compared = run_comparisons(pairs, registry.spec, store_root, client=client)
        say(
            f"reptopo: {len(compared.done)} compared, {len(compared.skipped)} skipped (already stored), "
            f"{len(compared.failed)} failed in {compared.seconds:.0f} s"
        )
    return SuiteRun(summary, compared)

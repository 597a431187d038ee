"""The ``reptopo`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__


def _cmd_list(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from .registry import Registry

    reg = Registry(args.registry)
    table = Table(title=f"{args.what} in {reg.root}")
    if args.what == "models":
        for col in ("name", "v", "family", "modality", "builder", "pretrained", "layers"):
            table.add_column(col)
        for m in reg.models.values():
            table.add_row(m.name, str(m.version), m.family, m.modality, m.builder,
                          f"{m.pretrained.source}/{m.pretrained.mode}" if m.pretrained else "-", str(len(m.layers)))
    elif args.what == "tasks":
        for col in ("name", "v", "modality", "loader", "classes", "train/test", "input"):
            table.add_column(col)
        for t in reg.tasks.values():
            table.add_row(t.name, str(t.version), t.modality, t.source.loader, str(t.num_classes),
                          f"{t.splits.train_size}/{t.splits.test_size}", "x".join(map(str, t.input_shape)))
    else:
        from .runner import expand

        for col in ("name", "v", "jobs", "description"):
            table.add_column(col)
        for s in reg.suites.values():
            table.add_row(s.name, str(s.version), str(len(expand(s))), s.description)
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return 0


def _cmd_validate(args) -> int:
    from .registry import validate_paths

    problems = validate_paths(args.paths)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"ok: {', '.join(args.paths)}")
    return 0


def _cmd_run(args) -> int:
    from .registry import Registry
    from .runner import expand, make_client, run_jobs

    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print(f"reptopo: --device {args.device}: no CUDA device is visible to torch here; use --device cpu", file=sys.stderr)
            return 2
    reg = Registry(args.registry)
    jobs = expand(reg.suite(args.suite))
    if args.limit:
        jobs = jobs[: args.limit]
    slurm = json.loads(args.slurm) if args.slurm else None
    client = make_client(args.address, args.workers, slurm) if (args.address or slurm or args.workers != 2) else None
    print(f"reptopo: suite {args.suite!r}: {len(jobs)} jobs -> {args.store}")
    summary = run_jobs(jobs, str(reg.root), args.store, client=client, device=args.device, protocol_version=args.protocol)
    print(f"reptopo: {len(summary.done)} done, {len(summary.skipped)} skipped (already stored), "
          f"{len(summary.failed)} failed in {summary.seconds:.0f} s")
    for f in summary.failed:
        print(f"  failed {f['job_id']}: {f['error']}  (traceback in {args.store}/failed/)", file=sys.stderr)
    return 1 if summary.failed and not args.keep_going else 0


def _cmd_measure(args) -> int:
    import numpy as np

    from .protocol import measure_layer, protocol

    x = np.load(args.activations, allow_pickle=False)
    y = np.load(args.labels, allow_pickle=False) if args.labels else np.zeros(len(x), int)
    out, _ = measure_layer(x, y, protocol(args.protocol), args.layer or Path(args.activations).stem)
    print(json.dumps(out, indent=1, default=float))
    return 0 if "error" not in out else 1


def _cmd_collect(args) -> int:
    from .store import ResultStore, collect

    models, layers = collect(ResultStore(args.store))
    print(f"{len(models)} records, {len(layers)} layer rows -> {args.store}/tables/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reptopo", description="Benchmark the topology and geometry of neural-network representations.")
    p.add_argument("--version", action="version", version=f"reptopo {__version__}")
    p.add_argument("--registry", default=None, help="registry folder (default: ./registry)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="list registry entries")
    s.add_argument("what", choices=["models", "tasks", "suites"])
    s.set_defaults(func=_cmd_list)

    s = sub.add_parser("validate", help="check registry entries; every problem with its file, line and field")
    s.add_argument("paths", nargs="+")
    s.set_defaults(func=_cmd_validate)

    s = sub.add_parser("run", help="run a suite: train, probe and measure every job; resumes")
    s.add_argument("--suite", required=True)
    s.add_argument("--store", default="results/quick")
    s.add_argument("--address", help="tcp://HOST:PORT of a running Dask scheduler")
    s.add_argument("--slurm", help="JSON keyword arguments of dask_jobqueue.SLURMCluster")
    s.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (one thread each)")
    s.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    s.add_argument("--protocol", type=int, default=1)
    s.add_argument("--limit", type=int, default=0, help="run only the first N jobs")
    s.add_argument("--keep-going", action="store_true", help="exit 0 even when jobs failed")
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("measure", help="measure one layer's activations (.npy, n x d) under the protocol")
    s.add_argument("activations")
    s.add_argument("--labels")
    s.add_argument("--layer")
    s.add_argument("--protocol", type=int, default=1)
    s.set_defaults(func=_cmd_measure)

    s = sub.add_parser("collect", help="collect a store's records into Parquet tables")
    s.add_argument("--store", default="results/quick")
    s.set_defaults(func=_cmd_collect)

    from . import cli_more

    cli_more.add_commands(sub)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyError as exc:
        print(f"reptopo: {exc.args[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

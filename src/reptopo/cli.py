"""The ``reptopo`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .limits import VERIFY_BUDGET_SECONDS
from .protocol import CURRENT_VERSION


def _cmd_list(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from .registry import Registry

    registry = Registry(args.registry)
    table = Table(title=f"{args.what}: shipped with reptopo" + "".join(f" + {r}" for r in registry.roots[1:]))
    if args.what == "models":
        for col in ("name", "v", "family", "modality", "builder", "pretrained", "layers", "source"):
            table.add_column(col)
        for m in registry.models.values():
            table.add_row(
                m.name,
                str(m.version),
                m.family,
                m.modality,
                m.builder,
                f"{m.pretrained.source}/{m.pretrained.mode}" if m.pretrained else "-",
                str(len(m.layers)),
                registry.sources[("model", m.name)],
            )
    elif args.what == "tasks":
        for col in ("name", "v", "modality", "loader", "classes", "train/test", "input", "source"):
            table.add_column(col)
        for t in registry.tasks.values():
            table.add_row(
                t.name,
                str(t.version),
                t.modality,
                t.source.loader,
                str(t.num_classes),
                f"{t.splits.train_size}/{t.splits.test_size}",
                "x".join(map(str, t.input_shape)),
                registry.sources[("task", t.name)],
            )
    else:
        from .pipeline.runner import expand

        for col in ("name", "v", "jobs", "description", "source"):
            table.add_column(col)
        for s in registry.suites.values():
            table.add_row(
                s.name, str(s.version), str(len(expand(s))), s.description, registry.sources[("suite", s.name)]
            )
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return 0


def _param_problems(paths) -> list[str]:
    """The builder-parameter problems of every valid model entry under ``paths`` (the schema's
    problems are validate_paths' to report)."""
    from .errors import RegistryError
    from .pipeline.models import builder_params, param_problems
    from .registry import load_entry

    out = []
    for p in map(Path, paths):
        for f in sorted(p.rglob("*.yaml")) if p.is_dir() else [p]:
            try:
                entry = load_entry(f)
            except (RegistryError, OSError):
                continue
            if entry.kind == "model":
                out += [f"{f}: {msg}" for msg in param_problems(entry.builder, builder_params(entry))]
    return out


def _cmd_validate(args) -> int:
    from .registry import validate_paths

    problems = validate_paths(args.paths) + _param_problems(args.paths)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"ok: {', '.join(args.paths)}")
    return 0


def _cmd_run(args) -> int:
    from .pipeline.runner import run_suite, slurm_options

    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print(
                f"reptopo: --device {args.device}: no CUDA device is visible to torch here; use --device cpu",
                file=sys.stderr,
            )
            return 2
    run = run_suite(
        args.suite,
        args.store,
        registry_spec=args.registry,
        address=args.address,
        workers=args.workers,
        slurm=slurm_options(args.slurm, args.store),
        device=args.device,
        protocol_version=args.protocol,
        limit=args.limit,
        compare=not args.no_compare,
    )
    for f in run.failed:
        print(f"  failed {f['job_id']}: {f['error']}  (traceback in {args.store}/failed/)", file=sys.stderr)
    return 1 if run.failed and not args.keep_going else 0


def _cmd_measure(args) -> int:
    import numpy as np

    from .protocol import measure_layer, protocol

    x = np.load(args.activations, allow_pickle=False)
    y = np.load(args.labels, allow_pickle=False) if args.labels else np.zeros(len(x), int)
    out, _ = measure_layer(x, y, protocol(args.protocol), args.layer or Path(args.activations).stem)
    print(json.dumps(out, indent=1, default=float))
    return 0 if "error" not in out else 1


def _profile_inputs(args):
    """(inputs, labels or None) of ``reptopo profile``'s --data and --labels."""
    import numpy as np

    from .errors import ProfileError

    path = Path(args.data)
    if not path.is_file():
        raise ProfileError(f"--data: {path}: no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ProfileError(f"--data: {path}: not a .npy or .npz file of plain arrays ({exc})") from None
    labels = None
    if isinstance(loaded, np.ndarray):
        x = loaded
    else:
        with loaded as z:
            arrays = {k: z[k] for k in z.files}
        key = next((k for k in ("x", "inputs") if k in arrays), None) or (
            next(iter(arrays)) if len(arrays) == 1 else None
        )
        if key is None:
            raise ProfileError(f"--data: {path}: name the inputs 'x' (and the labels 'y'); it holds {sorted(arrays)}")
        x = arrays[key]
        if args.labels and args.labels in arrays:
            labels = arrays[args.labels]
        elif not args.labels:
            labels = arrays.get("y", arrays.get("labels"))
    if args.labels and labels is None:
        lpath = Path(args.labels)
        if not lpath.is_file():
            raise ProfileError(f"--labels: {args.labels}: neither a file nor an array of {path}")
        labels = np.load(lpath, allow_pickle=False)
    return x, labels


def _cmd_profile(args) -> int:
    from .profiling import profile

    x, labels = _profile_inputs(args)
    prof = profile(
        args.model,
        x,
        labels=labels,
        layers=args.layers.split(",") if args.layers else None,
        probe_size=args.probe_size,
        protocol_version=args.protocol,
        measures=args.measures.split(",") if args.measures else None,
        device=args.device,
    )
    paths = prof.save(args.out, **({"model": args.name} if args.name else {}), task=args.task)
    print(
        f"profiled {len(prof.layers)} layers of {prof.model} ({prof.chosen}) on {len(prof.positions)} of "
        f"{prof.n_inputs} inputs -> {args.out}: {', '.join(p.name for p in paths)}"
    )
    for name, why in prof.skipped.items():
        if why != "not asked for":
            print(f"  {name}: skipped: {why}")
    return 0


def _cmd_collect(args) -> int:
    from .store import ResultStore, collect

    models, layers = collect(ResultStore(args.store))
    print(f"{len(models)} records, {len(layers)} layer rows -> {args.store}/tables/")
    return 0


def _cmd_analyze(args) -> int:
    from .analysis import analyze_store

    print(analyze_store(args.store))
    return 0


def _cmd_site_build(args) -> int:
    from .site import build_site

    out = build_site(args.store, args.out)
    print(f"site built in {out}")
    return 0


def _cmd_cite(args) -> int:
    from .analysis import tables_of
    from .cite import BENCHMARK_BIBTEX, model_citations
    from .errors import StoreError
    from .site.html import slug
    from .store import ResultStore

    store = ResultStore(args.store)
    recs = [r for r in store.require_records() if r.model == args.model and (not args.task or r.task == args.task)]
    if not recs:
        raise StoreError(
            f"{args.store}: no records of model {args.model!r}"
            + (f" on task {args.task!r}" if args.task else "")
            + "; `reptopo list models` names the models, and --store chooses the result store"
        )
    page = f"{args.site_url.rstrip('/')}/models/{slug(args.model)}/" if args.site_url else f"models/{slug(args.model)}/"
    for entry in model_citations(args.model, recs, tables_of(store)["scores"], page=page):
        print(entry + "\n")
    print(BENCHMARK_BIBTEX)
    return 0


def _cmd_submit(args) -> int:
    from .submission import submit, submit_activations

    if args.activations:
        out = submit_activations(args.entry, args.activations, args.task, args.out, registry_spec=args.registry)
    else:
        out = submit(args.entry, args.task, args.out, seed=args.seed, registry_spec=args.registry)
    print(f"bundle written to {out}")
    return 0


def _cmd_verify(args) -> int:
    from .submission import verify, verify_record

    if Path(args.bundle).is_file():
        result = verify_record(
            args.bundle,
            registry_spec=args.registry,
            retrain=args.retrain,
            trust_builder=args.trust_builder,
            budget=args.budget,
        )
    else:
        result = verify(
            args.bundle,
            registry_spec=args.registry,
            retrain=args.retrain,
            reference=args.reference,
            trust_builder=args.trust_builder,
            budget=args.budget,
        )
    print(f"verified by {' and '.join(result.kinds)}")
    for line in result.describe():
        print(f"  {line}")
    for finding in result.float_noise[:10]:
        print(f"  float noise: {finding}")
    # the digest names the record; equal digests mean equal bits, which only the same machine type promises
    print(
        f"digest claimed {result.claimed_digest[:16]}, re-derived {result.rederived_digest[:16]}: "
        + (
            "the same bits"
            if result.digest_matches
            else "different bits (expected on another CPU or library version; the values are judged above)"
        )
    )
    if result.problems:
        print(f"FAIL: {len(result.problems)} value(s) differ beyond float noise", file=sys.stderr)
        for p in result.problems[:50]:
            print(f"  {p}", file=sys.stderr)
        return 1
    if not result.passed:
        print(f"CANNOT JUDGE: {args.bundle}: nothing could be checked", file=sys.stderr)
        return 1
    print(f"PASS: {args.bundle} re-derived ({' and '.join(result.kinds)})")
    return 0


def _cmd_compare_runs(args) -> int:
    from .submission.reproduce import compare_runs

    result = compare_runs(args.run, args.reference, n_boot=args.n_boot)
    print(result.describe())
    return 0


def _cmd_publish(args) -> int:
    from .submission import publish

    rec = publish(
        args.bundle,
        args.store,
        submitter=args.submitter,
        registry_spec=args.registry,
        retrain=args.retrain,
        trust_builder=args.trust_builder,
        budget=args.budget,
    )
    print(
        f"published {rec.job_id} ({rec.provenance}, digest {rec.digest[:16]}) to {args.store}; "
        f"rebuild the site with `reptopo analyze --store {args.store} && reptopo site build --store {args.store}`"
    )
    return 0


def _cmd_plot(args) -> int:
    from .plots import write_figures

    paths = write_figures(args.store, args.out)
    print(f"{len(paths)} files written to {args.out}")
    return 0


TRUST_BUILDER_HELP = (
    "run a bundle's (or a published entry's) 'module:function' builder whose top-level package is exactly "
    "PACKAGE, after you have reviewed and installed it (never implied by the bundle; never reptopo, a package "
    "that ships registered builders, or the standard library)"
)
BUDGET_HELP = (
    "seconds for the whole check, measuring and retraining (default %(default)g); past it, it stops and says where"
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reptopo", description="Benchmark the topology and geometry of neural-network representations."
    )
    p.add_argument("--version", action="version", version=f"reptopo {__version__}")
    p.add_argument("--debug", action="store_true", help="show the traceback of any error")
    p.add_argument(
        "--registry",
        default=None,
        help="your own registry folder(s), joined by the path separator, read after the entries shipped "
        "with reptopo (and after $REPTOPO_REGISTRY); an entry of the same name replaces the shipped one",
    )
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
    s.add_argument(
        "--slurm",
        help="Slurm jobs as Dask workers: inline JSON or a YAML/JSON file of dask_jobqueue."
        "SLURMCluster's keys (cores, memory, walltime, queue, account, ...) and reptopo's own (jobs; "
        "adapt_minimum and adapt_maximum); log_directory defaults to STORE/logs",
    )
    s.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (one thread each)")
    s.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    s.add_argument("--protocol", type=int, default=CURRENT_VERSION)
    s.add_argument("--limit", type=int, default=0, help="run only the first N jobs")
    s.add_argument("--keep-going", action="store_true", help="exit 0 even when jobs failed")
    s.add_argument(
        "--no-compare", action="store_true", help="skip the comparison stage (CKA and RTD maps between models)"
    )
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser("measure", help="measure one layer's activations (.npy, n x d) under the protocol")
    s.add_argument("activations")
    s.add_argument("--labels")
    s.add_argument("--layer")
    s.add_argument("--protocol", type=int, default=CURRENT_VERSION)
    s.set_defaults(func=_cmd_measure)

    s = sub.add_parser(
        "profile",
        help="per-layer topology of your own model on your own data: a table, a figure and a self-reported record",
    )
    s.add_argument(
        "model",
        help="package.module:function (returns the torch.nn.Module; called without arguments), "
        "hf:ORG/NAME or timm:NAME",
    )
    s.add_argument("--data", required=True, help="a .npy of inputs, or an .npz with 'x' (and labels 'y')")
    s.add_argument("--labels", help="a .npy of labels, or the name of the labels' array in the .npz")
    s.add_argument("--layers", help="module names, joined by commas (default: the leaf blocks and the head)")
    s.add_argument("--measures", help="a subset of the protocol's measures, joined by commas")
    s.add_argument("--probe-size", type=int, help="inputs kept (default: the protocol's probe size)")
    s.add_argument("--protocol", type=int, default=CURRENT_VERSION)
    s.add_argument("--device", default="cpu")
    s.add_argument("--name", help="the model's name in the record (default: from MODEL)")
    s.add_argument("--task", default="own_data", help="the data's name in the record")
    s.add_argument("--out", required=True, help="folder for profile.parquet/.csv/.html/.png and record.json")
    s.set_defaults(func=_cmd_profile)

    s = sub.add_parser("collect", help="collect a store's records into Parquet tables")
    s.add_argument("--store", default="results/quick")
    s.set_defaults(func=_cmd_collect)

    s = sub.add_parser("analyze", help="correlate per-layer scores with accuracy and generalization gap")
    s.add_argument("--store", default="results/quick")
    s.set_defaults(func=_cmd_analyze)

    s = sub.add_parser("site", help="build the static leaderboard")
    site_sub = s.add_subparsers(dest="site_command", required=True)
    b = site_sub.add_parser("build")
    b.add_argument("--store", default="results/quick")
    b.add_argument("--out", default="site/build")
    b.set_defaults(func=_cmd_site_build)

    s = sub.add_parser("cite", help="print a BibTeX entry for a model's standardized scores")
    s.add_argument("model")
    s.add_argument("--task")
    s.add_argument("--store", default="site/reference", help="result store holding the records to cite")
    s.add_argument("--site-url", help="where the leaderboard is published (the entry names the model's page there)")
    s.set_defaults(func=_cmd_cite)

    s = sub.add_parser("submit", help="validate a model entry, run the protocol and write a submission bundle")
    s.add_argument("entry")
    s.add_argument("--task", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, help="bundle folder to create")
    s.add_argument("--activations", help="an .npz of the layers' activations on the probe set (weights not shared)")
    s.set_defaults(func=_cmd_submit)

    s = sub.add_parser(
        "verify",
        help="re-measure a bundle's (or a stored record's) checkpoint and judge every score; "
        "--retrain also retrains it and judges it against the reference seeds",
    )
    s.add_argument("bundle", help="a bundle folder, or a record .json of a result store")
    s.add_argument(
        "--retrain",
        action="store_true",
        help="also retrain from the seed and judge the result against the seeds' spread (the training check)",
    )
    s.add_argument(
        "--reference",
        help="a bundle's training check: the result store whose seeds of the same entry it is judged against",
    )
    s.add_argument("--trust-builder", metavar="PACKAGE", help=TRUST_BUILDER_HELP)
    s.add_argument("--budget", type=float, default=VERIFY_BUDGET_SECONDS, metavar="SECONDS", help=BUDGET_HELP)
    s.set_defaults(func=_cmd_verify)

    s = sub.add_parser("publish", help="verify a submission bundle and add its record and entry to a result store")
    s.add_argument("bundle")
    s.add_argument("--store", required=True, help="the result store of the leaderboard")
    s.add_argument("--retrain", action="store_true", help="also retrain and judge against the store's seeds")
    s.add_argument(
        "--submitter",
        required=True,
        help="who submitted it (the pull request's author): the entry is published as SUBMITTER.NAME",
    )
    s.add_argument("--trust-builder", metavar="PACKAGE", help=TRUST_BUILDER_HELP)
    s.add_argument("--budget", type=float, default=VERIFY_BUDGET_SECONDS, metavar="SECONDS", help=BUDGET_HELP)
    s.set_defaults(func=_cmd_publish)

    s = sub.add_parser(
        "compare-runs",
        help="judge a run of a suite (e.g. on another machine) against a reference run: "
        "per task, records within the seeds' spread and the measures board's rank agreement",
    )
    s.add_argument("run", help="the result store of the new run")
    s.add_argument("reference", help="the reference result store, e.g. site/reference")
    s.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples of each correlation's interval")
    s.set_defaults(func=_cmd_compare_runs)

    s = sub.add_parser("plot", help="write the site's figures as PNG and PDF with matplotlib")
    s.add_argument("--store", default="results/quick")
    s.add_argument("--out", default="figures")
    s.set_defaults(func=_cmd_plot)
    return p


def main(argv=None) -> int:
    """Run one command. A mistake a user can fix (a :class:`ReptopoError`, or a file named on
    the command line that is missing or unreadable) prints one line and exits 2; anything else
    is a bug: one line saying "internal error" and exit 1, the traceback only under ``--debug``."""
    from .errors import ReptopoError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # noqa: BLE001 - every error ends in one line unless --debug
        if args.debug:
            raise
        if isinstance(exc, ReptopoError):  # a bug's KeyError is not a user's mistake: it falls through
            print(f"reptopo: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, FileNotFoundError):
            print(f"reptopo: {exc.filename}: no such file", file=sys.stderr)
            return 2
        if isinstance(exc, (PermissionError, IsADirectoryError, NotADirectoryError)):
            print(f"reptopo: {exc.filename}: {exc.strerror}", file=sys.stderr)
            return 2
        print(
            f"reptopo: internal error: {type(exc).__name__}: {exc} (run again with --debug for the traceback, "
            "and report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())

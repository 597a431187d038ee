"""Subcommands for the later stages: analyze, site, plot, cite."""

from __future__ import annotations


def add_commands(sub) -> None:
    s = sub.add_parser("analyze", help="correlate per-layer scores with accuracy and generalization gap")
    s.add_argument("--store", default="results/quick")
    s.set_defaults(func=_cmd_analyze)

    s = sub.add_parser("site", help="build the static leaderboard")
    site_sub = s.add_subparsers(dest="site_command", required=True)
    b = site_sub.add_parser("build")
    b.add_argument("--store", default="results/quick")
    b.add_argument("--out", default="site/build")
    b.set_defaults(func=_cmd_site_build)

    add_cite(sub)
    add_submission(sub)

    s = sub.add_parser("plot", help="write the site's figures as PNG and PDF with matplotlib")
    s.add_argument("--store", default="results/quick")
    s.add_argument("--out", default="figures")
    s.set_defaults(func=_cmd_plot)


def _cmd_analyze(args) -> int:
    from .analysis import analyze_store

    print(analyze_store(args.store))
    return 0


def _cmd_site_build(args) -> int:
    from .site import build_site

    out = build_site(args.store, args.out)
    print(f"site built in {out}")
    return 0


def add_cite(sub) -> None:
    s = sub.add_parser("cite", help="print a BibTeX entry for a model's standardized scores")
    s.add_argument("model")
    s.add_argument("--task")
    s.add_argument("--store", default="site/reference", help="result store holding the records to cite")
    s.set_defaults(func=_cmd_cite)


def _cmd_cite(args) -> int:
    import sys

    from .cite import BENCHMARK_BIBTEX, score_bibtex
    from .jobs import record_digest
    from .store import ResultStore

    recs = [r for r in ResultStore(args.store).records() if r["model"] == args.model and (not args.task or r["task"] == args.task)]
    if not recs:
        print(f"reptopo: no records of model {args.model!r}" + (f" on task {args.task!r}" if args.task else "") + f" in {args.store}", file=sys.stderr)
        return 1
    versions = sorted({r["protocol"]["version"] for r in recs})
    for task in sorted({r["task"] for r in recs}):
        for v in versions:
            hashes = [record_digest(r) for r in recs if r["task"] == task and r["protocol"]["version"] == v]
            if hashes:
                print(score_bibtex(args.model, task, v, hashes) + "\n")
    print(BENCHMARK_BIBTEX)
    return 0


def add_submission(sub) -> None:
    s = sub.add_parser("submit", help="validate a model entry, run the protocol and write a submission bundle")
    s.add_argument("entry")
    s.add_argument("--task", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, help="bundle folder to create")
    s.add_argument("--activations", help="an .npz of the layers' activations on the probe set (weights not shared)")
    s.set_defaults(func=_cmd_submit)
    s = sub.add_parser("verify", help="re-run a bundle (or a stored record) and compare every score")
    s.add_argument("bundle", help="a bundle folder, or a record .json of a result store")
    s.set_defaults(func=_cmd_verify)


def _cmd_submit(args) -> int:
    import sys

    from .submission import SubmissionError, submit, submit_activations

    try:
        if args.activations:
            out = submit_activations(args.entry, args.activations, args.task, args.out, registry=args.registry)
        else:
            out = submit(args.entry, args.task, args.out, seed=args.seed, registry=args.registry)
    except SubmissionError as exc:
        print(f"reptopo: submission refused: {exc}", file=sys.stderr)
        return 1
    print(f"bundle written to {out}")
    return 0


def _cmd_verify(args) -> int:
    import sys
    from pathlib import Path

    from .submission import SubmissionError, verify, verify_record

    try:
        problems = verify_record(args.bundle, registry=args.registry) if Path(args.bundle).is_file() else verify(args.bundle, registry=args.registry)
    except SubmissionError as exc:
        print(f"reptopo: bundle refused: {exc}", file=sys.stderr)
        return 1
    if problems:
        print(f"FAIL: {len(problems)} score(s) differ", file=sys.stderr)
        for p in problems[:50]:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"PASS: every score of {args.bundle} re-derived within tolerance")
    return 0


def _cmd_plot(args) -> int:
    from .plots import write_figures

    paths = write_figures(args.store, args.out)
    print(f"{len(paths)} files written to {args.out}")
    return 0

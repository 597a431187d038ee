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


def _cmd_analyze(args) -> int:
    from .analysis import analyze_store

    print(analyze_store(args.store))
    return 0


def _cmd_site_build(args) -> int:
    from .site import build_site

    out = build_site(args.store, args.out)
    print(f"site built in {out}")
    return 0

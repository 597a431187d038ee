"""``reptopo site build``: the mkdocs project shipped in this package, pages from a result store.

The project (``project/mkdocs.yml`` and ``project/static``) is copied into a temporary folder,
the pages are written there, and mkdocs builds them offline into ``out``. The site never runs a
model: it reads records, diagrams and analysis tables only.
"""

from __future__ import annotations

import importlib.resources
import shutil
import tempfile
from pathlib import Path

from ..analysis import tables_of
from ..store import ResultStore
from .pages import render_all


def project_root() -> Path:
    """The mkdocs project shipped with the package (configuration and static assets)."""
    return Path(str(importlib.resources.files("reptopo.site") / "project"))


def build_site(store_root, out, *, strict: bool = True) -> Path:
    """Write the pages of ``store_root`` and build the static site into ``out``; returns ``out``."""
    import plotly
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    store = ResultStore(store_root)
    store.require_records()  # a missing or empty store is one clear error, not a traceback
    tables = tables_of(store)
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="reptopo-site-") as tmp:
        work = Path(tmp)
        shutil.copy(project_root() / "mkdocs.yml", work / "mkdocs.yml")
        docs = work / "docs"
        shutil.copytree(project_root() / "static", docs)
        vendor = docs / "assets" / "vendor"
        vendor.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", vendor / "plotly.min.js")
        for rel, text in render_all(store, tables).items():
            path = docs / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        downloads = docs / "downloads"
        downloads.mkdir(exist_ok=True)
        for name, table in tables.items():
            table.to_csv(downloads / f"{name}.csv", index=False)
            table.to_parquet(downloads / f"{name}.parquet", index=False)
        build(load_config(config_file=str(work / "mkdocs.yml"), site_dir=str(out), strict=strict))
    return out

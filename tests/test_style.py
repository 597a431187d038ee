"""The habits maintainers lean on: ruff (lint and format) and mypy (strict on the record, the
store, the measures and the analysis; see pyproject.toml), run in the fast tier and so in CI.

mypy starts when this module is collected, in a process of its own, so that its minute of
cold-cache checking overlaps the other tests instead of adding to them."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["src", "tests", "bench", "scripts", "examples"]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else shutil.which(name) or name


_MYPY = subprocess.Popen([_tool("mypy")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_ruff_finds_nothing_to_lint():
    proc = subprocess.run([_tool("ruff"), "check", *PATHS], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_code_is_formatted():
    proc = subprocess.run([_tool("ruff"), "format", "--check", *PATHS], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_mypy_passes():
    out, _ = _MYPY.communicate(timeout=600)
    assert _MYPY.returncode == 0, out[-6000:]
    assert "Success" in out

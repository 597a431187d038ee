"""A small registry of fast jobs for the runner and store tests."""

import shutil
from pathlib import Path

REGISTRY = Path(__file__).resolve().parents[1] / "registry"


def tiny_registry(root: Path, seeds=(0, 1, 2, 3), epochs: int = 30, controls=("random_init",)) -> Path:
    """digits x mlp, ``len(seeds)`` jobs plus controls; each takes a few seconds on one core."""
    (root / "tasks").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "suites").mkdir()
    shutil.copy(REGISTRY / "models" / "mlp.yaml", root / "models")
    text = (REGISTRY / "tasks" / "digits.yaml").read_text()
    text = text.replace("training: {epochs: 30,", f"training: {{epochs: {epochs},")
    (root / "tasks" / "digits.yaml").write_text(text)
    (root / "suites" / "tiny.yaml").write_text(
        "kind: suite\nname: tiny\nversion: 1\ndescription: test jobs\ngrids:\n"
        f"  - {{models: [mlp], tasks: [digits], seeds: {list(seeds)}, controls: {list(controls)}}}\n"
    )
    return root

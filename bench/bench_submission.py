"""The honest bundle's `verify` and `publish` (tests/data/honest_bundle: a small MLP on digits),
each as a ratio against the floor timed in the same run: measuring the same checkpoint's layers
with the protocol alone (``jobs.remeasure``), which neither command can avoid. What the ratio
shows is what the checks add: the bounded reads, the streamed hashes, the meta-device sizing,
the sensitivity probes, and for publish the store's writes. Also the refusal of a hostile bundle
(an alias bomb), which must cost a fraction of the floor."""

import shutil
import tempfile
import time
from pathlib import Path

from conftest import best_time

ROOT = Path(__file__).resolve().parents[1]
HONEST = ROOT / "tests" / "data" / "honest_bundle"


def _floor() -> float:
    from reptopo.pipeline.checkpoints import remeasure
    from reptopo.pipeline.jobs import Job

    with tempfile.TemporaryDirectory() as tmp:
        entry_dir = Path(tmp) / "registry" / "models"
        entry_dir.mkdir(parents=True)
        shutil.copy(HONEST / "entry.yaml", entry_dir / "mymlp.yaml")
        spec = str(Path(tmp) / "registry")

        def run():
            remeasure(Job("mymlp", "digits", 0), 3, spec, HONEST / "weights.safetensors", Path(tmp) / "s", epoch=30)

        run()  # warm: numba's compiled kernels and the task's data
        return best_time(run)


def test_verify_and_publish_the_honest_bundle_against_the_measurement_floor(benchmark):
    from reptopo.submission import publish, verify

    floor = _floor()
    verify_s = best_time(lambda: verify(HONEST))

    def publish_once():
        with tempfile.TemporaryDirectory() as tmp:
            publish(HONEST, Path(tmp) / "store", submitter="bench")

    publish_s = best_time(publish_once)
    bomb = Path(tempfile.mkdtemp()) / "bundle"
    shutil.copytree(HONEST, bomb)
    text = (
        (bomb / "entry.yaml").read_text().replace("params: {width: 32, depth: 2}", "params: {width: &w 32, depth: *w}")
    )
    (bomb / "entry.yaml").write_text(text)
    import json
    from hashlib import sha256

    manifest = json.loads((bomb / "manifest.json").read_text())
    manifest["entry.yaml"] = sha256(text.encode()).hexdigest()
    (bomb / "manifest.json").write_text(json.dumps(manifest))

    def refuse():
        try:
            verify(bomb)
        except Exception:  # noqa: BLE001 - the refusal is what is timed
            pass

    refuse_s = best_time(refuse)
    shutil.rmtree(bomb.parent)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    benchmark.extra_info.update(
        floor_s=floor,
        verify_s=verify_s,
        publish_s=publish_s,
        refuse_s=refuse_s,
        verify_ratio=verify_s / floor,
        publish_ratio=publish_s / floor,
        refuse_ratio=refuse_s / floor,
    )
    print(
        f"\nmeasuring the checkpoint alone {floor:.2f} s; verify {verify_s:.2f} s ({verify_s / floor:.2f} x); "
        f"publish {publish_s:.2f} s ({publish_s / floor:.2f} x); refusing an alias bomb {refuse_s * 1000:.0f} ms "
        f"({refuse_s / floor:.3f} x) [{time.strftime('%Y-%m-%d')}]"
    )
    assert refuse_s < floor / 5  # a refusal never measures

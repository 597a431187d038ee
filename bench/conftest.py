import time

import numpy as np
import pytest


def best_time(fn, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls (the reference side of a ratio)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure_split(x, y, cfg, layer: str) -> dict[str, float]:
    """Seconds of each of ``cfg``'s measures alone on one layer: where a layer's time goes."""
    from reptopo.protocol import measure_layer

    split = {}
    for name in cfg.measure_names():
        start = time.perf_counter()
        measure_layer(x, y, cfg, layer, measures=(name,))
        split[name] = time.perf_counter() - start
    return split


def split_line(split: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in split.items())


@pytest.fixture
def rng():
    return np.random.default_rng(0)

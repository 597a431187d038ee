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


@pytest.fixture
def rng():
    return np.random.default_rng(0)

"""The Gram matrix of a centred cloud, on the BLAS's threads, and the BLAS threading it needs.

OpenBLAS's worker threads busy-wait for about 0.1 s after each multi-threaded call; numba's
parallel loops that follow then share the cores with them. The PHdim estimators therefore run
every BLAS call on one thread and split the one large product over Python threads themselves.

Inside :func:`products_on` a device given by name (``"cuda"``) takes the products instead,
through torch (imported only then): the measures stay numpy in, numpy out.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController  # installed with scikit-learn


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """The BLAS libraries loaded in this process, found once: threadpoolctl's search reads the
    loaded libraries' files, a cost comparable to a small PHdim estimate's own work.
    Thread counts are still read and set live; a BLAS loaded after the first call is left alone."""
    return ThreadpoolController().select(user_api="blas")


def blas_threads() -> int:
    """How many threads the BLAS would use now (1 inside ``threadpool_limits(1)``)."""
    return max((lib.num_threads for lib in _blas_controller().lib_controllers), default=1)


def single_threaded_blas():
    """A context in which the BLAS runs on one thread (threadpoolctl's limit, without the search)."""
    return _blas_controller().limit(limits=1)


def _row_bounds(n: int, parts: int, diagonal_cost: float = 0.7) -> list[int]:
    """Row blocks [b_t, b_t+1) of equal work: each block's square on the diagonal (a symmetric
    product, ``diagonal_cost`` per entry) and the general product to its right (1 per entry).

    0.7: OpenBLAS's symmetric product does half the flops of a general one at about 3/4 of its
    rate (measured here). The equal-work cost is found by bisection; each block's height then
    solves a quadratic.
    """

    def heights(cost):
        bounds: list[float] = [0]
        for _ in range(parts - 1):
            left = n - bounds[-1]
            # (diagonal_cost - 1) h^2 + left h = cost, the smaller root
            disc = max(left * left - 4 * (1 - diagonal_cost) * cost, 0.0)
            bounds.append(min(n, bounds[-1] + (left - math.sqrt(disc)) / (2 * (1 - diagonal_cost))))
        return bounds

    lo, hi = 0.0, diagonal_cost * n * n
    for _ in range(60):
        cost = (lo + hi) / 2
        last = n - heights(cost)[-1]
        lo, hi = (lo, cost) if diagonal_cost * last * last < cost else (cost, hi)
    return [round(b) for b in heights(hi)] + [n]


_PRODUCTS_DEVICE: contextvars.ContextVar[str | None] = contextvars.ContextVar("reptopo_products_device", default=None)


@contextlib.contextmanager
def products_on(device: str | None) -> Iterator[None]:
    """Run the measures' Gram products inside on ``device``: ``None`` or ``"cpu"`` numpy's BLAS
    (the default), a torch device such as ``"cuda"`` or ``"cuda:1"`` through torch, and
    ``"torch:cpu"`` torch on the CPU (the device path, checkable without a GPU). The products
    come back as numpy arrays of the input's dtype; what follows them runs on the CPU."""
    chosen = None if device in (None, "cpu") else str(device).removeprefix("torch:")
    token = _PRODUCTS_DEVICE.set(chosen)
    try:
        yield
    finally:
        _PRODUCTS_DEVICE.reset(token)


def device_product(x: np.ndarray) -> np.ndarray | None:
    """``x @ x.T`` on the device of :func:`products_on`, or None when the products stay with numpy."""
    device = _PRODUCTS_DEVICE.get()
    if device is None:
        return None
    import torch

    # full float32 products: TF32 (torch's "high" precision) would lose the short edges the
    # spanning trees and the DTM read, as the Gram form's cancellation already threatens
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        t = torch.from_numpy(np.ascontiguousarray(x)).to(device)
        return (t @ t.T).cpu().numpy()
    finally:
        torch.set_float32_matmul_precision(precision)


def gram_product(centred: np.ndarray, threads: int | None = None) -> np.ndarray:
    """``centred @ centred.T``, on ``threads`` threads (default: the BLAS's), leaving no BLAS thread spinning.

    OpenBLAS's worker threads busy-wait for about 0.1 s after each multi-threaded call, and the
    parallel tree loop that follows then shares the cores with them (measured: 1.7x slower
    trees). So the product runs on a single-threaded BLAS: split into row blocks, each block's
    upper triangle on its own Python thread (numpy releases the GIL), then mirrored; the same
    flops as numpy's own symmetric product and, on one thread, the very same call.
    """
    if (on_device := device_product(centred)) is not None:
        return on_device
    threads = blas_threads() if threads is None else threads
    n = len(centred)
    with single_threaded_blas():
        if threads <= 1 or n < 512:
            return centred @ centred.T
        gram = np.empty((n, n), dtype=centred.dtype)
        bounds = _row_bounds(n, threads)

        def upper(t):
            lo, hi = bounds[t], bounds[t + 1]
            block = centred[lo:hi]
            np.matmul(block, block.T, out=gram[lo:hi, lo:hi])
            if hi < n:
                np.matmul(block, centred[hi:].T, out=gram[lo:hi, hi:])

        def mirror(t):  # below each block's rows, a 1/threads share of its columns each
            for lo, hi in itertools.pairwise(bounds[:-1]):
                c0, c1 = lo + (hi - lo) * t // threads, lo + (hi - lo) * (t + 1) // threads
                gram[hi:, c0:c1] = gram[c0:c1, hi:].T

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(upper, range(threads)))
            list(pool.map(mirror, range(threads)))
    return gram

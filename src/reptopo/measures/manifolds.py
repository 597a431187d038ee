"""Clouds of known intrinsic dimension, in two disjoint banks of *kinds*.

``CALIBRATION_KINDS`` build PHdim's broad calibration table (``scripts/phdim_calibration.py``):
what a layer's cloud may look like, so that the table's spread at each dimension spans the
spread between kinds. ``HELD_OUT_KINDS`` never enter a table: they are the bank on which the
calibrated interval's coverage is checked (``tests/test_measures_robust.py``,
``scripts/phdim_heldout.py``). A kind is a function ``(n, d, rng) -> (n, D)`` array, D >= d,
whose points lie on a d-dimensional set; every cloud is rotated into a random orthonormal frame
of R^D by :func:`embed` (PHdim and the neighbour estimators are rotation-invariant, but a
cloud's coordinates should not carry its structure).

numpy only: the banks are data, drawn from a seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Kind = Callable[[int, int, np.random.Generator], np.ndarray]


def embed(x: np.ndarray, rng: np.random.Generator, ambient: int | None = None) -> np.ndarray:
    """``x`` in a random orthonormal frame of R^ambient (default its own dimension)."""
    n, k = x.shape
    ambient = max(ambient or k, k)
    q, _ = np.linalg.qr(rng.normal(size=(ambient, k)))
    return np.asarray(x @ q.T)


# --- the calibration bank ----------------------------------------------------------------------


def gaussian(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(n, d))


def ball(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform in the unit d-ball: a uniform direction, radius U^(1/d)."""
    g = rng.normal(size=(n, d))
    return np.asarray(g / np.linalg.norm(g, axis=1, keepdims=True) * rng.random((n, 1)) ** (1.0 / d))


def paraboloid(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """The graph of |z|^2 / sqrt(d) over a d-dimensional Gaussian: curved, one extra coordinate."""
    z = rng.normal(size=(n, d))
    return np.asarray(np.c_[z, (z**2).sum(axis=1, keepdims=True) / np.sqrt(d)])


def arcs(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """A curved product: d Gaussian coordinates, each bent onto an arc of radius 1.5."""
    z = rng.normal(size=(n, d))
    return np.asarray(np.c_[1.5 * np.cos(z / 1.5), 1.5 * np.sin(z / 1.5)])


def beta_u(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Independent Beta(0.5, 0.5) coordinates: a cube whose density piles up at its faces."""
    return rng.beta(0.5, 0.5, size=(n, d))


def heavy_tailed(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Independent Student-t coordinates with 3 degrees of freedom."""
    return rng.standard_t(3, size=(n, d))


def mixture(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Three Gaussian clusters of spreads 0.3, 1 and 3, their centres 6 apart: uneven density."""
    which = rng.integers(0, 3, n)
    spreads = np.array([0.3, 1.0, 3.0])[which][:, None]
    centres = np.zeros((3, d))
    centres[1, 0], centres[2, -1] = 6.0, -6.0
    return centres[which] + spreads * rng.normal(size=(n, d))


def random_features(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """A uniform d-cube mapped smoothly into 2d + 8 dimensions by cos(A x + b), A of scale 1.5."""
    x = rng.uniform(size=(n, d))
    a = rng.normal(scale=1.5, size=(d, 2 * d + 8))
    return np.cos(x @ a + rng.uniform(0, 2 * np.pi, 2 * d + 8))


CALIBRATION_KINDS: dict[str, Kind] = {
    "gaussian": gaussian,
    "ball": ball,
    "paraboloid": paraboloid,
    "arcs": arcs,
    "beta_u": beta_u,
    "heavy_tailed": heavy_tailed,
    "mixture": mixture,
    "random_features": random_features,
}


# --- the held-out bank: kinds that no table was built from ------------------------------------------


def cube(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(size=(n, d))


def sphere(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform on the unit d-sphere in R^(d+1): curved, no boundary."""
    g = rng.normal(size=(n, d + 1))
    return np.asarray(g / np.linalg.norm(g, axis=1, keepdims=True))


def roll(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """A d-dimensional sheet rolled up along its first coordinate (a swiss roll for d = 2)."""
    u = rng.uniform(1.5 * np.pi, 4.5 * np.pi, n)
    return np.asarray(np.c_[u * np.cos(u), u * np.sin(u), 3 * rng.uniform(size=(n, d - 1))])


def exponential(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Independent Exp(1) coordinates: a skewed density, dense at a corner."""
    return rng.exponential(size=(n, d))


def torus(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """The flat d-torus: d uniform angles, each a full circle of radius 1."""
    t = rng.uniform(0, 2 * np.pi, size=(n, d))
    return np.asarray(np.c_[np.cos(t), np.sin(t)])


def relu_layer(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """A d-dimensional Gaussian through a random ReLU layer of width 3d + 10 (piecewise linear,
    as a network's hidden layer; d-dimensional where the units active stay at least d)."""
    w = rng.normal(size=(d, 3 * d + 10)) / np.sqrt(d)
    return np.asarray(np.maximum(rng.normal(size=(n, d)) @ w + 0.5, 0.0))


def wavy(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """A uniform d-cube of side 4 with each coordinate's sine added: the graph of a wavy map."""
    x = 4 * rng.uniform(size=(n, d))
    return np.asarray(np.c_[x, np.sin(2 * x)])


def lognormal_mixture(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Log-normal coordinates (sigma 0.5) in two clusters of 3 : 1 weight: skewed and uneven."""
    which = rng.random(n) < 0.25
    return np.asarray(np.exp(0.5 * rng.normal(size=(n, d))) + 8.0 * which[:, None])


HELD_OUT_KINDS: dict[str, Kind] = {
    "cube": cube,
    "sphere": sphere,
    "roll": roll,
    "exponential": exponential,
    "torus": torus,
    "relu_layer": relu_layer,
    "wavy": wavy,
    "lognormal_mixture": lognormal_mixture,
}


def draw(kind: str, n: int, d: int, seed: int, *, ambient: int | None = None) -> np.ndarray:
    """``n`` points of ``kind`` (either bank) of dimension ``d``, drawn by ``seed`` and rotated
    into a random frame of R^ambient (default the kind's own ambient dimension)."""
    make = CALIBRATION_KINDS.get(kind) or HELD_OUT_KINDS.get(kind)
    if make is None:
        raise KeyError(f"no manifold kind {kind!r}; known: {sorted(CALIBRATION_KINDS) + sorted(HELD_OUT_KINDS)}")
    rng = np.random.default_rng([seed, d, n, sum(map(ord, kind))])
    return embed(make(n, d, rng), rng, ambient)

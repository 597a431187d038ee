"""Point clouds with closed-form topology and dimension, shared by the tests."""

import numpy as np


def circle(n, rng, *, radius=1.0, centre=(0.0, 0.0), noise=0.05):
    t = rng.uniform(0, 2 * np.pi, n)
    pts = np.c_[radius * np.cos(t) + centre[0], radius * np.sin(t) + centre[1]]
    return pts + rng.normal(scale=noise, size=pts.shape)


def sphere(n, rng, dim=2):
    x = rng.normal(size=(n, dim + 1))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def torus(n, rng, *, big=2.0, small=1.0, noise=0.0):
    u, v = rng.uniform(0, 2 * np.pi, (2, n))
    pts = np.c_[(big + small * np.cos(u)) * np.cos(v), (big + small * np.cos(u)) * np.sin(v), small * np.sin(u)]
    return pts + rng.normal(scale=noise, size=pts.shape)


def random_isometry(points, rng, ambient=None):
    """Rotate ``points`` and place them in ``ambient`` dimensions by a random orthonormal frame."""
    d = points.shape[1]
    ambient = ambient or d
    q, _ = np.linalg.qr(rng.normal(size=(ambient, ambient)))
    return points @ q[:d]

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


def torus_uniform(n, rng, *, big=2.0, small=1.0):
    """A torus sampled uniformly by area (rejection on the angle around the tube)."""
    out, have = [], 0
    while have < n:
        u, v = rng.uniform(0, 2 * np.pi, (2, 2 * n))
        keep = rng.uniform(size=2 * n) < (big + small * np.cos(u)) / (big + small)
        u, v = u[keep], v[keep]
        out.append(
            np.c_[(big + small * np.cos(u)) * np.cos(v), (big + small * np.cos(u)) * np.sin(v), small * np.sin(u)]
        )
        have += len(u)
    return np.concatenate(out)[:n]


def figure_eight(n, rng, *, noise=0.03):
    """Two unit circles touching at one point: b = (1, 2)."""
    return np.r_[circle(n // 2, rng, noise=noise), circle(n - n // 2, rng, centre=(2.0, 0.0), noise=noise)]


def gaussian_clusters(n, rng, *, n_clusters=10, dim=20, radius=80.0):
    """``n_clusters`` unit Gaussians in ``dim`` dimensions, centres ``radius`` from the origin, and labels."""
    centres = rng.normal(size=(n_clusters, dim))
    centres *= radius / np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.arange(n) % n_clusters
    return centres[labels] + rng.normal(size=(n, dim)), labels


def random_isometry(points, rng, ambient=None):
    """Rotate ``points`` and place them in ``ambient`` dimensions by a random orthonormal frame."""
    d = points.shape[1]
    ambient = ambient or d
    q, _ = np.linalg.qr(rng.normal(size=(ambient, ambient)))
    return points @ q[:d]

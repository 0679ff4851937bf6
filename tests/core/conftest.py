"""Small synthetic factorization problems for the core (milliseconds each)."""

import numpy as np
import pytest

from .images import ring, spots


@pytest.fixture
def ring_image():
    return ring((32, 32), radius=9.0, width=2.0)


@pytest.fixture
def low_rank_problem():
    """X = L F^T + small noise with 3 nonnegative components, (60, 80)."""
    rng = np.random.default_rng(1)
    L = rng.uniform(size=(60, 3)) ** 2
    F = rng.uniform(size=(80, 3)) ** 2
    X = L @ F.T + 0.01 * rng.uniform(size=(60, 80))
    return X, L, F


@pytest.fixture
def diffraction_problem():
    """A 6x7 scan of 20x24 patterns: an amorphous ring plus a spot phase.

    Returns (X, geometry_kwargs, truth) with X of shape (42, 480).
    """
    shape = (20, 24)
    center = (9.5, 11.5)
    amorphous = ring(shape, 6.0, 1.5, center)
    crystal = spots(shape, [(9.5, 17.5), (9.5, 5.5), (3.5, 11.5), (15.5, 11.5)], 0.8)
    crystal += 0.05 * ring(shape, 6.0, 1.5, center)
    patterns = np.stack([amorphous / amorphous.sum(), crystal / crystal.sum()])
    rows, cols = np.indices((6, 7))
    grain = np.exp(-0.5 * ((rows - 2.5) ** 2 + (cols - 3.0) ** 2) / 1.2**2)
    maps = np.stack([1 - 0.5 * grain, 0.5 * grain])
    mean = (
        maps.reshape(2, -1).T @ patterns.reshape(2, -1) * 2000 + 0.5
    )  # + detector background
    X = np.random.default_rng(2).poisson(mean).astype(np.float64)
    geometry = dict(
        signal_shape=shape, navigation_shape=(6, 7), center=center[::-1]
    )  # Geometry takes (x, y); ring() takes (row, col)
    return X, geometry, (patterns, maps)

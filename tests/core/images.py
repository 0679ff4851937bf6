"""Hand-made diffraction images for tests."""

import numpy as np


def ring(shape, radius, width, center=None):
    """A rotationally symmetric ring on a (rows, cols) detector."""
    rows, cols = np.indices(shape)
    if center is None:
        center = ((shape[0] - 1) / 2, (shape[1] - 1) / 2)
    rho = np.hypot(rows - center[0], cols - center[1])
    return np.exp(-0.5 * ((rho - radius) / width) ** 2)


def spots(shape, positions, sigma=1.0):
    """Gaussian spots at (row, col) positions."""
    rows, cols = np.indices(shape)
    image = np.zeros(shape)
    for r, c in positions:
        image += np.exp(-0.5 * ((rows - r) ** 2 + (cols - c) ** 2) / sigma**2)
    return image


def lattice_pattern(
    a=14.0,
    ratio=1.3,
    gamma_deg=75.0,
    seed=0,
    ring_amp=0.05,
    beam=0.0,
    r_max=58,
    shape=(128, 128),
):
    """Oblique 2D lattice of Gaussian spots with random intensities, plus a ring.

    The random spot intensities break every rotational symmetry, so the
    rotation between two copies is unique.
    """
    rng = np.random.default_rng(seed)
    center = ((shape[0] - 1) / 2, (shape[1] - 1) / 2)
    rows, cols = np.indices(shape, dtype=float)
    gamma = np.deg2rad(gamma_deg)
    a1 = np.array([1.0, 0.0]) * a
    a2 = np.array([np.cos(gamma), np.sin(gamma)]) * a * ratio
    img = np.zeros(shape)
    for h in range(-8, 9):
        for k in range(-8, 9):
            x, y = h * a1 + k * a2  # (col, row) offsets from the centre
            if (h == 0 and k == 0) or np.hypot(x, y) > r_max:
                continue
            amp = rng.uniform(0.2, 1.0)
            img += amp * np.exp(
                -((cols - center[1] - x) ** 2 + (rows - center[0] - y) ** 2) / 2.9
            )
    rho = np.hypot(rows - center[0], cols - center[1])
    img += ring_amp * np.exp(-((rho - 40.0) ** 2) / 18.0)
    img += beam * np.exp(-(rho**2) / 8.0)
    return img

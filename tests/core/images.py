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

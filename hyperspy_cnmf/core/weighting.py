"""Poisson noise normalisation (Keenan & Kotula 2004, as HyperSpy does it).

The fit runs on ``X / (sqrt(aG) sqrt(bH))``, ``aG`` the row sums and ``bH``
the column sums of ``X``; the data are never copied (the data objects scale
their blocks as they are read), the constraints still act on physical
images (each is applied to the images with the weights put back), and the
factors and maps are scaled back at the end.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .backend import get_backend

__all__ = ["PoissonScaled", "poisson_weights", "scaled_constraints", "unscaled"]


def poisson_weights(data) -> tuple[np.ndarray, np.ndarray]:
    """``(sqrt(aG), sqrt(bH))``: one weight per kept row and per kept column
    of ``data`` (a validated data object: finite, nonnegative), 1 where a
    sum is zero. One pass over the data."""
    stats = data.stats()
    row_sums, col_sums = stats.row_sums, stats.col_sums
    row_weights = np.sqrt(np.asarray(row_sums, dtype=np.float64))
    col_weights = np.sqrt(np.asarray(col_sums, dtype=np.float64))
    row_weights[row_weights == 0] = 1.0
    col_weights[col_weights == 0] = 1.0
    return row_weights, col_weights


class PoissonScaled:
    """Run a constraint in physical units on Poisson-scaled images.

    The solver's images are physical images divided by ``weights``; the
    constraint gets ``images * weights`` and its output is divided back.
    """

    def __init__(self, constraint, weights):
        self.constraint = constraint
        self.weights = weights  # image shape, > 0

    def __call__(self, images, context):
        w = context.xp.asarray(self.weights, dtype=images.dtype)
        return self.constraint(images * w, context) / w

    def __repr__(self):
        return f"PoissonScaled({self.constraint!r})"


def _full_image(values, mask, shape):
    """Flat kept ``values`` as an image of ``shape``, 1 where ``mask`` excludes."""
    full = np.ones(int(np.prod(shape)))
    if mask is None:
        full[:] = values
    else:
        full[~mask.ravel()] = values
    return full.reshape(shape)


def scaled_constraints(weights, factor_constraints, loading_constraints, geometry):
    """The constraint lists wrapped to run in physical units on the data
    scaled by ``weights`` ``(row, column)``."""
    row_weights, col_weights = weights
    signal_image = _full_image(col_weights, geometry.signal_mask, geometry.signal_shape)
    map_image = _full_image(
        row_weights, geometry.navigation_mask, geometry.navigation_shape
    )
    return (
        [PoissonScaled(c, signal_image) for c in factor_constraints],
        [PoissonScaled(c, map_image) for c in loading_constraints],
    )


def unscaled(result, weights):
    """The fit result with its factors and maps back in physical units."""
    row_weights, col_weights = weights
    xp = get_backend(result.factors).xp
    factors = result.factors * xp.asarray(col_weights[:, None], result.factors.dtype)
    loadings = result.loadings * xp.asarray(row_weights[:, None], result.loadings.dtype)
    return dataclasses.replace(result, factors=factors, loadings=loadings)

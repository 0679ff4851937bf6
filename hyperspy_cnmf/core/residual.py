"""Where a decomposition leaves structure in the residual: a missed phase.

A phase the components do not hold leaves its Bragg disks in the residual
``X - L F^T`` at the positions where it is. Counting noise does not: it is
white over the detector. The check scores each position by the power of its
residual after a Gaussian blur of the detector image (a disk survives the
blur, pixel noise mostly does not), with the residual in units of its
Poisson standard deviation where the data are counts. Positions whose score
stands far above the scan's own median (robust z-score), in a connected
patch of the scan, are flagged: a phase the fit missed, to be caught by one
more component.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .backend import to_host

__all__ = ["ResidualCheck", "structured_residual"]

#: Robust z-score (median and MAD over the scan) above which a position's
#: residual counts as structured.
Z_THRESHOLD = 6.0
#: Positions (square window) over which the scores are averaged before
#: they are compared with the scan's median.
SCAN_WINDOW = 3
#: Fewest connected positions a flagged patch needs (single outliers are
#: noise, a grain covers several probe positions).
MIN_PATCH = 4


@dataclass(frozen=True)
class ResidualCheck:
    """The result of :func:`structured_residual`.

    Attributes
    ----------
    score : ndarray, navigation shape
        Blurred residual power per position, relative to the scan's median
        (1: typical).
    flagged : ndarray of bool, navigation shape
        Positions in a patch of structured residual.
    n_patches : int
        Connected flagged patches.
    suggested_k : int
        ``n_components + 1`` where a patch was found, else ``n_components``.
    message : str
        What was found and what to try.
    """

    score: np.ndarray
    flagged: np.ndarray
    n_patches: int
    suggested_k: int
    message: str

    @property
    def found(self) -> bool:
        return self.n_patches > 0


def _block_scores(X, factors, loadings, keep, signal_shape, sigma, counts):
    model = loadings @ factors.T
    residual = X - model
    if counts:  # Pearson residuals: unit variance under Poisson noise
        residual = residual / np.sqrt(np.maximum(model, 1.0))
    residual = np.where(keep, residual, 0.0).reshape((-1, *signal_shape))
    blurred = ndimage.gaussian_filter(residual, sigma=(0, sigma, sigma))
    return (blurred.reshape(len(X), -1)[:, keep] ** 2).mean(axis=1)


def structured_residual(
    X,
    factors,
    loadings,
    *,
    navigation_shape,
    signal_shape,
    mask=None,
    counts=True,
    sigma=1.5,
    block_rows=256,
):
    """Find positions where the residual of a decomposition has structure.

    Parameters
    ----------
    X : array (n_positions, n_pixels)
        The data (numpy, or dask read block by block).
    factors : array (n_pixels, k)
        Component patterns; NaN (masked pixels) count as zero.
    loadings : array (n_positions, k)
        Maps.
    navigation_shape, signal_shape : tuple of int
        ``(rows, cols)`` of the scan and of the detector.
    mask : bool array (signal_shape), optional
        Excluded detector pixels (True).
    counts : bool
        Divide the residual by the Poisson standard deviation of the model
        (counts); ``False`` for other data.
    sigma : float
        Gaussian blur of the detector image, in pixels (about a disk radius).
    block_rows : int
        Positions per block (memory: a few blocks of the data in float64).

    Returns
    -------
    ResidualCheck
    """
    factors = np.nan_to_num(np.asarray(to_host(factors), dtype=np.float64))
    loadings = np.asarray(to_host(loadings), dtype=np.float64)
    n, k = loadings.shape
    keep = np.ones(int(np.prod(signal_shape)), bool)
    if mask is not None:
        keep = ~np.asarray(mask, bool).ravel()
    scores = np.empty(n)
    for start in range(0, n, block_rows):
        stop = min(n, start + block_rows)
        block = np.asarray(X[start:stop], dtype=np.float64)
        scores[start:stop] = _block_scores(
            block, factors, loadings[start:stop], keep, signal_shape, sigma, counts
        )
    return _flag(scores.reshape(navigation_shape), k)


def _flag(scores, k):
    # a grain spans several positions, noise does not: average neighbours
    scores = ndimage.uniform_filter(scores, size=SCAN_WINDOW, mode="nearest")
    median = float(np.median(scores))
    spread = 1.4826 * float(np.median(np.abs(scores - median)))
    z = (scores - median) / max(spread, 1e-12 * max(median, 1e-300))
    labels, n_labels = ndimage.label(z > Z_THRESHOLD)
    sizes = ndimage.sum_labels(np.ones_like(z), labels, range(1, n_labels + 1))
    big = np.flatnonzero(sizes >= MIN_PATCH) + 1
    flagged = np.isin(labels, big)
    relative = scores / median if median > 0 else scores
    if big.size == 0:
        message = (
            f"no structured residual: the {k} components hold every patch "
            "of the scan the noise lets one see"
        )
        return ResidualCheck(relative, flagged, 0, k, message)
    rows, cols = np.nonzero(flagged)
    message = (
        f"structured residual in {big.size} patch(es), {flagged.mean():.1%} "
        f"of the scan (around row {rows.mean():.0f}, column {cols.mean():.0f}), "
        f"up to {relative[flagged].max():.1f}x the scan's median: a phase the "
        f"{k} components miss; try output_dimension={k + 1}"
    )
    return ResidualCheck(relative, flagged, int(big.size), k + 1, message)

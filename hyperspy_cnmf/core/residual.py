"""Where a decomposition leaves structure in the residual: a missed phase.

A phase the components do not hold leaves its Bragg disks in the residual
``X - L F^T`` at the positions where it is, the same disks at every one of
them. Counting noise does not: it is white over the detector and
independent from position to position; nor does a glass whose speckle
differs at every position (it is shared only within a probe's width). The
check therefore averages the residual over the 3 x 3 positions around each
one (a grain's disks add up, noise and speckle average down), blurs the
detector image (a disk survives the blur, pixel noise mostly does not) and
scores the position by the power of what is left, with the residual in
units of its Poisson standard deviation where the data are counts.
Positions whose score stands far above the scan's own median (robust
z-score), in a connected patch of the scan of at least 1 % of it, are
flagged: a phase the fit missed, to be caught by one more component.
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
#: Positions (square window) over which the residual is averaged before its
#: power is taken, and the scores before they are compared with the median.
SCAN_WINDOW = 3
#: Fewest connected positions a flagged patch needs (single outliers are
#: noise, a grain covers several probe positions) ...
MIN_PATCH = 4
#: ... and the least share of the scan it covers: on speckled glass, hot
#: spots of 4-5 positions reach the threshold on a 24 x 24 scan.
MIN_PATCH_FRACTION = 0.01


@dataclass(frozen=True)
class ResidualCheck:
    """The result of :func:`structured_residual`.

    Attributes
    ----------
    score : ndarray, navigation shape
        Power per position of the residual averaged over the positions
        around it and blurred, relative to the scan's median (1: typical).
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


def _blurred_residual(X, factors, loadings, keep, signal_shape, sigma, counts):
    """Residual of each row as a blurred detector image, at the kept pixels."""
    model = loadings @ factors.T
    residual = X - model
    if counts:  # Pearson residuals: unit variance under Poisson noise
        residual = residual / np.sqrt(np.maximum(model, 1.0))
    residual = np.where(keep, residual, 0.0).reshape((-1, *signal_shape))
    blurred = ndimage.gaussian_filter(residual, sigma=(0, sigma, sigma))
    return blurred.reshape(len(X), -1)[:, keep]


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
        Positions per block, rounded to whole scan rows (memory: a few
        blocks of the data in float64; the blurred residual of the rows
        around a block is carried over, each row is read once).

    Returns
    -------
    ResidualCheck
    """
    factors = np.nan_to_num(np.asarray(to_host(factors), dtype=np.float64))
    loadings = np.asarray(to_host(loadings), dtype=np.float64)
    k = loadings.shape[1]
    keep = np.ones(int(np.prod(signal_shape)), bool)
    if mask is not None:
        keep = ~np.asarray(mask, bool).ravel()
    n_rows, n_cols = navigation_shape
    halo = SCAN_WINDOW // 2
    band_rows = max(1, block_rows // n_cols)
    scores = np.empty((n_rows, n_cols))
    scored = 0  # scan rows whose score is written
    held = np.empty((0, n_cols, int(keep.sum())))  # blurred rows still needed
    for top in range(0, n_rows, band_rows):
        bottom = min(n_rows, top + band_rows)
        rows = slice(top * n_cols, bottom * n_cols)
        band = _blurred_residual(
            np.asarray(X[rows], dtype=np.float64),
            factors,
            loadings[rows],
            keep,
            signal_shape,
            sigma,
            counts,
        )
        # each row is read once: the rows above a band are carried over
        held = np.concatenate([held, band.reshape(-1, n_cols, band.shape[-1])])
        first = bottom - len(held)  # scan row of held[0]
        done = bottom if bottom == n_rows else bottom - halo  # rows below known
        if done > scored:
            # "nearest" at the scan's edges; inside, only rows whose
            # neighbours are all held are kept
            mean = ndimage.uniform_filter(
                held, size=(SCAN_WINDOW, SCAN_WINDOW, 1), mode="nearest"
            )
            window = mean[scored - first : done - first]
            scores[scored:done] = (window**2).mean(axis=-1)
            scored = done
        held = held[max(0, scored - halo) - first :]
    return _flag(scores, k)


def _flag(scores, k):
    # a grain spans several positions, noise does not: average neighbours
    scores = ndimage.uniform_filter(scores, size=SCAN_WINDOW, mode="nearest")
    median = float(np.median(scores))
    spread = 1.4826 * float(np.median(np.abs(scores - median)))
    z = (scores - median) / max(spread, 1e-12 * max(median, 1e-300))
    labels, n_labels = ndimage.label(z > Z_THRESHOLD)
    sizes = ndimage.sum_labels(np.ones_like(z), labels, range(1, n_labels + 1))
    min_patch = max(MIN_PATCH, int(np.ceil(MIN_PATCH_FRACTION * z.size)))
    big = np.flatnonzero(sizes >= min_patch) + 1
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

"""The data matrix seen by the solvers: only its two products and its norm.

The solvers never index ``X``; they ask for ``X^T L`` and ``X F`` (one pass
over the data each, for every restart at once) and ``||X||^2``. That lets the
same loop run on an in-memory numpy/cupy array, on a dask array too large for
memory (each product is a sum over blocks), or on a randomized low-rank
sketch of either (the products then cost ``(n_nav + n_sig) r m`` instead of
``n_nav n_sig m``).
"""

from __future__ import annotations

import numpy as np

from .backend import get_backend, is_dask

__all__ = ["DenseData", "DaskData", "SketchedData", "as_data", "sketch"]


def _squared_sum(a, xp):
    """``sum(a**2)`` accumulated in float64 (float32 BLAS dots lose digits)."""
    a = a.astype(np.float64, copy=False).ravel()
    return float(xp.vdot(a, a).real)


class DenseData:
    """An in-memory (numpy or cupy) data matrix of shape ``(n_nav, n_sig)``."""

    def __init__(self, X, block_rows=1024):
        self.X = X
        self.backend = get_backend(X)
        self.xp = self.backend.xp
        self.shape = X.shape
        self.dtype = X.dtype
        self.block_rows = block_rows
        self.squared_norm = sum(
            _squared_sum(X[start : start + block_rows], self.xp)
            for start in range(0, X.shape[0], block_rows)
        )

    def XtL(self, L):
        """``X^T L``: (n_sig, m)."""
        return self.X.T @ L

    def XF(self, F):
        """``X F``: (n_nav, m)."""
        return self.X @ F

    def residual_squared(self, L, F):
        """Exact ``||X - L F^T||^2`` in float64, in row blocks (bounded memory)."""
        total = 0.0
        for start in range(0, self.shape[0], self.block_rows):
            stop = start + self.block_rows
            total += _squared_sum(self.X[start:stop] - L[start:stop] @ F.T, self.xp)
        return total


class DaskData:
    """A dask data matrix: each product is one pass over the blocks.

    The products come back in memory on the backend of the blocks.
    """

    def __init__(self, X):
        import dask.array as da

        self._da = da
        self.X = X
        self.backend = get_backend(X)
        self.xp = self.backend.xp
        self.shape = X.shape
        self.dtype = X.dtype
        self.squared_norm = float(da.sum(X.astype(np.float64) ** 2).compute())

    def XtL(self, L):
        return self.xp.asarray(self._da.dot(self.X.T, L).compute())

    def XF(self, F):
        return self.xp.asarray(self._da.dot(self.X, F).compute())

    def residual_squared(self, L, F):
        r = self.X - self._da.dot(
            self._da.from_array(L, chunks=(self.X.chunks[0], -1)), F.T
        )
        return float(self._da.sum(r.astype(np.float64) ** 2).compute())


class SketchedData:
    """``X ~= P Z`` with ``P`` (n_nav, r) orthonormal and ``Z = P^T X`` (r, n_sig).

    ``squared_norm`` is the exact ``||X||^2`` so that errors computed on the
    sketch are ``||X - P Z||^2 + ||P Z - L F^T||^2``, an honest estimate.
    """

    def __init__(self, P, Z, squared_norm, backend):
        self.P = P
        self.Z = Z
        self.backend = backend
        self.xp = backend.xp
        self.shape = (P.shape[0], Z.shape[1])
        self.dtype = Z.dtype
        self.squared_norm = float(squared_norm)

    def XtL(self, L):
        return self.Z.T @ (self.P.T @ L)

    def XF(self, F):
        return self.P @ (self.Z @ F)


def as_data(X):
    """Wrap a validated matrix in the matching data class."""
    if is_dask(X):
        return DaskData(X)
    return DenseData(X)


def _orthonormal(Y, xp):
    """Orthonormal basis of the columns of ``Y`` by Cholesky-QR2 via eigh.

    Two rounds of ``Y V diag(1/sqrt(lambda))`` from the float64 Gram matrix:
    as accurate as Householder QR for the well-conditioned bases of a range
    finder, far faster than LAPACK's QR on tall matrices here, and directions
    with a negligible eigenvalue (rank deficiency) are dropped, not blown up.
    """
    dtype = Y.dtype
    Y = Y.astype(np.float64)
    for _ in range(2):
        eigenvalues, V = xp.linalg.eigh(Y.T @ Y)
        keep = eigenvalues > eigenvalues.max() * 1e-13
        Y = Y @ (V[:, keep] / xp.sqrt(eigenvalues[keep]))
    return Y.astype(dtype)


def sketch(data, rank, rng, n_power_iter=2):
    """Randomized range finder (Halko et al. 2011) of ``data``'s rows.

    Passes over the data: ``2 + 2 * n_power_iter``. The random test matrix
    comes from ``rng`` on the host so that numpy, cupy and dask inputs give
    the same sketch.
    """
    xp = data.xp
    n_nav, n_sig = data.shape
    omega = rng.standard_normal((n_sig, rank)).astype(data.dtype)
    P = _orthonormal(data.XF(xp.asarray(omega)), xp)
    for _ in range(n_power_iter):
        P = _orthonormal(data.XF(_orthonormal(data.XtL(P), xp)), xp)
    return SketchedData(P, data.XtL(P).T, data.squared_norm, data.backend)

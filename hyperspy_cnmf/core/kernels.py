"""Products of integer counts with a thin float matrix, with no cast copy.

An exact pass of the fit multiplies the data (n_nav, n_sig) by a matrix of
only k columns. For integer counts the BLAS route must first cast each block
of rows to float: writing and re-reading that float copy costs more than the
product when k is small. These numba kernels convert each count as they read
it. ``benchmarks/bench_kernels.py`` measures them against cast + BLAS on the
same blocks: 3 to 5 times faster on uint16 counts for k = 6, even at k = 24,
and slower above (the kernels are not tiled like BLAS), hence
:data:`MAX_COLUMNS`.

numba comes with pyxem; without it (or for other data) the callers keep the
cast + BLAS route, which gives the same products to float32 rounding.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

__all__ = ["MAX_COLUMNS", "applies", "counts_times", "counts_transposed_times"]

MAX_COLUMNS = 24  # above, cast + BLAS is faster (bench_kernels.py)

# numba's default "workqueue" threading layer aborts the process when two
# threads launch parallel kernels at once: one launch at a time.
_LAUNCH = threading.Lock()


@functools.cache
def _compiled():
    """The two kernels, compiled on first use; None without numba."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a pyxem dependency
        return None

    jit = numba.njit(parallel=True, fastmath=True, nogil=True, cache=True)

    @jit
    def times(X, FT):  # pragma: no cover - compiled
        n, m = X.shape
        k = FT.shape[0]
        out = np.empty((n, k), np.float32)
        for i in numba.prange(n):
            for c in range(k):
                acc = np.float32(0)
                for j in range(m):
                    acc += np.float32(X[i, j]) * FT[c, j]
                out[i, c] = acc
        return out

    @jit
    def transposed_times(X, LT, n_parts):  # pragma: no cover - compiled
        # each thread sums its band of rows into its own accumulator
        n, m = X.shape
        k = LT.shape[0]
        parts = np.zeros((n_parts, k, m), np.float32)
        rows = (n + n_parts - 1) // n_parts
        for p in numba.prange(n_parts):
            for i in range(p * rows, min(n, (p + 1) * rows)):
                for c in range(k):
                    weight = LT[c, i]
                    for j in range(m):
                        parts[p, c, j] += weight * np.float32(X[i, j])
        return parts.sum(axis=0)

    return times, transposed_times, numba.get_num_threads


def applies(X, n_columns: int, dtype) -> bool:
    """Whether the kernels serve ``X @ (n_sig, n_columns)`` in ``dtype``:
    C-contiguous integer numpy data in native byte order (numba reads no
    other; detector files are often big-endian), a float32 product, few
    columns."""
    return (
        isinstance(X, np.ndarray)
        and X.dtype.kind in "ui"
        and X.dtype.isnative
        and X.flags.c_contiguous
        and np.dtype(dtype) == np.float32
        and n_columns <= MAX_COLUMNS
        and _compiled() is not None
    )


def counts_times(X, F):
    """``X @ F`` in float32 for integer ``X`` (n, m) and float ``F`` (m, k)."""
    times, _, _ = _compiled()
    FT = np.ascontiguousarray(F.T, dtype=np.float32)
    with _LAUNCH:
        return times(X, FT)


def counts_transposed_times(X, L):
    """``X.T @ L`` in float32 for integer ``X`` (n, m) and float ``L`` (n, k)."""
    _, transposed_times, n_threads = _compiled()
    LT = np.ascontiguousarray(L.T, dtype=np.float32)
    n_parts = max(1, min(n_threads(), X.shape[0]))
    with _LAUNCH:
        return transposed_times(X, LT, n_parts).T

"""Products of integer counts with a thin float matrix, with no cast copy.

An exact pass of the fit multiplies the data (n_nav, n_sig) by a matrix of
only a few columns (components times running restarts). For integer counts
the BLAS route must first cast each block of rows to float: writing and
re-reading that float copy costs more than the product when the matrix is
thin. These numba kernels convert each count as they read it.
``benchmarks/bench_kernels.py`` measures them against cast + BLAS on the
same 4096 x 65536 uint16 counts: 0.21 of the time at 6 columns, 0.44 at
12, 0.80 at 24 and 1.16 at 32 (the kernels are not tiled like BLAS), hence
:data:`MAX_COLUMNS`.

numba is a dependency (pyxem's too). Where it cannot be imported or
compiled, and for other data (floats, big-endian or strided counts, cupy,
wider products), the callers keep cast + BLAS, which gives the same
products to float32 rounding.
"""

from __future__ import annotations

import functools
import os
import threading

import numpy as np

__all__ = [
    "MAX_COLUMNS",
    "applies",
    "as_float",
    "counts_kernels_apply",
    "counts_statistics",
    "counts_times",
    "counts_transposed_times",
    "poisson_applies",
    "poisson_products",
    "radial_applies",
    "radial_deficits",
    "radial_fill",
    "work_bytes",
]

MAX_COLUMNS = 24  # above, cast + BLAS is faster (bench_kernels.py)

#: Where the model is at most this, a count there gives no ratio X / M to
#: the Poisson updates (it would overflow them) and its loss is taken at the
#: floor: the same rule on every route (kernels, numpy, cupy).
MODEL_FLOOR = 1e-30
LOG_FLOOR = float(np.log(MODEL_FLOOR))

#: Bands of rows that :func:`counts_transposed_times` sums separately and
#: then adds: a fixed number, not one per thread, so that the order of the
#: sums, hence the result, does not depend on the thread count (at most this
#: many threads work on it).
N_PARTS = 8

# numba's "workqueue" threading layer (the one always present) aborts the
# process when two threads launch parallel kernels at once: one at a time.
_LAUNCH = threading.Lock()

# After a parallel kernel, the threads of numba's OpenMP layer spin for a
# while before they sleep (GNU OpenMP's default), taking the cores from the
# BLAS product that follows: on 2 cores, X^T L (576 x 16384 by 10 columns)
# took 11.4 ms after a kernel against 7.3 ms alone, and the default fit of a
# 24x24 scan at k = 10 took 3.4 s against 2.5 s with passive waiting. OpenMP
# reads this when numba first starts its threads (the first parallel
# kernel), so it is set here, unless the user has chosen a policy.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# Only the reassociation that vectorizes the sums: NaN or inf in the
# factors propagate as they would through BLAS.
_JIT_OPTIONS = dict(parallel=True, fastmath={"reassoc", "contract"}, nogil=True)


def _compile_on_disk(compile_kernels, **options):
    """``compile_kernels(numba, jit)`` with ``jit = numba.njit(**options)``,
    cached on disk where numba can write its cache (it refuses, when
    decorating, without a writable folder); None without numba."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return None
    try:
        return compile_kernels(numba, numba.njit(cache=True, **options))
    except RuntimeError:  # pragma: no cover - no writable cache folder
        return compile_kernels(numba, numba.njit(**options))


@functools.cache
def _compiled():
    """The two kernels and numba's thread count; None without numba."""

    def compile_kernels(numba, jit):
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

    return _compile_on_disk(compile_kernels, **_JIT_OPTIONS)


@functools.cache
def _compiled_poisson():
    """The two Poisson-pass kernels; None without numba.

    Only the nonzero counts are visited: an entry with ``X = 0`` adds
    nothing to ``Q = X / M``, to ``sum X log M`` or to ``sum X M``, so the
    model is computed where the counts are (a low-dose pattern is mostly
    zeros) and no model block is ever stored.
    """

    def compile_kernels(numba, jit):
        # The model L F^T at an entry is summed in place in each kernel: a
        # jitted helper captured from this closure would change the cache key
        # of every process (numba would compile again each time).
        # Each band of rows first lists its row's kept nonzero columns with
        # no branch (the index is written always, the count advances by 0 or
        # 1), then visits them: branching on each entry mispredicted on
        # counts of 23 % nonzeros and took a third of the time (256 x 65536
        # uint16, k = 6: rows 30 -> 22 ms, columns 58 -> 37 ms; the same
        # sums in the same order).
        @jit
        def rows(X, L, FT, keep, n_parts):  # pragma: no cover - compiled
            # Q F; no loss sums (no logarithm: a fifth of the time), they
            # come with the columns pass
            n, m = X.shape
            k = FT.shape[0]
            out = np.zeros((n, k))
            band = (n + n_parts - 1) // n_parts
            for p in numba.prange(n_parts):
                nonzero = np.empty(m, np.int64)
                for i in range(p * band, min(n, (p + 1) * band)):
                    count = 0
                    for j in range(m):
                        nonzero[count] = j
                        count += (X[i, j] != 0) & keep[j]
                    for t in range(count):
                        j = nonzero[t]
                        x = np.float64(X[i, j])
                        model = 0.0
                        for c in range(k):
                            model += L[i, c] * FT[c, j]
                        if model <= MODEL_FLOOR:  # no ratio: it would overflow
                            continue
                        ratio = x / model
                        for c in range(k):
                            out[i, c] += ratio * FT[c, j]
            return out

        @jit
        def columns(X, L, FT, keep, n_parts):  # pragma: no cover - compiled
            # Q^T L and the loss sums; each thread sums a band of rows
            n, m = X.shape
            k = FT.shape[0]
            parts = np.zeros((n_parts, m, k))
            sums = np.zeros((n_parts, 2))
            band = (n + n_parts - 1) // n_parts
            for p in numba.prange(n_parts):
                nonzero = np.empty(m, np.int64)
                for i in range(p * band, min(n, (p + 1) * band)):
                    count = 0
                    for j in range(m):
                        nonzero[count] = j
                        count += (X[i, j] != 0) & keep[j]
                    for t in range(count):
                        j = nonzero[t]
                        x = np.float64(X[i, j])
                        model = 0.0
                        for c in range(k):
                            model += L[i, c] * FT[c, j]
                        if model <= MODEL_FLOOR:  # counts where the model has none:
                            sums[p, 0] += x * LOG_FLOOR  # the loss at the floor
                            continue
                        ratio = x / model
                        for c in range(k):
                            parts[p, j, c] += ratio * L[i, c]
                        sums[p, 0] += x * np.log(model)
                        sums[p, 1] += x * model
            return parts.sum(axis=0), sums.sum(axis=0)

        return rows, columns

    # exact zeros tested above
    return _compile_on_disk(compile_kernels, **dict(_JIT_OPTIONS, fastmath=False))


@functools.cache
def _compiled_counts():
    """The statistics and the cast of integer counts; None without numba."""

    def compile_kernels(numba, jit):
        @jit
        def statistics(X, keep, n_parts):  # pragma: no cover - compiled
            # each band of rows sums into its own accumulators (a fixed
            # number of bands: the result does not depend on the threads)
            n, m = X.shape
            rows = (n + n_parts - 1) // n_parts
            row_sums = np.zeros(n)
            col_parts = np.zeros((n_parts, m))
            # per band: minimum, maximum, sum of squares, sum x log x
            scalars = np.zeros((n_parts, 4))
            for p in numba.prange(n_parts):
                low, high, squares, entropy = np.inf, -np.inf, 0.0, 0.0
                for i in range(p * rows, min(n, (p + 1) * rows)):
                    total = 0.0
                    for j in range(m):
                        if keep[j]:
                            x = np.float64(X[i, j])
                            total += x
                            col_parts[p, j] += x
                            squares += x * x
                            low = min(low, x)
                            high = max(high, x)
                            if x > 0:
                                entropy += x * np.log(x)
                    row_sums[i] = total
                scalars[p, 0] = low
                scalars[p, 1] = high
                scalars[p, 2] = squares
                scalars[p, 3] = entropy
            return row_sums, col_parts, scalars

        @jit
        def cast(X, out):  # pragma: no cover - compiled
            n, m = X.shape
            for i in numba.prange(n):
                for j in range(m):
                    out[i, j] = X[i, j]

        return statistics, cast

    return _compile_on_disk(compile_kernels, parallel=True, nogil=True)


def as_float(block, dtype):
    """``block.astype(dtype)``: a new array; on the threads for integer
    numpy counts to float32 or float64 (numpy casts on one thread: a warm
    256 x 65536 uint16 block to float32, 2 cores, took 9 ms, the kernel
    5 ms)."""
    dtype = np.dtype(dtype)
    if not (
        counts_kernels_apply(block)
        and block.ndim == 2
        and dtype in (np.float32, np.float64)
    ):
        return block.astype(dtype)
    out = np.empty(block.shape, dtype=dtype)
    with _LAUNCH:
        _compiled_counts()[1](block, out)
    return out


def counts_kernels_apply(X) -> bool:
    """Whether :func:`counts_statistics` and :func:`as_float`'s kernel take
    ``X``: C-contiguous native integer numpy counts, when numba works."""
    return (
        isinstance(X, np.ndarray)
        and X.dtype.kind in "ui"
        and X.dtype.isnative
        and X.flags.c_contiguous
        and _compiled_counts() is not None
    )


def counts_statistics(X, keep):
    """One read of a block of integer counts for every statistic the fit
    needs from it, over the kept columns ``keep`` (bool, (m,)).

    Returns
    -------
    row_sums : float64 array (n,)
    col_sums : float64 array (m,), zero at excluded columns
    minimum, maximum, squares, x_log_x : float
        The extremes, ``sum X^2`` and ``sum X log X`` (0 log 0 = 0).

    Sums of integer counts below 2**53 are exact in float64 whatever the
    order, so the sums, extremes and squares are numpy's exactly; only
    ``x_log_x`` differs from numpy's by rounding.
    """
    keep = np.ascontiguousarray(keep, dtype=np.bool_)
    n_parts = max(1, min(N_PARTS, X.shape[0]))
    with _LAUNCH:
        row_sums, col_parts, scalars = _compiled_counts()[0](X, keep, n_parts)
    return (
        row_sums,
        col_parts.sum(axis=0),
        float(scalars[:, 0].min()),
        float(scalars[:, 1].max()),
        float(scalars[:, 2].sum()),
        float(scalars[:, 3].sum()),
    )


def poisson_applies(X) -> bool:
    """Whether :func:`poisson_products` takes ``X``: a C-contiguous native
    numpy block of real numbers, when numba works."""
    return (
        isinstance(X, np.ndarray)
        and X.dtype.kind in "uif"
        and X.dtype.isnative
        and X.flags.c_contiguous
        and _compiled_poisson() is not None
    )


def poisson_products(X, L, F, keep, transposed):
    """One block's Poisson-pass sums, visiting the nonzero counts only.

    Parameters
    ----------
    X : array (n, m)
        Counts (any real dtype accepted by :func:`poisson_applies`).
    L : array (n, k)
        The block's maps.
    F : array (m, k)
        The patterns over all ``m`` columns.
    keep : bool array (m,)
        Kept columns; the others (a signal mask) are skipped.
    transposed : bool
        ``Q^T L`` (m, k) if True, else ``Q F`` (n, k).

    Returns
    -------
    product : array in ``L``'s dtype
    x_log_m, x_m : float
        ``sum X log M`` and ``sum X M`` over the kept entries, for
        ``transposed=True`` only (NaN otherwise: the row pass skips the
        logarithm).
    """
    rows, columns = _compiled_poisson()
    L64 = np.ascontiguousarray(L, dtype=np.float64)
    FT = np.ascontiguousarray(F.T, dtype=np.float64)
    keep = np.ascontiguousarray(keep, dtype=np.bool_)
    with _LAUNCH:
        n_parts = max(1, min(N_PARTS, X.shape[0]))  # thread-count free
        if transposed:
            product, sums = columns(X, L64, FT, keep, n_parts)
        else:
            product, sums = rows(X, L64, FT, keep, n_parts), (np.nan, np.nan)
    return product.astype(L.dtype), float(sums[0]), float(sums[1])


def applies(X, n_columns: int, dtype) -> bool:
    """Whether the kernels compute ``X @ M`` for ``M`` of ``n_columns``
    columns in ``dtype``.

    Parameters
    ----------
    X : array
        The counts (or a block of them).
    n_columns : int
        Columns of the factor or map matrix.
    dtype : dtype
        Working float type of the product.

    Returns
    -------
    bool
        True for C-contiguous integer numpy data in native byte order (numba
        reads no other; detector files are often big-endian), a float32
        product and at most :data:`MAX_COLUMNS` columns, when numba works.
    """
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
    """``X @ F`` in float32 for integer ``X`` (n, m) and float ``F`` (m, k).

    ``X`` must satisfy :func:`applies`.
    """
    times, _, _ = _compiled()
    FT = np.ascontiguousarray(F.T, dtype=np.float32)
    with _LAUNCH:
        return times(X, FT)


def counts_transposed_times(X, L):
    """``X.T @ L`` in float32 for integer ``X`` (n, m) and float ``L`` (n, k).

    ``X`` must satisfy :func:`applies`.
    """
    _, transposed_times, _ = _compiled()
    LT = np.ascontiguousarray(L.T, dtype=np.float32)
    n_parts = max(1, min(N_PARTS, X.shape[0]))
    with _LAUNCH:
        return transposed_times(X, LT, n_parts).T


def work_bytes(n_columns_of_data: int) -> int:
    """Bytes of the per-thread accumulators of one :func:`counts_transposed_times`
    call at the widest product (:data:`MAX_COLUMNS`), for memory estimates."""
    return 2 * N_PARTS * MAX_COLUMNS * n_columns_of_data * 4  # parts and their sum


@functools.cache
def _compiled_radial():
    """The two kernels of radial continuity; None without numba.

    The scipy route takes nine sparse products and elementwise passes over
    arrays of (samples or pixels) x images, each written and read back; at
    the restarts' width (10 restarts x k = 30: 300 patterns of 128 x 128)
    that is 55 ms a call. These kernels read the patterns once for the
    samples and their per-radius statistics, and once more to fill the
    pixels.
    """

    def compile_kernels(numba, jit):
        @jit
        def deficits(
            flat, s_ptr, s_idx, s_w, starts, factor, level
        ):  # pragma: no cover
            # per radius (a contiguous band of samples): the samples, their
            # mean, the mean of those at most factor x mean (the baseline),
            # and how far each sample lies below the baseline
            n = flat.shape[1]
            n_radial = starts.size - 1
            raised = np.empty((starts[n_radial], n), flat.dtype)
            baseline = np.empty((n_radial, n), flat.dtype)
            for r in numba.prange(n_radial):
                lo, hi = starts[r], starts[r + 1]
                total = np.zeros(n)
                for s in range(lo, hi):
                    raised[s, :] = 0
                    for t in range(s_ptr[s], s_ptr[s + 1]):
                        w, p = s_w[t], s_idx[t]
                        for j in range(n):
                            raised[s, j] += w * flat[p, j]
                    for j in range(n):
                        total[j] += raised[s, j]
                mean = (total / max(hi - lo, 1)).astype(flat.dtype)
                cut = factor * mean
                kept_sum = np.zeros(n)
                kept = np.zeros(n)
                for s in range(lo, hi):
                    for j in range(n):
                        if raised[s, j] <= cut[j]:
                            kept_sum[j] += raised[s, j]
                            kept[j] += 1
                for j in range(n):
                    b = kept_sum[j] / kept[j] if kept[j] > 0 else mean[j]
                    baseline[r, j] = b * level[r]
                for s in range(lo, hi):
                    for j in range(n):
                        raised[s, j] = max(baseline[r, j] - raised[s, j], 0)
            return raised, baseline

        @jit
        def fill(
            flat, raised, b_ptr, b_idx, b_w, baseline, r_ptr, r_idx, r_w
        ):  # pragma: no cover
            # per pixel: the interpolated polar deficit, capped by the gap to
            # the baseline at the pixel's own radius, added to the pixel; in
            # bands of pixels, each with its own row of that gap, so that
            # every inner loop runs along the contiguous images
            n_pixels, n = flat.shape
            out = np.empty_like(flat)
            n_bands = min(n_pixels, 256)
            band = (n_pixels + n_bands - 1) // n_bands
            for q in numba.prange(n_bands):
                gap = np.empty(n, flat.dtype)
                for p in range(q * band, min(n_pixels, (q + 1) * band)):
                    out[p, :] = 0
                    for t in range(b_ptr[p], b_ptr[p + 1]):
                        w, c = b_w[t], b_idx[t]
                        for j in range(n):
                            out[p, j] += w * raised[c, j]
                    gap[:] = 0
                    for t in range(r_ptr[p], r_ptr[p + 1]):
                        w, r = r_w[t], r_idx[t]
                        for j in range(n):
                            gap[j] += w * baseline[r, j]
                    for j in range(n):
                        x = flat[p, j]
                        out[p, j] = x + min(out[p, j], max(gap[j] - x, 0))
            return out

        return deficits, fill

    return _compile_on_disk(compile_kernels, **_JIT_OPTIONS)


def radial_applies(flat) -> bool:
    """Whether :func:`radial_deficits` and :func:`radial_fill` take ``flat``
    (pixels, n): a native float32 or float64 numpy array, when numba works."""
    return (
        isinstance(flat, np.ndarray)
        and flat.ndim == 2
        and flat.dtype in (np.float32, np.float64)
        and flat.dtype.isnative
        and _compiled_radial() is not None
    )


def _csr_arrays(matrix, dtype):
    return matrix.indptr, matrix.indices, matrix.data.astype(dtype, copy=False)


def radial_deficits(flat, sampler, starts, factor, level):
    """The polar samples' per-radius baseline and their deficits below it.

    Parameters
    ----------
    flat : ndarray (n_pixels, n)
        The patterns, one per column (:func:`radial_applies`).
    sampler : scipy.sparse.csr_matrix (n_valid, n_pixels)
        Interpolation weights of the valid polar samples, radius by radius.
    starts : int array (n_radial + 1,)
        Where each radius's samples start among the rows of ``sampler``.
    factor : float
        Samples above ``factor`` times their radius's mean are left out of
        the baseline.
    level : array (n_radial,)
        1 where the baseline applies, 0 where it is zeroed (``r_min``).

    Returns
    -------
    raised : ndarray (n_valid, n)
        ``max(baseline - sample, 0)`` per sample.
    baseline : ndarray (n_radial, n)
    """
    deficits, _ = _compiled_radial()
    flat = np.ascontiguousarray(flat)
    with _LAUNCH:
        return deficits(
            flat,
            *_csr_arrays(sampler, flat.dtype),
            np.asarray(starts, dtype=np.int64),
            flat.dtype.type(factor),
            np.asarray(level, dtype=flat.dtype),
        )


def radial_fill(flat, raised, back_projection, baseline, radial_matrix):
    """``flat`` plus the back-projected deficits ``raised``, each pixel capped
    at the baseline interpolated to its own radius: (n_pixels, n), new."""
    _, fill = _compiled_radial()
    flat = np.ascontiguousarray(flat)
    with _LAUNCH:
        return fill(
            flat,
            raised,
            *_csr_arrays(back_projection, flat.dtype),
            baseline,
            *_csr_arrays(radial_matrix, flat.dtype),
        )

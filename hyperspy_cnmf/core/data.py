"""The data matrix seen by the solvers: only its two products and its norm.

The solvers never index ``X``; they ask for ``X^T L`` and ``X F`` (one pass
over the data each, for every restart at once) and ``||X||^2``. That lets the
same loop run on an in-memory numpy/cupy array, on a dask array too large for
memory (each product is a sum over blocks), or on a randomized low-rank
sketch of either (the products then cost ``(n_nav + n_sig) r m`` instead of
``n_nav n_sig m``).

Memory: no data class copies the data. :class:`BlockData` reads an
in-memory array (integer counts, or any array with kept rows/columns or a
scaling) in row blocks of about 64 MB, each cast to the working float type
on the fly, or, for integer counts times a thin matrix, handed uncast to
the kernels of :mod:`.kernels`; :class:`DaskData` streams a dask array block
by block, in the blocks' own layout (no rechunking). Excluded columns (a signal mask) are
handled by zero rows in the factors, excluded rows (a navigation mask) by
gathering only the kept rows, and Poisson weights by scaling the small
factor and map matrices, never the data.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import warnings
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from .backend import float_dtype, get_backend, is_dask
from .kernels import (
    MODEL_FLOOR,
    applies,
    as_float,
    counts_kernels_apply,
    counts_statistics,
    counts_times,
    counts_transposed_times,
    poisson_applies,
    poisson_products,
)
from .kernels import work_bytes as kernel_work_bytes

__all__ = [
    "Products",
    "FitData",
    "DenseData",
    "BlockData",
    "DaskData",
    "SketchedData",
    "DataStats",
    "PoissonPass",
    "as_data",
    "is_data",
    "sketch",
    "truncated_svd_errors",
]

BLOCK_BYTES = 64 * 2**20  # working-float bytes of one block of rows


def _squared_sum(a, xp):
    """``sum(a**2)`` accumulated in float64 (float32 BLAS dots lose digits)."""
    a = a.astype(np.float64, copy=False).ravel()
    return float(xp.vdot(a, a).real)


class PoissonPass(NamedTuple):
    """One pass of the Poisson (generalized Kullback-Leibler) fit.

    With ``M = L F^T`` the model and ``Q = X / M`` elementwise (0 where
    ``X`` is 0), ``product`` is ``Q^T L`` (n_sig, k) or ``Q F`` (n_nav, k),
    the numerators of the multiplicative updates; ``x_log_m`` is
    ``sum X log M`` and ``x_m`` is ``sum X M``, from which the divergence
    and the squared error of ``(L, F)`` follow without another pass. The
    sums come with the transposed pass only (NaN for ``Q F``: the loss is
    read once per iteration, and the logarithm is a fifth of a pass).
    """

    product: object
    x_log_m: float
    x_m: float


def _poisson_block(B, L_part, F, transposed, xp):
    """A block's share of a :class:`PoissonPass`: ``B`` (rows, n_sig) float
    data, ``L_part`` its rows of the maps, ``F`` (n_sig, k) the patterns."""
    M = L_part @ F.T
    # Entries with X = 0 contribute nothing: their ratio is 0 whatever M is;
    # counts where the model is (nearly) zero give no ratio either (it would
    # overflow the update) and their loss is taken at the floor.
    positive = M > MODEL_FLOOR
    Q = xp.where(positive, B / xp.where(positive, M, 1), 0).astype(M.dtype)
    if not transposed:
        return Q @ F, np.nan, np.nan
    x_log_m = float((B * xp.log(xp.maximum(M, MODEL_FLOOR))).sum(dtype=np.float64))
    x_m = float((B * M).sum(dtype=np.float64))
    return Q.T @ L_part, x_log_m, x_m


def _poisson_raw_block(raw, cast, L_part, F, keep, transposed, xp):
    """A block's :func:`_poisson_block`, by the kernels over the nonzero
    counts of the ``raw`` block where they apply (``keep``: kept columns),
    else on ``cast()``, the block as the fit sees it (float, excluded
    columns zero)."""
    if isinstance(raw, np.ndarray) and not raw.flags.c_contiguous:
        raw = np.ascontiguousarray(raw)
    if poisson_applies(raw):
        return poisson_products(raw, L_part, F, keep, transposed)
    return _poisson_block(cast(), L_part, F, transposed, xp)


def _count_terms(B, xp, keep=None, entries=2**16):
    """``(sum B, sum B log B)`` of a block (0 log 0 = 0) over the columns
    ``keep`` (all if None), in float64, 65536 entries at a time (a float64
    copy of a whole block of counts would be four times its size)."""
    rows = max(1, entries // max(1, B.shape[1]))
    total = entropy = 0.0
    for start in range(0, B.shape[0], rows):
        part = B[start : start + rows].astype(np.float64)
        if keep is not None:  # excluded float columns may hold NaN
            part = xp.where(keep[None, :], part, 0.0)
        total += float(part.sum())
        entropy += float((part * xp.log(xp.where(part > 0, part, 1))).sum())
    return total, entropy


def _add_terms(terms):
    total = entropy = 0.0
    for a, b in terms:
        total, entropy = total + a, entropy + b
    return total, entropy


def _poisson_sum(parts, out, transposed):
    """Add up block results from :func:`_poisson_block`: ``parts`` yields
    ``(row slice, block result)``; ``out`` receives the products."""
    x_log_m = x_m = 0.0
    for part, (product, a, b) in parts:
        if transposed:
            out += product
        else:
            out[part] = product
        x_log_m += a
        x_m += b
    return PoissonPass(out, x_log_m, x_m)


def _read_once(method):
    """Memoise a pass of a data object (its data never change): the checks,
    the Poisson weights and the scan binning all read its statistics; the
    Poisson polish and the choice of a restart by deviance its constants."""

    @functools.wraps(method)
    def once(self):
        key = "_once_" + method.__name__
        if key not in self.__dict__:
            self.__dict__[key] = method(self)
        return self.__dict__[key]

    return once


class DataStats(NamedTuple):
    """What :func:`~hyperspy_cnmf.core.validation.check_data` checks, over the
    kept entries (before any scaling); ``whole``: every one a whole number
    (integers trivially; floats that hold counts, as espm writes them,
    :func:`~.binning.is_counts`)."""

    finite: bool
    minimum: float
    maximum: float
    row_sums: np.ndarray
    col_sums: np.ndarray
    whole: bool


def _all_whole(block, xp) -> bool:
    """Whether every entry of ``block`` is a whole number (NaN is not)."""
    return block.dtype.kind in "uib" or bool((xp.rint(block) == block).all())


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _indices(keep, n):
    """Kept indices (intp, sorted) from a boolean mask or an index array."""
    if keep is None:
        return None
    keep = np.asarray(keep)
    if keep.dtype == bool:
        if keep.shape != (n,):
            raise ValueError(f"a keep mask must have shape ({n},), got {keep.shape}")
        keep = np.flatnonzero(keep)
    keep = np.unique(keep.astype(np.intp))
    if keep.size == 0 or keep[0] < 0 or keep[-1] >= n:
        raise ValueError(f"kept indices must be in [0, {n}) and not empty")
    return None if keep.size == n else keep


def _scale(values, n):
    if values is None:
        return None
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (n,) or not (values > 0).all():
        raise ValueError(f"scales must be {n} positive numbers")
    return values


class DenseData:
    """An in-memory (numpy or cupy) float data matrix of shape ``(n_nav, n_sig)``."""

    def __init__(self, X, block_rows=1024):
        self.X = X
        self.backend = get_backend(X)
        self.xp = self.backend.xp
        self.shape = X.shape
        self.dtype = X.dtype
        self.block_rows = block_rows
        self.work_bytes = 3 * block_rows * X.shape[1] * 8
        self._squared_norm = None

    @property
    def squared_norm(self) -> float:
        if self._squared_norm is None:
            self._squared_norm = sum(
                _squared_sum(self.X[start : start + self.block_rows], self.xp)
                for start in range(0, self.X.shape[0], self.block_rows)
            )
        return self._squared_norm

    def XtL(self, L):
        """``X^T L``: (n_sig, m)."""
        return self.X.T @ L

    def XF(self, F):
        """``X F``: (n_nav, m)."""
        return self.X @ F

    def power_pass(self, F):
        """``(X F, X^T X F)``: a power iteration of the range finder."""
        Y = self.X @ F
        return Y, self.X.T @ Y

    def row_blocks(self):
        """``(kept-row indices, block)`` pairs covering the data, each block
        the kept columns of those rows in the data's own dtype."""
        for start in range(0, self.shape[0], self.block_rows):
            stop = min(start + self.block_rows, self.shape[0])
            yield np.arange(start, stop), self.X[start:stop]

    @_read_once
    def count_terms(self) -> tuple[float, float]:
        """``(sum X, sum X log X)``: the constants of the Poisson divergence."""
        return _add_terms(
            _count_terms(self.X[start : start + self.block_rows], self.xp)
            for start in range(0, self.shape[0], self.block_rows)
        )

    def poisson_pass(self, L, F, transposed):
        """One pass for the Poisson fit (:class:`PoissonPass`), in row blocks."""
        xp = self.xp
        rows = max(1, BLOCK_BYTES // (4 * self.shape[1] * self.X.dtype.itemsize))
        keep = np.ones(self.shape[1], dtype=bool)
        out = xp.zeros((F.shape[0] if transposed else L.shape[0], F.shape[1]), F.dtype)
        parts = []
        for start in range(0, self.shape[0], rows):
            part = slice(start, start + rows)
            block = self.X[part]
            parts.append(
                (
                    part,
                    _poisson_raw_block(
                        block, lambda b=block: b, L[part], F, keep, transposed, xp
                    ),
                )
            )
        return _poisson_sum(parts, out, transposed)

    def residual_squared(self, L, F):
        """Exact ``||X - L F^T||^2`` in float64, in row blocks (bounded memory)."""
        total = 0.0
        for start in range(0, self.shape[0], self.block_rows):
            stop = start + self.block_rows
            total += _squared_sum(self.X[start:stop] - L[start:stop] @ F.T, self.xp)
        return total

    @_read_once
    def stats(self) -> DataStats:
        return _stats_dense(self.X, self.xp)

    def with_scaling(self, row_scale, col_scale) -> BlockData:
        """The same data divided by ``row_scale`` and ``col_scale`` (no copy:
        the products scale blocks as they are read)."""
        return BlockData(self.X, row_scale=row_scale, col_scale=col_scale)


def _stats_dense(X, xp):
    finite = X.dtype.kind != "f" or bool(xp.isfinite(X).all())
    if not finite:
        return DataStats(False, 0.0, 0.0, np.zeros(1), np.zeros(1), False)
    # in blocks (no full-size temporary), stopped at the first that is not
    rows = max(1, BLOCK_BYTES // (8 * X.shape[1]))
    whole = all(
        _all_whole(X[start : start + rows], xp) for start in range(0, len(X), rows)
    )
    return DataStats(
        True,
        float(X.min()),
        float(X.max()),
        _host(X.sum(axis=1, dtype=np.float64)),
        _host(X.sum(axis=0, dtype=np.float64)),
        whole,
    )


class BlockData:
    """An in-memory (numpy or cupy) matrix read in blocks of rows, never copied.

    ``X`` (n_rows, n_cols) is the user's array (a view, any real dtype:
    integer counts stay integers); the matrix the fit sees is
    ``diag(1 / row_scale) X[rows][:, cols] diag(1 / col_scale)`` in the
    working float type ``dtype`` (float32 for counts). Each product reads
    ``X`` once, ``block_bytes`` of working floats at a time.

    Parameters
    ----------
    X : array of shape (n_rows, n_cols)
    rows, cols : boolean mask or index array, optional
        Kept rows (positions) and columns (pixels); None keeps all.
    row_scale, col_scale : array of positive floats, optional
        Divisors of the kept rows/columns (Poisson normalisation).
    dtype : floating dtype, optional
        Working type; default :func:`~hyperspy_cnmf.core.backend.float_dtype`.
    block_bytes : int, optional
        Size of one block of rows in the working type (default
        :data:`BLOCK_BYTES`, 64 MiB).
    """

    def __init__(
        self,
        X,
        rows=None,
        cols=None,
        row_scale=None,
        col_scale=None,
        dtype=None,
        block_bytes=None,
    ):
        if block_bytes is None:
            block_bytes = BLOCK_BYTES
        if X.ndim != 2:
            raise ValueError(f"X must be 2D, got shape {X.shape}")
        self.X = X
        self.backend = get_backend(X)
        self.xp = self.backend.xp
        self.dtype = np.dtype(dtype if dtype is not None else float_dtype(X))
        n_rows, n_cols = X.shape
        self.rows = _indices(rows, n_rows)
        self.cols = _indices(cols, n_cols)
        n_kept_rows = n_rows if self.rows is None else self.rows.size
        n_kept_cols = n_cols if self.cols is None else self.cols.size
        self.shape = (n_kept_rows, n_kept_cols)
        self.row_scale = _scale(row_scale, n_kept_rows)
        self.col_scale = _scale(col_scale, n_kept_cols)
        self.block_rows = max(1, int(block_bytes // (n_cols * self.dtype.itemsize)))
        # The count kernels make no cast copy (a raw copy only when kept
        # rows are gathered): blocks of twice the raw bytes, fewer launches.
        self.kernel_rows = max(
            self.block_rows, int(2 * block_bytes // (n_cols * X.dtype.itemsize))
        )
        # a cast block, its float64 squares (norms) and a model block; or a
        # gathered raw block and the kernels' accumulators
        self.work_bytes = max(
            4 * self.block_rows * n_cols * self.dtype.itemsize,
            self.kernel_rows * n_cols * X.dtype.itemsize + kernel_work_bytes(n_cols),
        )
        xp = self.xp
        # Per full column: 1 / scale at kept columns, 0 at excluded ones.
        weights = np.zeros(n_cols) if self.cols is not None else np.ones(n_cols)
        kept = slice(None) if self.cols is None else self.cols
        weights[kept] = 1.0 if self.col_scale is None else 1.0 / self.col_scale
        self._col_weights = xp.asarray(weights, dtype=self.dtype)
        # float data may hold NaN in excluded columns: zeroed in each cast block
        self._excluded = (
            xp.asarray(np.flatnonzero(weights == 0))
            if self.cols is not None and X.dtype.kind == "f"
            else None
        )
        self._row_inverse = (
            None if self.row_scale is None else xp.asarray(1.0 / self.row_scale)
        )
        self._squared_norm = None
        self._count_terms = None  # (sum X, sum X log X), from the checks' pass

    def with_scaling(self, row_scale, col_scale) -> BlockData:
        """The same data divided by ``row_scale`` and ``col_scale`` (no copy)."""
        return BlockData(
            self.X,
            self.rows,
            self.cols,
            row_scale,
            col_scale,
            self.dtype,
            self.block_rows * self.X.shape[1] * self.dtype.itemsize,
        )

    def _blocks(self, block_rows=None):
        """``(kept-row slice, raw block)`` pairs covering the kept rows."""
        n = self.shape[0]
        block_rows = block_rows or self.block_rows
        for start in range(0, n, block_rows):
            stop = min(start + block_rows, n)
            if self.rows is None:
                yield slice(start, stop), self.X[start:stop]
            else:
                index = self.rows[start:stop]
                if index[-1] - index[0] == stop - start - 1:  # contiguous
                    yield slice(start, stop), self.X[index[0] : index[-1] + 1]
                else:
                    yield slice(start, stop), self.X[self.xp.asarray(index)]

    def _cast(self, block, dtype):
        """A raw block in the working type (a new array), excluded columns zero
        when they could hold NaN."""
        B = as_float(block, dtype)
        if self._excluded is not None:
            B[:, self._excluded] = 0
        return B

    def _rows_scale(self, M, part):
        if self._row_inverse is None:
            return M
        return M * self._row_inverse[part, None].astype(M.dtype)

    def _full_columns(self, F):
        """``F`` (n_kept_cols, m) as (n_cols, m): scaled, zeros at excluded columns."""
        if self.cols is None and self.col_scale is None:
            return F
        xp = self.xp
        full = xp.zeros((self.X.shape[1], F.shape[1]), dtype=F.dtype)
        kept = slice(None) if self.cols is None else xp.asarray(self.cols)
        full[kept] = F
        return full * self._col_weights[:, None].astype(F.dtype)

    def _kept_columns(self, M):
        if self.cols is not None:
            M = M[self.xp.asarray(self.cols)]
        if self.col_scale is not None:
            M = M * self.xp.asarray(1.0 / self.col_scale, dtype=M.dtype)[:, None]
        return M

    def _uses_kernels(self, n_columns, dtype) -> bool:
        """Integer counts times a thin matrix: the count kernels, no cast."""
        return self._excluded is None and applies(self.X, n_columns, dtype)

    def XtL(self, L):
        """``X^T L``: (n_sig, m), one pass in blocks of rows."""
        out = self.xp.zeros((self.X.shape[1], L.shape[1]), dtype=L.dtype)
        kernel = self._uses_kernels(L.shape[1], L.dtype)
        for part, block in self._blocks(self.kernel_rows if kernel else None):
            L_part = self._rows_scale(L[part], part)
            if kernel:
                out += counts_transposed_times(block, L_part)
            else:
                out += self._cast(block, L.dtype).T @ L_part
        return self._kept_columns(out)

    def XF(self, F):
        """``X F``: (n_nav, m), one pass in blocks of rows."""
        full = self._full_columns(F)
        out = self.xp.empty((self.shape[0], F.shape[1]), dtype=F.dtype)
        kernel = self._uses_kernels(F.shape[1], F.dtype)
        for part, block in self._blocks(self.kernel_rows if kernel else None):
            if kernel:
                product = counts_times(block, full)
            else:
                product = self._cast(block, F.dtype) @ full
            out[part] = self._rows_scale(product, part)
        return out

    def power_pass(self, F):
        """``(X F, X^T X F)`` in one pass: each block of rows gives its rows of
        ``Y = X F`` and its share of ``X^T Y`` while it is read (a power
        iteration of the range finder, :func:`sketch`)."""
        full = self._full_columns(F)
        Y = self.xp.empty((self.shape[0], F.shape[1]), dtype=F.dtype)
        out = self.xp.zeros((self.X.shape[1], F.shape[1]), dtype=F.dtype)
        kernel = self._uses_kernels(F.shape[1], F.dtype)
        for part, block in self._blocks(self.kernel_rows if kernel else None):
            if kernel:
                Y[part] = self._rows_scale(counts_times(block, full), part)
                out += counts_transposed_times(block, self._rows_scale(Y[part], part))
            else:
                B = self._cast(block, F.dtype)
                Y[part] = self._rows_scale(B @ full, part)
                out += B.T @ self._rows_scale(Y[part], part)
        return Y, self._kept_columns(out)

    def _effective(self, block, part, dtype):
        """A raw block as the fit sees it: working type, scaled, zero at
        excluded columns."""
        B = self._cast(block, dtype)
        if self.cols is not None or self.col_scale is not None:
            B *= self._col_weights.astype(dtype)
        if self._row_inverse is not None:
            B *= self._row_inverse[part, None].astype(dtype)
        return B

    @property
    def squared_norm(self) -> float:
        if self._squared_norm is None:
            self._squared_norm = sum(
                _squared_sum(self._effective(block, part, self.dtype), self.xp)
                for part, block in self._blocks()
            )
        return self._squared_norm

    def row_blocks(self):
        """``(kept-row indices, block)`` pairs covering the kept rows, each
        block the kept columns of those rows in the data's own dtype
        (unscaled)."""
        for part, block in self._blocks():
            if self.cols is not None:
                block = block[:, self.xp.asarray(self.cols)]
            yield np.arange(part.start, part.stop), block

    @_read_once
    def count_terms(self) -> tuple[float, float]:
        """``(sum X, sum X log X)`` over the kept entries (the constants of
        the Poisson divergence): one pass, or none for integer counts, whose
        :meth:`stats` pass computed them already."""
        if self._count_terms is not None:
            return self._count_terms
        keep = None if self.cols is None else self._col_weights > 0
        return _add_terms(
            _count_terms(block, self.xp, keep) for part, block in self._blocks()
        )

    def poisson_pass(self, L, F, transposed):
        """One pass for the Poisson fit (:class:`PoissonPass`), in row blocks.

        Kept columns only: the excluded ones are zero in the padded ``F``
        and in each block, so they contribute nothing.
        """
        if self.row_scale is not None or self.col_scale is not None:
            raise ValueError("the Poisson fit runs on unscaled counts")
        xp = self.xp
        full = self._full_columns(F)
        keep = _host(self._col_weights) > 0
        parts = []
        for part, block in self._blocks():

            def cast(block=block, part=part):
                return self._effective(block, part, F.dtype)

            result = _poisson_raw_block(
                block, cast, L[part], full, keep, transposed, xp
            )
            parts.append((part, result))
        n_out = self.X.shape[1] if transposed else self.shape[0]
        result = _poisson_sum(parts, xp.zeros((n_out, F.shape[1]), F.dtype), transposed)
        if transposed:
            result = result._replace(product=self._kept_columns(result.product))
        return result

    def residual_squared(self, L, F):
        """Exact ``||X - L F^T||^2`` in float64, in row blocks (bounded memory)."""
        xp = self.xp
        padded = F
        if self.cols is not None:
            padded = xp.zeros((self.X.shape[1], F.shape[1]), dtype=F.dtype)
            padded[xp.asarray(self.cols)] = F
        total = 0.0
        for part, block in self._blocks():
            B = self._effective(block, part, F.dtype)
            B -= L[part] @ padded.T
            total += _squared_sum(B, xp)
        return total

    @_read_once
    def stats(self) -> DataStats:
        """Finiteness, extremes and row/column sums of the kept entries; for
        integer counts in memory, the same pass (one kernel read) also gives
        :meth:`count_terms` and, unscaled, :attr:`squared_norm`."""
        if counts_kernels_apply(self.X):
            return self._counts_stats()
        xp = self.xp
        row_sums = np.empty(self.shape[0])
        col_sums = np.zeros(self.shape[1])
        minimum, maximum, whole = np.inf, -np.inf, True
        for part, block in self._blocks():
            if self.cols is not None:
                block = block[:, xp.asarray(self.cols)]
            if block.dtype.kind == "f" and not bool(xp.isfinite(block).all()):
                return DataStats(False, 0.0, 0.0, row_sums, col_sums, False)
            minimum = min(minimum, float(block.min()))
            maximum = max(maximum, float(block.max()))
            row_sums[part] = _host(block.sum(axis=1, dtype=np.float64))
            col_sums += _host(block.sum(axis=0, dtype=np.float64))
            whole = whole and _all_whole(block, xp)
        return DataStats(True, minimum, maximum, row_sums, col_sums, whole)

    def _counts_stats(self) -> DataStats:
        """:meth:`stats` of integer counts by :func:`~.kernels.counts_statistics`:
        on the 128x128 x 256x256 uint16 user scan (masked) this pass took
        2.4 s, where numpy's statistics and the two passes it replaces (the
        constants of the Poisson divergence, the squared norm) took 13.2 s;
        the same sums, extremes and squares, ``sum X log X`` to 2e-12."""
        keep = _host(self._col_weights) > 0
        row_sums = np.empty(self.shape[0])
        col_sums = np.zeros(self.X.shape[1])
        minimum, maximum, squares, entropy = np.inf, -np.inf, 0.0, 0.0
        for part, block in self._blocks(self.kernel_rows):
            block = np.ascontiguousarray(block)
            rows, cols, low, high, block_squares, block_entropy = counts_statistics(
                block, keep
            )
            row_sums[part] = rows
            col_sums += cols
            minimum, maximum = min(minimum, low), max(maximum, high)
            squares += block_squares
            entropy += block_entropy
        self._count_terms = (float(row_sums.sum()), entropy)
        if self.row_scale is None and self.col_scale is None:
            self._squared_norm = squares
        if self.cols is not None:
            col_sums = col_sums[self.cols]
        return DataStats(True, minimum, maximum, row_sums, col_sums, True)


def _reshape_block(block, shape):
    return block.reshape(shape)


def _compute(*collections):
    """``dask.compute(*collections)`` (one collection: its result), without
    dask.distributed's warning about a graph holding in-memory data: the
    thin factor or map matrix (megabytes, the sketch's at most) has to reach
    the workers with each product anyway. On dask's thread pool, which
    already keeps every core busy, BLAS runs one thread per task: a
    rank-56 power pass over 128x128 x 256x256 counts took 4.4 s against
    5.6 s with BLAS's own threads on top of dask's."""
    import dask

    with warnings.catch_warnings(), _one_blas_thread_per_task(collections[0]):
        warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
        results = dask.compute(*collections)
    return results[0] if len(collections) == 1 else results


@contextlib.contextmanager
def _one_blas_thread_per_task(collection):
    """BLAS limited to one thread while ``collection`` computes on dask's
    thread pool (elsewhere, e.g. dask.distributed's worker processes or the
    synchronous scheduler, nothing changes)."""
    import dask.base
    import dask.threaded

    if dask.base.get_scheduler(collections=[collection]) is not dask.threaded.get:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


def _block_product(B, A, transposed):
    """One block's ``B @ A`` (or ``B^T @ A``) in ``A``'s dtype, with a unit
    axis for the sum over blocks: the count kernels where they apply to this
    block (its dtype may differ from the dask array's declared one), else
    cast + BLAS."""
    if isinstance(B, np.ndarray):
        B = np.ascontiguousarray(B)
    if applies(B, A.shape[1], A.dtype):
        product = counts_transposed_times(B, A) if transposed else counts_times(B, A)
    else:
        B = B.astype(A.dtype, copy=False)
        product = B.T @ A if transposed else B @ A
    return product[:, None, :]


def _operand(B, m, dtype):
    """A block as a product with ``m`` columns of ``dtype`` reads it: the
    counts themselves where the count kernels apply, else cast once."""
    if isinstance(B, np.ndarray):
        B = np.ascontiguousarray(B)
    return B if applies(B, m, dtype) else as_float(B, dtype)


def _power_row(blocks, row_weights, F_parts):
    """One row of dask blocks' share of :meth:`DaskData.power_pass`, the row
    read once: its rows of ``y = M A`` and ``M^T (w y)`` over all columns
    (``w`` the squared inverse row scales, 0 at excluded rows). A block
    too wide for the count kernels is cast once, for both products."""
    m, dtype = F_parts[0].shape[1], F_parts[0].dtype
    blocks = [_operand(B, m, dtype) for B in blocks]
    y = sum(
        _block_product(B, A, transposed=False)[:, 0]
        for B, A in zip(blocks, F_parts, strict=True)
    )
    v = y * row_weights[:, None]
    xp = get_backend(y).xp
    return y, xp.concatenate(
        [_block_product(B, v, transposed=True)[:, 0] for B in blocks]
    )


def _counts_block_stats(B, keep_rows, keep_cols):
    """One dask block of integer counts' share of :meth:`DaskData.stats`:
    ``(row sums, column sums, minimum, maximum, sum X^2, sum X log X)`` over
    its kept entries (row sums of excluded rows 0). One read, by
    :func:`~.kernels.counts_statistics` where it applies."""
    B = _host(B)
    rows = np.flatnonzero(keep_rows)
    row_sums = np.zeros(B.shape[0])
    if rows.size == 0:
        return row_sums, np.zeros(B.shape[1]), np.inf, -np.inf, 0.0, 0.0
    kept = B if rows.size == B.shape[0] else B[rows]
    kept = np.ascontiguousarray(kept)
    if counts_kernels_apply(kept):
        sums, col_sums, low, high, squares, entropy = counts_statistics(kept, keep_cols)
    else:
        values = np.where(keep_cols[None, :], kept.astype(np.float64), 0.0)
        inside = values[:, keep_cols]
        sums, col_sums = values.sum(axis=1), values.sum(axis=0)
        low = inside.min() if inside.size else np.inf
        high = inside.max() if inside.size else -np.inf
        squares = float((values * values).sum())
        entropy = float((values * np.log(np.where(values > 0, values, 1))).sum())
    row_sums[rows] = sums
    return row_sums, col_sums, low, high, squares, entropy


def _poisson_dask_block(B, keep_rows, keep_cols, L, F, transposed):
    """One dask block's share of a :class:`PoissonPass`, with the two loss
    sums in two extra columns of its first row and a unit axis for the sum
    over blocks. Excluded rows/columns (weight 0) are zeroed first."""
    xp = get_backend(L).xp
    kept_rows = _host(keep_rows) > 0

    def cast():
        effective = B[kept_rows].astype(L.dtype)
        return effective * keep_cols[None, :].astype(L.dtype)

    # Rows excluded by a navigation mask have zero maps (a model of 0): they
    # are left out rather than counted at the model's floor.
    product, x_log_m, x_m = _poisson_raw_block(
        B[kept_rows], cast, L[kept_rows], F, _host(keep_cols) > 0, transposed, xp
    )
    if not transposed:  # back to the block's rows
        full = xp.zeros((B.shape[0], product.shape[1]), dtype=product.dtype)
        full[xp.asarray(kept_rows)] = product
        product = full
    out = xp.zeros((product.shape[0], 1, product.shape[1] + 2), dtype=np.float64)
    out[:, 0, :-2] = product
    out[0, 0, -2:] = (x_log_m, x_m)
    return out


def _block_matrix(A, n_row_dims):
    """A 2D dask array whose blocks are ``A``'s blocks reshaped: no rechunk.

    Returns ``(M, row_order, col_order)``: row ``t`` of ``M`` is the C-order
    flat row ``row_order[t]`` of ``A`` (likewise columns), so that
    ``M == A.reshape(n_rows, n_cols)[row_order][:, col_order]``.
    """
    import itertools

    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph

    row_chunks, col_chunks = A.chunks[:n_row_dims], A.chunks[n_row_dims:]
    row_grid = list(itertools.product(*[range(len(c)) for c in row_chunks]))
    col_grid = list(itertools.product(*[range(len(c)) for c in col_chunks]))

    def sizes(chunks, grid):
        return [
            int(np.prod([c[i] for c, i in zip(chunks, g, strict=True)])) for g in grid
        ]

    name = "cnmf-blocks-" + A.name
    layer = {}
    row_sizes, col_sizes = sizes(row_chunks, row_grid), sizes(col_chunks, col_grid)
    for i, (r, nr) in enumerate(zip(row_grid, row_sizes, strict=True)):
        for j, (c, nc) in enumerate(zip(col_grid, col_sizes, strict=True)):
            layer[(name, i, j)] = (_reshape_block, (A.name, *r, *c), (nr, nc))
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[A])
    meta = A._meta.reshape((0, 0))
    M = da.Array(graph, name, (tuple(row_sizes), tuple(col_sizes)), meta=meta)

    def order(shape, chunks, grid):
        flat = np.arange(int(np.prod(shape))).reshape(shape)
        bounds = [np.concatenate([[0], np.cumsum(c)]) for c in chunks]
        pieces = [
            flat[
                tuple(slice(b[i], b[i + 1]) for b, i in zip(bounds, g, strict=True))
            ].ravel()
            for g in grid
        ]
        return np.concatenate(pieces)

    rows = order(A.shape[:n_row_dims], row_chunks, row_grid)
    cols = order(A.shape[n_row_dims:], col_chunks, col_grid)
    return M, rows, cols


class DaskData:
    """A dask data matrix streamed block by block: each product is one pass.

    ``X`` may keep its N-D layout (``n_row_dims`` leading axes are the rows,
    the others the columns, flattened in C order): its blocks are used as
    they are, so that a chunking along the signal axes costs no rechunk.
    Kept rows/columns and scales as for :class:`BlockData`; each block is
    cast to the working type ``dtype`` as it is read. The products come back
    in memory on the backend of the blocks.
    """

    def __init__(
        self,
        X,
        n_row_dims=1,
        rows=None,
        cols=None,
        row_scale=None,
        col_scale=None,
        dtype=None,
    ):
        import dask.array as da

        self._da = da
        self.source = X
        self.n_row_dims = n_row_dims
        self.backend = get_backend(X)
        self.xp = self.backend.xp
        self.dtype = np.dtype(dtype if dtype is not None else float_dtype(X))
        self.M, row_order, col_order = _block_matrix(X, n_row_dims)
        n_rows, n_cols = self.M.shape
        self.rows = _indices(rows, n_rows)
        self.cols = _indices(cols, n_cols)
        # positions in M of the kept rows/columns, in the kept (C) order
        self._row_pos = np.argsort(row_order)[
            slice(None) if self.rows is None else self.rows
        ]
        self._col_pos = np.argsort(col_order)[
            slice(None) if self.cols is None else self.cols
        ]
        self.shape = (self._row_pos.size, self._col_pos.size)
        # per worker thread: a block, its cast, a product and float64 squares
        largest = max(c for c in self.M.chunks[0]) * max(c for c in self.M.chunks[1])
        threads = os.cpu_count() or 1
        self.work_bytes = int(threads * largest * (X.dtype.itemsize + 12))
        # kernel launches are serialised: one set of accumulators at a time
        self.work_bytes += kernel_work_bytes(max(self.M.chunks[1]))
        self.row_scale = _scale(row_scale, self.shape[0])
        self.col_scale = _scale(col_scale, self.shape[1])
        self._squared_norm = None
        self._count_terms = None  # (sum X, sum X log X), from the checks' pass

    def _cast(self, dtype):
        """M in the working type; excluded columns zero where NaN may hide."""
        M = self.M.astype(dtype)
        if self.M.dtype.kind != "f":
            return M
        if self.cols is not None:
            keep = self._weights(self._col_pos, M.shape[1], None, M.chunks[1], 1)
            M = self._da.where(keep[None, :] > 0, M, 0)
        if self.rows is not None:
            keep = self._weights(self._row_pos, M.shape[0], None, M.chunks[0], 1)
            M = self._da.where(keep[:, None] > 0, M, 0)
        return M

    def with_scaling(self, row_scale, col_scale) -> DaskData:
        return DaskData(
            self.source,
            self.n_row_dims,
            self.rows,
            self.cols,
            row_scale,
            col_scale,
            self.dtype,
        )

    def _full(self, A, positions, n, scale):
        """Kept-order ``A`` (n_kept, m) over all of M's rows/cols, in memory."""
        xp = self.xp
        full = xp.zeros((n, A.shape[1]), dtype=A.dtype)
        if scale is not None:
            A = A / xp.asarray(scale, dtype=A.dtype)[:, None]
        full[xp.asarray(positions)] = A
        return full

    def _spread(self, A, positions, n, scale, chunks):
        """Kept-order ``A`` (n_kept, m) as a dask array over all of M's rows/cols."""
        full = self._full(A, positions, n, scale)
        return self._da.from_array(full, chunks=(chunks, -1))

    def _gather(self, Y, positions, scale):
        Y = self.xp.asarray(Y)[self.xp.asarray(positions)]
        if scale is not None:
            Y = Y / self.xp.asarray(scale, dtype=Y.dtype)[:, None]
        return Y

    def _product(self, A, transposed):
        """``M @ A`` (or ``M^T @ A``) for the in-memory ``A`` spread over
        ``M``'s row (column) blocks: one product per pair of blocks
        (:func:`_block_product`), summed over the contracted blocks."""
        # float data may hold NaN in excluded entries: zeroed by the cast
        M = self.M if self.M.dtype.kind in "ui" else self._cast(A.dtype)
        out, a_index, summed = ("jik", "ik", "i") if transposed else ("ijk", "jk", "j")
        Y = self._da.blockwise(
            _block_product,
            out,
            M,
            "ij",
            A,
            a_index,
            transposed=transposed,
            adjust_chunks={summed: 1},
            dtype=A.dtype,
            meta=self.xp.empty((0, 0, 0), dtype=A.dtype),
        )
        return _compute(Y.sum(axis=1))

    def XtL(self, L):
        M = self.M
        full = self._spread(L, self._row_pos, M.shape[0], self.row_scale, M.chunks[0])
        Y = self._product(full, transposed=True)
        return self._gather(Y, self._col_pos, self.col_scale)

    def XF(self, F):
        M = self.M
        full = self._spread(F, self._col_pos, M.shape[1], self.col_scale, M.chunks[1])
        Y = self._product(full, transposed=False)
        return self._gather(Y, self._row_pos, self.row_scale)

    def power_pass(self, F):
        """``(X F, X^T X F)`` in one pass: each row of dask blocks gives its
        rows of ``Y = X F`` and its share of ``X^T Y`` while it is in memory
        (a power iteration of the range finder, :func:`sketch`)."""
        import dask

        da, xp = self._da, self.xp
        M = self.M if self.M.dtype.kind in "ui" else self._cast(F.dtype)
        (n_rows, n_cols), m = M.shape, F.shape[1]
        full = self._full(F, self._col_pos, n_cols, self.col_scale)
        col_bounds = np.cumsum((0, *M.chunks[1]))
        F_parts = [
            dask.delayed(full[a:b], pure=True)
            for a, b in zip(col_bounds[:-1], col_bounds[1:], strict=True)
        ]
        # Y's scale and X^T's rows' scale: 1 / row_scale twice, 0 where excluded
        weights = np.zeros(n_rows)
        weights[self._row_pos] = 1.0 if self.row_scale is None else self.row_scale**-2
        weights = xp.asarray(weights, dtype=F.dtype)
        row_bounds = np.cumsum((0, *M.chunks[0]))
        meta = xp.empty((0, 0), dtype=F.dtype)
        ys, ps = [], []
        for row, a, b in zip(
            M.to_delayed(), row_bounds[:-1], row_bounds[1:], strict=True
        ):
            y, p = dask.delayed(_power_row, nout=2)(list(row), weights[a:b], F_parts)
            ys.append(da.from_delayed(y, (b - a, m), dtype=F.dtype, meta=meta))
            ps.append(da.from_delayed(p, (n_cols, m), dtype=F.dtype, meta=meta))
        Y, P = _compute(da.concatenate(ys), da.stack(ps).sum(axis=0))
        return (
            self._gather(Y, self._row_pos, self.row_scale),
            self._gather(P, self._col_pos, self.col_scale),
        )

    def row_blocks(self):
        """``(kept-row indices, block)`` pairs, one per row of dask blocks
        (one pass, a row of blocks in memory at a time), each block the kept
        columns of its kept rows in the data's own dtype."""
        kept_index = np.full(self.M.shape[0], -1)
        kept_index[self._row_pos] = np.arange(self._row_pos.size)
        start = 0
        for size in self.M.chunks[0]:
            rows = kept_index[start : start + size]
            inside = rows >= 0
            if inside.any():
                block = self.xp.asarray(self.M[start : start + size].compute())
                block = block[self.xp.asarray(np.flatnonzero(inside))]
                yield rows[inside], block[:, self.xp.asarray(self._col_pos)]
            start += size

    @_read_once
    def count_terms(self) -> tuple[float, float]:
        """``(sum X, sum X log X)`` over the kept entries (the constants of
        the Poisson divergence): one pass, or none for counts, whose
        :meth:`stats` pass computed them already."""
        import dask

        if self._count_terms is not None:
            return self._count_terms

        da, M = self._da, self._cast(np.float64)
        wc = self._weights(self._col_pos, M.shape[1], None, M.chunks[1], 1)
        wr = self._weights(self._row_pos, M.shape[0], None, M.chunks[0], 1)
        kept = M * wc[None, :] * wr[:, None]
        x_log_x = kept * da.log(da.where(kept > 0, kept, 1))
        total, entropy = dask.compute(kept.sum(), x_log_x.sum())
        return float(total), float(entropy)

    def poisson_pass(self, L, F, transposed):
        """One pass for the Poisson fit (:class:`PoissonPass`), block by block."""
        if self.row_scale is not None or self.col_scale is not None:
            raise ValueError("the Poisson fit runs on unscaled counts")
        M = self.M
        rows, cols = M.chunks
        Lf = self._spread(L, self._row_pos, M.shape[0], None, rows)
        Ff = self._spread(F, self._col_pos, M.shape[1], None, cols)
        keep_rows = self._weights(self._row_pos, M.shape[0], None, rows, 1)
        keep_cols = self._weights(self._col_pos, M.shape[1], None, cols, 1)
        out, summed = ("jik", "i") if transposed else ("ijk", "j")
        Y = self._da.blockwise(
            _poisson_dask_block,
            out,
            M,
            "ij",
            keep_rows,
            "i",
            keep_cols,
            "j",
            Lf,
            "ik",
            Ff,
            "jk",
            transposed=transposed,
            adjust_chunks={summed: 1, "k": F.shape[1] + 2},
            dtype=np.float64,
            meta=self.xp.empty((0, 0, 0), dtype=np.float64),
        )
        Y = _compute(Y.sum(axis=1))
        totals = Y[:, -2:].sum(axis=0)
        product = self.xp.asarray(Y[:, :-2], dtype=F.dtype)
        positions = self._col_pos if transposed else self._row_pos
        return PoissonPass(
            self._gather(product, positions, None), float(totals[0]), float(totals[1])
        )

    def _weights(self, positions, n, scale, chunks, power):
        w = np.zeros(n)
        w[positions] = 1.0 if scale is None else 1.0 / scale**power
        return self._da.from_array(self.xp.asarray(w), chunks=chunks)

    def _squares(self, R):
        """Weighted squared sum of a full-size dask residual/data, lazily."""
        M = self.M
        wc = self._weights(self._col_pos, M.shape[1], self.col_scale, M.chunks[1], 2)
        wr = self._weights(self._row_pos, M.shape[0], self.row_scale, M.chunks[0], 2)
        return self._da.dot(self._da.dot(R.astype(np.float64) ** 2, wc), wr)

    @property
    def squared_norm(self) -> float:
        if self._squared_norm is None:
            self._squared_norm = float(self._squares(self._cast(np.float64)).compute())
        return self._squared_norm

    def residual_squared(self, L, F):
        M = self.M
        # the model in the data's units (scales folded into L and F)
        Lf = self._spread(L, self._row_pos, M.shape[0], None, M.chunks[0])
        Ff = self._spread(F, self._col_pos, M.shape[1], None, M.chunks[1])
        if self.row_scale is not None:
            Lf = Lf * self._weights(
                self._row_pos, M.shape[0], 1 / self.row_scale, M.chunks[0], 1
            )[:, None].astype(L.dtype)
        if self.col_scale is not None:
            Ff = Ff * self._weights(
                self._col_pos, M.shape[1], 1 / self.col_scale, M.chunks[1], 1
            )[:, None].astype(F.dtype)
        Ff = Ff.T.rechunk((-1, M.chunks[1]))
        residual = self._cast(L.dtype) - self._da.matmul(Lf, Ff)
        return float(self._squares(residual).compute())

    @_read_once
    def stats(self) -> DataStats:
        """Finiteness, extremes, row/column sums and ``||X||^2`` (and for
        counts the constants of :meth:`count_terms`): one pass."""
        import dask

        da, M = self._da, self.M
        if M.dtype.kind in "ui" and self.row_scale is None and self.col_scale is None:
            return self._counts_stats()
        n_rows, n_cols = M.shape
        wr = self._weights(self._row_pos, n_rows, None, M.chunks[0], 1)
        wc = self._weights(self._col_pos, n_cols, None, M.chunks[1], 1)
        values = M.astype(np.float64)
        low, high = values, values
        if self.shape != M.shape:  # only the kept entries count
            inside = (wr[:, None] > 0) & (wc[None, :] > 0)
            low = da.where(inside, values, np.inf)
            high = da.where(inside, values, -np.inf)
            values = da.where(inside, values, 0.0)
        parts = [
            low.min(),
            high.max(),
            da.dot(values, wc),
            da.dot(wr, values),
            self._squares(values),
        ]
        counts = M.dtype.kind in "ui"  # fitted with the Poisson loss by default:
        if counts:  # its constants in this pass, not in one more
            parts.append((values * da.log(da.where(values > 0, values, 1))).sum())
        else:  # whole numbers: spectra held as floats are counts too
            parts += [da.isfinite(values).all(), (da.rint(values) == values).all()]
        out = dask.compute(*parts)
        self._squared_norm = float(out[4])
        finite = counts or bool(out[5])
        whole = counts or bool(out[6])
        row_sums = _host(out[2])[self._row_pos]
        if counts and self.row_scale is None and self.col_scale is None:
            self._count_terms = (float(row_sums.sum()), float(out[5]))
        col_sums = _host(out[3])[self._col_pos]
        return DataStats(
            finite, float(out[0]), float(out[1]), row_sums, col_sums, whole
        )

    def _counts_stats(self) -> DataStats:
        """:meth:`stats` of unscaled integer counts, block by block in one
        read (:func:`_counts_block_stats`), with ``||X||^2`` and the Poisson
        constants: on 128x128 x 256x256 uint16 from zspy 4.4 s where dask's
        float64 reductions took 13.0 s (the first read included)."""
        import dask

        M = self.M
        keep_rows = np.zeros(M.shape[0], bool)
        keep_rows[self._row_pos] = True
        keep_cols = np.zeros(M.shape[1], bool)
        keep_cols[self._col_pos] = True
        row_bounds = np.cumsum((0, *M.chunks[0]))
        col_bounds = np.cumsum((0, *M.chunks[1]))
        parts = [
            [
                dask.delayed(_counts_block_stats)(
                    block, keep_rows[r0:r1], keep_cols[c0:c1]
                )
                for block, c0, c1 in zip(
                    row, col_bounds[:-1], col_bounds[1:], strict=True
                )
            ]
            for row, r0, r1 in zip(
                M.to_delayed(), row_bounds[:-1], row_bounds[1:], strict=True
            )
        ]
        (parts,) = dask.compute(parts)
        row_sums = np.concatenate([sum(p[0] for p in row) for row in parts])
        col_sums = np.concatenate(
            [sum(row[j][1] for row in parts) for j in range(len(parts[0]))]
        )
        flat = [p for row in parts for p in row]
        row_sums = row_sums[self._row_pos]
        self._squared_norm = float(sum(p[4] for p in flat))
        self._count_terms = (float(row_sums.sum()), float(sum(p[5] for p in flat)))
        minimum = float(min(p[2] for p in flat))
        maximum = float(max(p[3] for p in flat))
        return DataStats(
            True, minimum, maximum, row_sums, col_sums[self._col_pos], True
        )


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


@runtime_checkable
class Products(Protocol):
    """What the ALS iterations read: a matrix ``X`` (n_nav, n_sig) seen only
    through its products (every data class, and the sketch)."""

    shape: tuple
    dtype: object
    xp: object
    backend: object
    squared_norm: float

    def XtL(self, L):
        """``X^T L``: (n_sig, m)."""

    def XF(self, F):
        """``X F``: (n_nav, m)."""


@runtime_checkable
class FitData(Products, Protocol):
    """The data of a fit (:class:`DenseData`, :class:`BlockData`,
    :class:`DaskData`): the products, and the passes that the checks, the
    Poisson loss, the exact error and Poisson normalisation make."""

    def residual_squared(self, L, F) -> float:
        """Exact ``||X - L F^T||^2``."""

    def power_pass(self, F):
        """``(X F, X^T X F)`` in one pass."""

    def stats(self) -> DataStats:
        """Finiteness, extremes, row and column sums, in one pass."""

    def row_blocks(self):
        """``(kept-row indices, block)`` pairs covering the data."""

    def count_terms(self) -> tuple[float, float]:
        """``(sum X, sum X log X)``."""

    def poisson_pass(self, L, F, transposed) -> PoissonPass:
        """One pass for the Poisson fit."""

    def with_scaling(self, row_scale, col_scale) -> FitData:
        """The same data divided by ``row_scale`` and ``col_scale``."""


def is_data(X) -> bool:
    """Whether ``X`` is already a data object (it has the :class:`Products`).

    Looked up statically: ``isinstance`` on a runtime-checkable protocol
    evaluates each member on Python < 3.12, and ``squared_norm`` is a whole
    pass over the data.
    """
    members = (*Products.__annotations__, "XtL", "XF")
    return all(inspect.getattr_static(X, name, None) is not None for name in members)


def is_streamed(data) -> bool:
    """Whether each product of ``data`` reads it from its source, block by
    block (:class:`DaskData`): every pass costs a read, so the fit takes
    fewer exact iterations and no binned start."""
    return isinstance(data, DaskData)


def as_data(X, rows=None, cols=None):
    """Wrap a matrix in the matching data class, without copying it.

    Data objects pass through. Float numpy/cupy data without kept
    rows/columns: :class:`DenseData`; integer (or float16) data, or kept
    rows/columns: :class:`BlockData` (blocks cast on the fly); dask:
    :class:`DaskData`.
    """
    if is_data(X):
        return X
    if is_dask(X):
        return DaskData(X, rows=rows, cols=cols)
    if rows is None and cols is None and X.dtype in (np.float32, np.float64):
        return DenseData(X)
    return BlockData(X, rows, cols)


def _orthonormalising(Y, xp):
    """``(Q, T)``: an orthonormal basis ``Q = Y T`` (float64) of the columns
    of ``Y``, by Cholesky-QR2 via eigh.

    Two rounds of ``Y V diag(1/sqrt(lambda))`` from the float64 Gram matrix:
    as accurate as Householder QR for the well-conditioned bases of a range
    finder, far faster than LAPACK's QR on tall matrices here, and directions
    with a negligible eigenvalue (rank deficiency) are dropped, not blown up.
    """
    Q = Y.astype(np.float64)
    T = xp.eye(Y.shape[1])
    for _ in range(2):
        eigenvalues, V = xp.linalg.eigh(Q.T @ Q)
        keep = eigenvalues > eigenvalues.max() * 1e-13
        step = V[:, keep] / xp.sqrt(eigenvalues[keep])
        Q, T = Q @ step, T @ step
    return Q, T


def _orthonormal(Y, xp):
    """Orthonormal basis of the columns of ``Y`` (:func:`_orthonormalising`)."""
    return _orthonormalising(Y, xp)[0].astype(Y.dtype)


def sketch(data, rank, rng, n_power_iter=2):
    """Randomized range finder (Halko et al. 2011) of ``data``'s rows.

    ``X ~= Q Q^T X`` with ``Q`` an orthonormal basis of ``(X X^T)^q X
    Omega``. Passes over the data: ``1 + n_power_iter``: each pass gives
    ``Y = X A`` and ``X^T Y`` (:meth:`power_pass`), and ``X^T Y`` spans
    what ``X^T`` of ``Y``'s orthonormal basis spans, so that the next
    iteration needs no pass of its own; the last one gives ``Q^T X =
    T^T (X^T Y)^T`` with ``Q = Y T``. The random test matrix comes from
    ``rng`` on the host so that numpy, cupy and dask inputs give the same
    sketch.
    """
    xp = data.xp
    n_nav, n_sig = data.shape
    omega = rng.standard_normal((n_sig, rank)).astype(data.dtype)
    Y, XtY = data.power_pass(xp.asarray(omega))
    for _ in range(n_power_iter):
        Y, XtY = data.power_pass(_orthonormal(XtY, xp))
    Q, T = _orthonormalising(Y, xp)
    Z = (XtY.astype(np.float64) @ T).T.astype(data.dtype)
    return SketchedData(Q.astype(data.dtype), Z, data.squared_norm, data.backend)


def truncated_svd_errors(data, ranks, rng, *, n_power_iter=10, oversamples=20):
    """``||X - X_k||^2`` of the rank-k truncated SVD of ``data``, for each k.

    One randomized range finder (:func:`sketch`, as
    :func:`sklearn.utils.extmath.randomized_svd` with ``n_iter=n_power_iter``
    and ``n_oversamples=oversamples``) at rank ``max(ranks) + oversamples``
    serves every k: ``X_k = Q_k Q_k^T X`` with ``Q_k`` its k leading left
    singular vectors. Each error is then computed exactly, in float64, in
    one pass (:meth:`residual_squared`), the way a fit's error is. Nothing
    is copied: integer counts stay integers, lazy data stream.

    Parameters
    ----------
    data : data object or array, shape (n_nav, n_sig)
    ranks : sequence of int
        Each between 1 and ``min(data.shape)``.
    rng : numpy.random.Generator or RandomState
    n_power_iter, oversamples : int
        Accuracy of the range finder.

    Returns
    -------
    ndarray of float, shape (len(ranks),)
    """
    data = as_data(data)
    xp = data.xp
    ranks = [int(k) for k in ranks]
    if not ranks or min(ranks) < 1 or max(ranks) > min(data.shape):
        raise ValueError(f"ranks must be in [1, {min(data.shape)}], got {ranks}")
    rank = min(max(ranks) + oversamples, min(data.shape))
    approx = sketch(data, rank, rng, n_power_iter)
    U, sigma, Vt = xp.linalg.svd(approx.Z, full_matrices=False)
    left = approx.P @ U  # orthonormal: leading left singular vectors of X
    right = Vt.T * sigma  # X^T Q = V S
    return np.array([data.residual_squared(left[:, :k], right[:, :k]) for k in ranks])

"""The data classes: the same products, norms and checks as the dense matrix,
without copying the data (integer counts, kept rows/columns, scales, dask
blocks in any layout)."""

import dask.array as da
import numpy as np
import pytest

from hyperspy_cnmf.core import constrained_nmf
from hyperspy_cnmf.core.binning import is_counts
from hyperspy_cnmf.core.data import (
    BlockData,
    DaskData,
    as_data,
    is_data,
    sketch,
    truncated_svd_errors,
)
from hyperspy_cnmf.core.memory import check_fit_memory, fit_memory

rng = np.random.default_rng(0)
COUNTS = rng.poisson(5, size=(6, 5, 7, 8)).astype(np.uint16)
FLAT = COUNTS.reshape(30, 56)
ROWS = rng.random(30) > 0.2
COLS = rng.random(56) > 0.2
ROW_SCALE = rng.uniform(1, 2, ROWS.sum())
COL_SCALE = rng.uniform(1, 2, COLS.sum())


def reference(rows, cols, scaled):
    X = FLAT.astype(np.float64)
    X = X[rows] if rows is not None else X
    X = X[:, cols] if cols is not None else X
    if scaled:
        X = X / ROW_SCALE[:, None] / COL_SCALE[None, :]
    return X


def block_data(rows, cols, scales):
    return BlockData(FLAT, rows, cols, *scales, dtype=np.float64, block_bytes=800)


def dask_data(rows, cols, scales):
    # chunks split along every axis, signal axes included: no rechunk needed
    A = da.from_array(COUNTS, chunks=(4, 2, 3, 5))
    return DaskData(A, 2, rows, cols, *scales, dtype=np.float64)


@pytest.mark.parametrize("make", [block_data, dask_data])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("scaled", [False, True])
def test_products_norms_and_stats_match_the_dense_matrix(make, masked, scaled):
    rows, cols = (ROWS, COLS) if masked else (None, None)
    scales = (ROW_SCALE, COL_SCALE) if scaled and masked else (None, None)
    X = reference(rows, cols, scaled and masked)
    data = make(rows, cols, scales)
    L = rng.random((X.shape[0], 4))
    F = rng.random((X.shape[1], 4))
    assert data.shape == X.shape
    np.testing.assert_allclose(data.XtL(L), X.T @ L)
    np.testing.assert_allclose(data.XF(F), X @ F)
    Y, XtY = data.power_pass(F)
    np.testing.assert_allclose(Y, X @ F)
    np.testing.assert_allclose(XtY, X.T @ (X @ F))
    np.testing.assert_allclose(data.squared_norm, (X**2).sum())
    np.testing.assert_allclose(data.residual_squared(L, F), ((X - L @ F.T) ** 2).sum())
    stats = data.stats()
    raw = reference(rows, cols, False)
    assert stats.finite and stats.minimum == raw.min() and stats.maximum == raw.max()
    np.testing.assert_allclose(stats.row_sums, raw.sum(axis=1))
    np.testing.assert_allclose(stats.col_sums, raw.sum(axis=0))


@pytest.mark.parametrize("kernels", [True, False])
@pytest.mark.parametrize("masked", [False, True])
def test_streamed_counts_statistics_with_and_without_the_kernel(
    kernels, masked, monkeypatch
):
    """The checks' pass over streamed counts (one read per block) gives the
    same statistics, norm and Poisson constants by the kernel and by
    numpy."""
    import hyperspy_cnmf.core.data as data_module

    if not kernels:
        monkeypatch.setattr(data_module, "counts_kernels_apply", lambda X: False)
    rows, cols = (ROWS, COLS) if masked else (None, None)
    data = dask_data(rows, cols, (None, None))
    X = reference(rows, cols, False)
    stats = data.stats()
    assert stats.finite and (stats.minimum, stats.maximum) == (X.min(), X.max())
    np.testing.assert_allclose(stats.row_sums, X.sum(axis=1))
    np.testing.assert_allclose(stats.col_sums, X.sum(axis=0))
    np.testing.assert_allclose(data.squared_norm, (X**2).sum())
    entropy = (X * np.log(np.where(X > 0, X, 1))).sum()
    np.testing.assert_allclose(data.count_terms(), (X.sum(), entropy), rtol=1e-12)


def test_counts_stay_integers_and_work_in_float32():
    data = as_data(FLAT)
    assert isinstance(data, BlockData) and data.X is FLAT
    assert data.dtype == np.float32
    assert data.XF(np.ones((56, 2), np.float32)).dtype == np.float32


def test_float_data_without_masks_are_wrapped_not_copied():
    X = FLAT.astype(np.float32)
    data = as_data(X)
    assert data.X is X and not isinstance(data, BlockData)
    assert as_data(data) is data and is_data(data)


@pytest.mark.parametrize("loss", ["frobenius", "poisson"])
def test_fit_on_counts_equals_fit_on_their_float_copy(loss):
    kwargs = dict(n_init=2, max_iter=20, random_state=0, compression=None, loss=loss)
    on_counts = constrained_nmf(FLAT, 3, **kwargs)
    on_floats = constrained_nmf(FLAT.astype(np.float32), 3, **kwargs)
    np.testing.assert_allclose(
        on_counts.factors, on_floats.factors, rtol=1e-4, atol=1e-6
    )
    assert on_counts.mse == pytest.approx(on_floats.mse, rel=1e-5)


@pytest.mark.parametrize("loss", ["frobenius", "poisson"])
def test_a_data_object_with_masks_is_fitted_like_the_masked_copy(loss):
    kwargs = dict(n_init=2, max_iter=20, random_state=0, compression=None, loss=loss)
    data = BlockData(FLAT, ROWS, COLS, block_bytes=800)
    masked = constrained_nmf(data, 3, **kwargs)
    copy = constrained_nmf(FLAT[ROWS][:, COLS].astype(np.float32), 3, **kwargs)
    np.testing.assert_allclose(masked.loadings, copy.loadings, rtol=1e-4, atol=1e-6)
    assert masked.mse == pytest.approx(copy.mse, rel=1e-5)


def test_nan_in_an_excluded_column_is_ignored_and_elsewhere_refused():
    X = FLAT.astype(np.float64)
    X[3, np.flatnonzero(~COLS)[0]] = np.nan
    for data in (
        BlockData(X, cols=COLS),
        DaskData(da.from_array(X, chunks=7), cols=COLS),
    ):
        assert data.stats().finite
    for data in (BlockData(X), DaskData(da.from_array(X, chunks=7))):
        assert not data.stats().finite
        with pytest.raises(ValueError, match="NaN"):
            constrained_nmf(data, 2)


def test_memory_estimate_and_clear_error():
    data = as_data(FLAT)
    assert fit_memory((30, 56), 3, 10) > 0
    assert fit_memory((30, 56), 3, 10, rank=20) > fit_memory((30, 56), 3, 10)
    with pytest.raises(MemoryError, match=r"needs about .* lazy signal"):
        check_fit_memory(data, 3, 10, available=1000)
    assert check_fit_memory(data, 3, 10, available=2**40) > 0


@pytest.mark.parametrize("make", [block_data, dask_data])
@pytest.mark.parametrize("masked", [False, True])
def test_truncated_svd_errors_reach_the_rank_k_optimum(make, masked):
    rows, cols = (ROWS, COLS) if masked else (None, None)
    data = make(rows, cols, (None, None))
    X = reference(rows, cols, False)
    sigma = np.linalg.svd(X, compute_uv=False)
    ranks = (1, 3, 6)
    errors = truncated_svd_errors(data, ranks, np.random.default_rng(0))
    np.testing.assert_allclose(
        errors, [(sigma[k:] ** 2).sum() for k in ranks], rtol=1e-5
    )


def test_truncated_svd_errors_refuse_ranks_beyond_the_matrix():
    with pytest.raises(ValueError, match=r"ranks must be in \[1, 30\]"):
        truncated_svd_errors(FLAT, (2, 31), np.random.default_rng(0))


def _counted(X, chunks=(5, 7)):
    """A dask array of ``X`` that records each block it reads (``meta``
    given: dask calls nothing to infer it)."""
    reads = []
    Xd = da.from_array(X, chunks=chunks)
    meta = np.empty((0, 0), X.dtype)
    return Xd.map_blocks(lambda b: reads.append(1) or b, meta=meta), reads


def test_recognising_a_data_object_reads_no_data():
    """is_data looks members up statically: isinstance on the protocol
    would evaluate squared_norm, a whole pass (Python < 3.12)."""
    Xd, reads = _counted(np.arange(120, dtype=np.uint16).reshape(10, 12))
    data = DaskData(Xd)
    assert is_data(data) and not is_data(np.ones((2, 2))) and not reads
    assert as_data(data) is data and not reads


def test_the_checks_pass_is_read_once_and_serves_the_scan_binning():
    from hyperspy_cnmf.core.binning import counts_per_position

    X = np.arange(120, dtype=np.uint16).reshape(10, 12)
    Xd, reads = _counted(X)
    data = DaskData(Xd)
    first = data.stats()
    n_reads = len(reads)
    assert n_reads == Xd.npartitions
    assert data.stats() is first and len(reads) == n_reads
    assert counts_per_position(data) == pytest.approx(X.sum() / 10)
    assert len(reads) == n_reads  # from the row sums: no pass of its own


def _in_memory(X, rows, cols):
    return as_data(X) if rows is None and cols is None else BlockData(X, rows, cols)


def _lazy(X, rows, cols):
    return DaskData(da.from_array(X, chunks=(4, 20)), rows=rows, cols=cols)


@pytest.mark.parametrize("make", [_in_memory, _lazy])
def test_whole_number_floats_are_counts_when_asked(make):
    whole = FLAT.astype(np.float32)
    assert is_counts(make(whole, None, None), whole_floats=True)
    assert not is_counts(make(whole, None, None))  # floats: only when asked
    assert is_counts(make(FLAT, None, None))  # integers: their dtype says
    others = np.flatnonzero(np.arange(30) != 12), np.flatnonzero(np.arange(56) != 3)
    for value in (0.5, -1.0, np.inf):
        changed = whole.copy()
        changed[12, 3] = value
        assert not is_counts(make(changed, None, None), whole_floats=True), value
        # an excluded position or pixel is not read
        assert is_counts(make(changed, others[0], None), whole_floats=True)
        assert is_counts(make(changed, None, others[1]), whole_floats=True)
    scaled = make(whole, None, None).with_scaling(np.ones(30), np.ones(56))
    assert not is_counts(scaled, whole_floats=True)  # scaled: no longer counts


def test_telling_whole_number_floats_costs_no_pass_of_its_own():
    Xd, reads = _counted(FLAT.astype(np.float64))
    data = DaskData(Xd)
    data.stats()  # the checks' pass
    n_reads = len(reads)
    assert is_counts(data, whole_floats=True) and len(reads) == n_reads


@pytest.mark.parametrize("n_power_iter", [0, 2])
def test_the_sketch_reads_the_data_once_per_power_iteration_and_once_more(
    n_power_iter,
):
    """``1 + q`` passes (each gives ``X A`` and ``X^T X A``) for the
    projection of ``X`` onto the span of ``(X X^T)^q X Omega``, as the
    range finder with a pass per product (``2 + 2 q``) gives it."""
    X = rng.poisson(3, size=(40, 30)).astype(np.uint16)
    Xd, reads = _counted(X, chunks=(9, 11))
    rank, seed = 5, 7
    data = DaskData(Xd, dtype=np.float64)
    assert data.squared_norm > 0  # the checks' pass, before the sketch
    reads.clear()
    approx = sketch(data, rank, np.random.default_rng(seed), n_power_iter)
    assert len(reads) == (1 + n_power_iter) * Xd.npartitions
    Xf = X.astype(np.float64)
    omega = np.random.default_rng(seed).standard_normal((30, rank))
    Y = Xf @ omega
    for _ in range(n_power_iter):
        Y = Xf @ (Xf.T @ Y)
    Q = np.linalg.qr(Y)[0]
    np.testing.assert_allclose(approx.P @ approx.P.T, Q @ Q.T, atol=1e-9)
    np.testing.assert_allclose(approx.P @ approx.Z, Q @ (Q.T @ Xf), atol=1e-9)


@pytest.mark.parametrize("scheduler", ["threads", "sync"])
def test_blas_runs_one_thread_per_task_on_dask_threads_only(scheduler):
    """dask's thread pool already keeps every core busy: BLAS inside its
    tasks gets one thread; the synchronous scheduler keeps BLAS's threads."""
    import dask
    from threadpoolctl import threadpool_info

    from hyperspy_cnmf.core.data import _compute

    def blas_threads():
        return max(
            (p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"),
            default=None,
        )

    before = blas_threads()
    if before is None or before < 2:
        pytest.skip("BLAS runs one thread here already")
    seen = []
    X = da.ones((4, 4), chunks=2).map_blocks(
        lambda b: seen.append(blas_threads()) or b, meta=np.empty((0, 0))
    )
    with dask.config.set(scheduler=scheduler):
        _compute(X.sum())
    assert set(seen) == ({1} if scheduler == "threads" else {before})
    assert blas_threads() == before  # restored


def test_the_poisson_constants_are_read_once():
    """Choosing a restart by deviance asks for them once per restart."""
    X = np.arange(120, dtype=np.float32).reshape(10, 12)  # float: not in stats
    Xd, reads = _counted(X)
    data = DaskData(Xd)
    first = data.count_terms()
    assert len(reads) == Xd.npartitions
    assert data.count_terms() == first and len(reads) == Xd.npartitions
    assert first[0] == pytest.approx(X.sum())


@pytest.mark.parametrize("masked", [False, True])
def test_one_pass_over_counts_gives_the_checks_constants_and_norm(masked, monkeypatch):
    """For integer counts in memory the checks' pass also gives the Poisson
    constants and the squared norm (no pass of their own), as the numpy
    route computes them."""
    import hyperspy_cnmf.core.data as data_module

    cols = COLS if masked else None
    data = BlockData(FLAT, None, cols, block_bytes=800)
    passes = []
    blocks = data._blocks
    data._blocks = lambda *a: passes.append(1) or blocks(*a)
    stats = data.stats()
    terms, norm = data.count_terms(), data.squared_norm
    assert len(passes) == 1

    monkeypatch.setattr(data_module, "counts_kernels_apply", lambda X: False)
    numpy_route = BlockData(FLAT, None, cols, block_bytes=800)
    expected = numpy_route.stats()
    for got, want in zip(stats, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert norm == numpy_route.squared_norm
    np.testing.assert_allclose(terms, numpy_route.count_terms(), rtol=1e-12)

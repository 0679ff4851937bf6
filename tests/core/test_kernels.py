"""The fused count kernels: the products of cast + BLAS, used only where they
apply, safe from several threads, and replaced by cast + BLAS without numba."""

import os
import subprocess
import sys

import dask.array as da
import numpy as np
import pytest

from hyperspy_cnmf.core import data as data_module
from hyperspy_cnmf.core import kernels
from hyperspy_cnmf.core.data import BlockData, DaskData

rng = np.random.default_rng(3)


def counts(dtype, shape=(37, 53)):
    return rng.integers(0, 200, size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.uint32, np.int64])
@pytest.mark.parametrize("k", [1, 6, kernels.MAX_COLUMNS])
def test_kernels_give_the_float_products(dtype, k):
    X = counts(dtype)
    if np.dtype(dtype).itemsize >= 4:  # the largest counts float32 holds exactly
        X[0, :3] = 2**24 - 1
    L = rng.random((X.shape[0], k)).astype(np.float32)
    F = rng.random((X.shape[1], k)).astype(np.float32)
    reference = X.astype(np.float64)
    XF = kernels.counts_times(X, F)
    XtL = kernels.counts_transposed_times(X, L)
    assert XF.dtype == XtL.dtype == np.float32
    np.testing.assert_allclose(XF, reference @ F, rtol=1e-5)
    np.testing.assert_allclose(XtL, reference.T @ L, rtol=1e-5)


@pytest.mark.parametrize(
    "X, k, dtype, expected",
    [
        (counts(np.uint16), 6, np.float32, True),
        (counts(np.uint16), kernels.MAX_COLUMNS + 1, np.float32, False),
        (counts(np.uint16), 6, np.float64, False),  # counts beyond float32
        (counts(np.uint16)[:, ::2], 6, np.float32, False),  # not contiguous
        (counts(">u2"), 6, np.float32, False),  # big-endian (Merlin files)
        (counts(np.float32), 6, np.float32, False),  # floats: BLAS directly
    ],
    ids=[
        "uint16",
        "too-many-columns",
        "float64-work",
        "strided",
        "big-endian",
        "float-data",
    ],
)
def test_kernels_apply_only_to_contiguous_counts_and_thin_float32_products(
    X, k, dtype, expected
):
    assert kernels.applies(X, k, dtype) is expected


def spy(monkeypatch):
    """Counts the kernel calls of the data classes, per kernel."""
    calls = {"counts_times": 0, "counts_transposed_times": 0}
    for name in calls:
        original = getattr(data_module, name)

        def wrapped(*args, _original=original, _name=name):
            calls[_name] += 1
            return _original(*args)

        monkeypatch.setattr(data_module, name, wrapped)
    return calls


def block_data(X, *args):
    return BlockData(X, *args, block_bytes=400)


def dask_data(X, *args):
    # chunks split along the signal axes too: one kernel call per block
    A = da.from_array(X.reshape(5, 8, 5, 6), chunks=(2, 3, 2, 4))
    return DaskData(A, 2, *args)


@pytest.mark.parametrize("make", [block_data, dask_data])
@pytest.mark.parametrize("masked", [False, True])
def test_data_on_counts_use_the_kernels_with_masks_and_scales(
    make, masked, monkeypatch
):
    X = counts(np.uint16, (40, 30))
    rows = rng.random(40) > 0.3 if masked else None
    cols = rng.random(30) > 0.3 if masked else None
    n_rows = 40 if rows is None else rows.sum()
    n_cols = 30 if cols is None else cols.sum()
    row_scale, col_scale = rng.uniform(1, 2, n_rows), rng.uniform(1, 2, n_cols)
    data = make(X, rows, cols, row_scale, col_scale)
    dense = X.astype(np.float64)
    dense = dense[rows] if masked else dense
    dense = dense[:, cols] if masked else dense
    dense = dense / row_scale[:, None] / col_scale[None, :]
    L = rng.random((n_rows, 5)).astype(np.float32)
    F = rng.random((n_cols, 5)).astype(np.float32)

    calls = spy(monkeypatch)
    np.testing.assert_allclose(data.XtL(L), dense.T @ L, rtol=1e-5)
    assert calls["counts_transposed_times"] > 0 and calls["counts_times"] == 0
    np.testing.assert_allclose(data.XF(F), dense @ F, rtol=1e-5)
    assert calls["counts_times"] > 0

    monkeypatch.setattr(kernels, "MAX_COLUMNS", 0)  # the cast + BLAS route
    calls.update(counts_times=0, counts_transposed_times=0)
    np.testing.assert_allclose(data.XtL(L), dense.T @ L, rtol=1e-5)
    np.testing.assert_allclose(data.XF(F), dense @ F, rtol=1e-5)
    assert not any(calls.values())


def test_dask_blocks_unlike_their_declared_dtype_take_cast_and_blas(monkeypatch):
    # a dask array declared native uint16 whose blocks are big-endian, as
    # map_blocks over a detector file's memmap can give
    X = counts(np.uint16, (40, 30))
    A = da.from_array(X.reshape(5, 8, 5, 6), chunks=(2, 3, 2, 4))
    A = A.map_blocks(lambda b: b.astype(">u2"), dtype=np.uint16)
    data = DaskData(A, 2)
    F = rng.random((30, 5)).astype(np.float32)
    calls = spy(monkeypatch)
    np.testing.assert_allclose(data.XF(F), X.astype(np.float64) @ F, rtol=1e-5)
    assert not any(calls.values())


CONCURRENT_LAUNCHES = """
import threading
import numpy as np
from hyperspy_cnmf.core import kernels

X = np.random.default_rng(0).integers(0, 50, (300, 200)).astype(np.uint16)
F = np.random.default_rng(1).random((200, 4)).astype(np.float32)
L = np.random.default_rng(2).random((300, 4)).astype(np.float32)
expected = X.astype(np.float64) @ F
barrier, errors = threading.Barrier(4), []

def work():
    barrier.wait()
    for _ in range(20):
        product = kernels.counts_times(X, F)
        kernels.counts_transposed_times(X, L)
        errors.append(np.abs(product - expected).max() / expected.max())

threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
import numba
print(numba.threading_layer(), len(errors), max(errors))
"""


def test_kernels_from_several_threads_at_once_under_the_workqueue_layer():
    # workqueue (numba's fallback layer) aborts the process on concurrent
    # parallel launches unless they are serialised
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue"}
    run = subprocess.run(
        [sys.executable, "-c", CONCURRENT_LAUNCHES],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    layer, n_products, error = run.stdout.split()
    assert layer == "workqueue" and int(n_products) == 80 and float(error) < 1e-5


def test_without_numba_block_data_keeps_cast_and_blas(monkeypatch):
    monkeypatch.setattr(kernels, "_compiled", lambda: None)
    X = counts(np.uint16)
    assert not kernels.applies(X, 6, np.float32)
    F = rng.random((X.shape[1], 3)).astype(np.float32)
    np.testing.assert_allclose(BlockData(X).XF(F), X.astype(np.float64) @ F, rtol=1e-5)
    # the counts' statistics and cast fall back to numpy
    monkeypatch.setattr(kernels, "_compiled_counts", lambda: None)
    assert not kernels.counts_kernels_apply(X)
    np.testing.assert_array_equal(kernels.as_float(X, np.float32), X.astype(np.float32))
    stats = BlockData(X).stats()
    np.testing.assert_array_equal(stats.row_sums, X.sum(axis=1, dtype=np.float64))


@pytest.mark.parametrize("preset", [None, "ACTIVE"])
def test_openmp_threads_wait_passively_unless_the_user_chose(preset):
    """The kernels' OpenMP threads sleep after a kernel instead of spinning
    against the BLAS product that follows; a policy the user set is kept."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset is not None:
        env["OMP_WAIT_POLICY"] = preset
    code = "import os, hyperspy_cnmf.core.kernels; print(os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == (preset or "PASSIVE"), out.stderr


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32])
def test_counts_statistics_are_numpys(dtype):
    X = counts(dtype)
    X[3] = 0  # an empty row, and zeros for 0 log 0
    keep = rng.random(X.shape[1]) > 0.3
    rows, cols, low, high, squares, x_log_x = kernels.counts_statistics(X, keep)
    kept = X[:, keep].astype(np.float64)
    np.testing.assert_array_equal(rows, kept.sum(axis=1))
    np.testing.assert_array_equal(cols[keep], kept.sum(axis=0))
    assert not cols[~keep].any()
    assert (low, high, squares) == (kept.min(), kept.max(), (kept**2).sum())
    positive = kept[kept > 0]
    assert x_log_x == pytest.approx((positive * np.log(positive)).sum(), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32])
@pytest.mark.parametrize("to", [np.float32, np.float64])
def test_as_float_is_astype(dtype, to):
    X = counts(dtype)
    out = kernels.as_float(X, to)
    assert out.dtype == to and out is not X
    np.testing.assert_array_equal(out, X.astype(to))
    strided = X[:, ::2]  # not C-contiguous: numpy's cast
    np.testing.assert_array_equal(kernels.as_float(strided, to), strided.astype(to))

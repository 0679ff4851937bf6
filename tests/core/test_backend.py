"""One backend per fit: resolved from the data, handed to the constraints.

The cupy path cannot run without a GPU; a "spy" backend built from numpy
and scipy, under another name, takes the same route (sparse matrices moved
with ``backend.sparse``, convolutions from ``backend.ndimage``) and must
give the numpy backend's results.
"""

import types

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage
import scipy.sparse

from hyperspy_cnmf.core import Backend, GaussianSmoothing, Geometry, RadialContinuity
from hyperspy_cnmf.core.backend import NUMPY, as_float, get_backend, is_dask, to_host


def spy_backend(calls):
    """numpy/scipy under another name, recording what the constraints use."""

    def recorded(module, name):
        function = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls.append(name)
            return function(*args, **kwargs)

        return wrapper

    sparse = types.SimpleNamespace(csr_matrix=recorded(scipy.sparse, "csr_matrix"))
    ndimage = types.SimpleNamespace(
        convolve1d=recorded(scipy.ndimage, "convolve1d"),
        convolve=recorded(scipy.ndimage, "convolve"),
    )
    return Backend("spy", np, ndimage, sparse)


@pytest.mark.parametrize(
    "make", [np.zeros, lambda shape: da.zeros(shape, chunks=2)], ids=["numpy", "dask"]
)
def test_numpy_and_dask_data_resolve_to_the_numpy_backend(make):
    assert get_backend(make((4, 3))) is NUMPY


def test_is_dask_and_to_host():
    x = da.arange(6, chunks=3)
    assert is_dask(x) and not is_dask(np.arange(6))
    np.testing.assert_array_equal(to_host(x), np.arange(6))


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        ([1, 2], np.uint16, np.float32),
        ([1, 2], np.int32, np.float32),
        ([1, 2**25], np.int64, np.float64),
        ([True, False], np.bool_, np.float32),
        ([1.5, 2.5], np.float16, np.float32),
        ([1.5, 2.5], np.float32, np.float32),
        ([1.5, 2.5], np.float64, np.float64),
    ],
)
def test_as_float_keeps_integers_compact_and_exact(values, dtype, expected):
    x = np.asarray(values, dtype=dtype)
    out = as_float(x)
    assert out.dtype == expected
    np.testing.assert_array_equal(out, x.astype(np.float64))


def test_as_float_refuses_complex_naming_the_fix():
    with pytest.raises(TypeError, match="modulus"):
        as_float(np.ones(3, dtype=np.complex64))


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.uniform(size=(3, 24, 20)).astype(np.float32)


def test_radial_continuity_moves_its_operators_through_the_backend(images):
    geometry = Geometry(signal_shape=(24, 20), navigation_shape=(3,))
    calls = []
    expected = RadialContinuity()(images, geometry.context("factors"))
    got = RadialContinuity()(images, geometry.context("factors", spy_backend(calls)))
    assert "csr_matrix" in calls  # the sparse operators went to the backend
    # numpy's route is the numba kernels': the same sums in another order
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_gaussian_smoothing_convolves_with_the_backend(images):
    geometry = Geometry(signal_shape=(3,), navigation_shape=(24, 20))
    calls = []
    expected = GaussianSmoothing()(images, geometry.context("loadings"))
    got = GaussianSmoothing()(images, geometry.context("loadings", spy_backend(calls)))
    assert calls.count("convolve1d") >= 2  # one per map axis
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_context_xp_is_the_backends_array_module():
    context = Geometry.flat(4, 3).context("factors", NUMPY)
    assert context.backend is NUMPY and context.xp is np

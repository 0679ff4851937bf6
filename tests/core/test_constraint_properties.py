"""Properties of the built-in constraints on random small images (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hyperspy_cnmf.core import GaussianSmoothing, RadialContinuity
from hyperspy_cnmf.core.geometry import Geometry

values = st.floats(0, 100, allow_nan=False, width=64)


def images(shape):
    return arrays(np.float64, (2, *shape), elements=values)


def context(shape, role):
    sig, nav = (shape, (3, 3)) if role == "factors" else ((5, 5), shape)
    return Geometry(signal_shape=sig, navigation_shape=nav).context(role)


@settings(max_examples=25, deadline=None)
@given(images((9, 11)))
def test_radial_continuity_never_lowers_never_nan(x):
    out = RadialContinuity(n_azimuthal=32)(x, context((9, 11), "factors"))
    assert out.shape == x.shape
    assert np.isfinite(out).all() and (out >= 0).all()
    assert (out >= x - 1e-9).all()


@settings(max_examples=25, deadline=None)
@given(images((7, 8)))
def test_smoothing_nonnegative_finite_shape(x):
    out = GaussianSmoothing()(x, context((7, 8), "loadings"))
    assert out.shape == x.shape
    assert np.isfinite(out).all() and (out >= 0).all()


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, (1, 3, 4), elements=values))
def test_smoothing_keeps_the_total_of_an_interior_map(core):
    x = np.zeros((1, 9, 10))
    x[:, 3:6, 3:7] = core  # two pixels from every edge: the kernel stays inside
    out = GaussianSmoothing()(x, context((9, 10), "loadings"))
    np.testing.assert_allclose(out.sum(), x.sum(), rtol=1e-9, atol=1e-9)

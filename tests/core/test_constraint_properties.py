"""Properties of the built-in constraints on random small images (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hyperspy_cnmf.core import GaussianSmoothing, RadialContinuity, SpectralContinuity
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


def spectral_context(n, mask=None):
    return Geometry(
        signal_shape=(n,), navigation_shape=(3, 3), signal_mask=mask
    ).context("factors")


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (3, 64), elements=values))
def test_spectral_continuity_raises_only_never_negative_keeps_shape(x):
    out = SpectralContinuity(width=16)(x, spectral_context(64))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert np.isfinite(out).all() and (out >= 0).all()
    assert (out >= x).all()


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (2, 64), elements=values))
def test_spectral_continuity_keeps_peaks(x):
    """Channels at or above their baseline (the peaks) come back unchanged."""
    constraint = SpectralContinuity(width=16)
    context = spectral_context(64)
    base, _ = constraint.baseline(x, context)
    out = constraint(x, context)
    above = x >= base
    np.testing.assert_array_equal(out[above], x[above])
    # the largest value of each spectrum is never touched
    rows = np.arange(x.shape[0])
    top = x.argmax(axis=1)
    # (to rounding: a flat spectrum is its own baseline)
    np.testing.assert_allclose(out[rows, top], x[rows, top], rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    arrays(np.float64, (2, 48), elements=values),
    st.floats(0.01, 100, allow_nan=False),
)
def test_spectral_continuity_scale_equivariant_and_masks_honoured(x, c):
    mask = np.zeros(48, bool)
    mask[5:9] = True
    context = spectral_context(48, mask)
    constraint = SpectralContinuity(width=12)
    out = constraint(x, context)
    np.testing.assert_allclose(
        constraint(c * x, context), c * out, rtol=1e-6, atol=1e-9
    )
    np.testing.assert_array_equal(out[:, mask], x[:, mask])
